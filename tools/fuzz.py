"""A long fuzz run of the .vtc decoder, through the command line's file path by default.

Inputs are mutations of the conformance vectors, made from the spec's structure (bitstream/): any
header field with its CRC fixed, chunk heads and payloads with lengths and CRCs fixed, index and
end chunks rewritten, chunks dropped, duplicated, swapped or spliced from another stream, words
added to or cut from a payload, files truncated. Each input is written to a file and run as a
``vtcodec`` command in this process (``vtcodec.cli.main.main``, so argument handling, error lines
and exit codes are the real ones): ``decode`` to every writer (.y4m, .mkv, .mp4, a PNG folder),
with and without ``-f``, ``--conceal`` and ``--start/--frames``, or ``info``.

Counted per input: ``decoded`` (exit 0), ``rejected`` (exit 1 with one ``vtcodec: error:`` line),
``crash`` (an internal error, a traceback, any other exit, or a temporary file left behind),
``hang`` (over the time limit), ``unbounded`` (more output than the data accounts for: frames
beyond the work limit's bound for the input's size, see SPEC.md "Decoder limits"). The workers run
under an address-space limit; their peak RSS is reported. Exit status 1 unless crashes, hangs and
unbounded outputs are all 0.

    python tools/fuzz.py --inputs 100000 --workers 2 --seed 1        # the CLI file path
    python tools/fuzz.py --inputs 100000 --target stream              # the in-memory Decoder
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import multiprocessing as mp
import random
import resource
import shutil
import signal
import struct
import sys
import tempfile
import time
import traceback
from pathlib import Path
from queue import Empty

from vtcodec.bitstream import (
    CHUNK_END,
    CHUNK_FRAMES,
    CHUNK_INDEX,
    FIELDS,
    SCALE_MIN,
    Chunk,
    IndexEntry,
    chunk_spans,
    end_chunk,
    index_chunk,
    parse_head,
    payload_of,
    read_header,
    set_field,
    set_head_field,
)
from vtcodec.bitstream.header import CRC, FIXED, PREFIX

import vtcodec
from vtcodec.codec import frames_bound

VECTORS = Path(__file__).resolve().parent.parent / "conformance" / "vectors"
SYMBOLS = {"vt1-bsq-tiny": 3, "vt1-fsq": 4}  # symbol channels of the bundled models
MEMORY_LIMIT = 6 << 30  # bytes of address space per worker


class Hang(BaseException):
    pass


def _alarm(*_):
    raise Hang


# ------------------------------------------------------------------------------------ mutation
def spans_of(data: bytes) -> tuple[int, list[tuple[int, int]]]:
    """(header size, chunk spans) of a stream whose header frames correctly."""
    hsize = PREFIX.size + PREFIX.unpack_from(data, 0)[3] + CRC.size
    return hsize, chunk_spans(data, hsize)


def kind_at(data: bytes, offset: int) -> int:
    return parse_head(data[offset:offset + 15]).kind


INTERESTING = [0, 1, 2, 3, 7, 8, 9, 15, 16, 31, 32, 63, 64, 95, 96, 127, 128, 143, 144, 145, 255, 256,
               1023, 1024, 1025, 4095, 4096, 16383, 16384, 65535, 65536, 2**20, 2**26, 2**31 - 1, 2**31,
               2**32 - 2, 2**32 - 1]


def mutate(rng: random.Random, seeds: list[bytes]) -> bytes:
    seed = rng.choice(seeds)
    try:
        return _mutate(rng, seeds, bytearray(seed))
    except (struct.error, vtcodec.VtcError, ValueError, IndexError):  # a seed already mangled by a splice
        return seed


def _mutate(rng: random.Random, seeds: list[bytes], data: bytearray) -> bytes:
    hsize, spans = spans_of(bytes(data))
    how = rng.random()
    if how < 0.12:  # flip bytes anywhere
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif how < 0.20:  # truncate
        data = data[:rng.randrange(len(data) + 1)]
    elif how < 0.28:  # splice two streams at chunk boundaries or anywhere
        other = rng.choice(seeds)
        cut = rng.choice([s for s, _ in spans] or [len(data)]) if rng.random() < 0.5 else rng.randrange(len(data) + 1)
        data = data[:cut] + other[rng.randrange(len(other) + 1):]
    elif how < 0.38:  # drop / duplicate / swap chunks
        parts = [bytes(data[s:s + n]) for s, n in spans]
        if parts:
            op = rng.randrange(3)
            i = rng.randrange(len(parts))
            if op == 0:
                del parts[i]
            elif op == 1:
                parts.insert(rng.randrange(len(parts) + 1), parts[i])
            else:
                j = rng.randrange(len(parts))
                parts[i], parts[j] = parts[j], parts[i]
            data = bytearray(bytes(data[:hsize]) + b"".join(parts))
    elif how < 0.55:  # a payload changed, its CRC fixed: reaches the entropy decoder and the model
        if spans:
            s, n = rng.choice(spans)
            op = rng.randrange(4)
            payload = bytearray(payload_of(data, s))
            head = parse_head(data[s:s + 15])
            kind, first, count = head.kind, head.first_frame, head.n_frames
            if op == 0 and payload:
                for _ in range(rng.randint(1, 4)):
                    payload[rng.randrange(len(payload))] = rng.randrange(256)
            elif op == 1:  # words added
                payload += rng.randbytes(4 * rng.randint(1, 4))
            elif op == 2 and len(payload) > 4:  # words cut
                payload = payload[:max(1, len(payload) - 4 * rng.randint(1, 4))]
            else:  # the scale index
                if payload:
                    payload[0] = rng.choice([0, SCALE_MIN - 1, SCALE_MIN, 128, 144, 145, 255])
            data = data[:s] + Chunk(first, count, bytes(payload), kind).pack() + data[s + n:]
    elif how < 0.70:  # a chunk head field, CRC fixed
        if spans:
            s, _ = rng.choice(spans)
            field = rng.choice(["kind", "first_frame", "n_frames"])
            value = rng.choice([0, 1, 2, 3, 7, 255]) if field == "kind" else rng.choice(INTERESTING)
            set_head_field(data, s, field, value)
    elif how < 0.80:  # the index or the end chunk rewritten, CRC-valid
        entries = []
        for s, _ in spans:
            head = parse_head(data[s:s + 15])
            if head.kind == CHUNK_FRAMES:
                entries.append(IndexEntry(head.first_frame, head.n_frames, s))
        if entries and rng.random() < 0.7:
            i = rng.randrange(len(entries))
            e = entries[i]
            entries[i] = IndexEntry(e.first_frame + rng.choice([0, 0, 1, -1]), e.n_frames + rng.choice([0, 1, -1]),
                                    max(0, e.offset + rng.choice([0, 1, -1, 15, 1 << 20])))
            entries = [x for x in entries if x.n_frames > 0 and x.first_frame >= 0]
        tail_at = next((s for s, _ in spans if kind_at(data, s) in (CHUNK_INDEX, CHUNK_END)), len(data))
        body = bytes(data[:tail_at])
        index = index_chunk(entries).pack()
        end = end_chunk(rng.choice([len(body), len(body), 0, hsize, len(body) + 1])).pack()
        data = bytearray(body + rng.choice([index + end, index, end, end + index, index + index + end]))
    else:  # header fields, CRC fixed (each may be out of the spec's range)
        for _ in range(rng.randint(1, 3)):
            name = rng.choice(list(FIELDS))
            if FIELDS[name][1] == "<B":
                value = rng.choice([0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 255])
            elif name == "body_len":
                value = rng.choice([0, FIXED.size, 60, 200, 65535])
            else:
                value = rng.choice(INTERESTING)
            set_field(data, name, value)
    return bytes(data)


# --------------------------------------------------------------------------------- commands
def command(rng: random.Random, src: Path, out: Path) -> tuple[list[str], Path | None]:
    if rng.random() < 0.1:
        return ["info", str(src)], None
    target = out / rng.choice(["o.y4m", "o.mkv", "o.mp4", "frames/"])
    argv = ["decode", str(src), "-o", str(target)]
    if rng.random() < 0.3:
        argv.append("--conceal")
    elif rng.random() < 0.3:
        argv += ["--start", str(rng.choice([0, 1, 2, 3, 5, 7, 40, -1]))]
        if rng.random() < 0.7:
            argv += ["--frames", str(rng.choice([1, 2, 3, 10, 0, -2]))]
    if rng.random() < 0.2:
        argv.append("-f")
    return argv, target


def frame_bound(data: bytes) -> tuple[int, int] | None:
    """(most frames, pixels per frame) that a stream of this size may produce (the decoder's work
    limit, ``vtcodec.codec.frames_bound``), from its header."""
    try:
        h = read_header(io.BytesIO(data))
    except vtcodec.VtcError:
        return None
    return frames_bound(h, SYMBOLS.get(h.model, 1), len(data)), h.width * h.height


def size_of(path: Path | None) -> int:
    if path is None or not path.exists():
        return 0
    if path.is_dir():
        return sum(p.stat().st_size for p in path.iterdir())
    return path.stat().st_size


def run_cli(argv: list[str], limit: float) -> tuple[int, str]:
    from vtcodec.cli.main import main

    err = io.StringIO()
    sys.argv = ["vtcodec", *argv]
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return code, err.getvalue()


def worker(index: int, n: int, seed: int, limit: float, target: str, queue) -> None:
    import torch

    torch.set_num_threads(1)
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    signal.signal(signal.SIGALRM, _alarm)
    seeds = [p.read_bytes() for g in ("valid", "uncommon", "legacy-v1") for p in sorted((VECTORS / g).glob("*.vtc"))
             if p.stat().st_size < 4000 and not p.name.startswith(("01-fsq", "15-quality"))]
    rng = random.Random(seed * 1000 + index)
    counts = {"decoded": 0, "rejected": 0, "crash": 0, "hang": 0, "unbounded": 0}
    biggest = {"output_bytes": 0, "input_bytes": 0, "frames_bound": 0}
    work = Path(tempfile.mkdtemp(prefix=f"vtc-fuzz-{index}-"))
    t0 = time.time()
    for i in range(n):
        data = mutate(rng, seeds)
        src = work / "in.vtc"
        src.write_bytes(data)
        out = work / "out"
        out.mkdir(exist_ok=True)
        if target == "stream":
            argv, dst = ["<Decoder>"], None
            signal.setitimer(signal.ITIMER_REAL, limit)
            try:
                dec = vtcodec.Decoder()
                dec.decode(data)
                dec.flush()
                code, err = 0, ""
            except vtcodec.VtcError as exc:
                code, err = 1, f"vtcodec: error: {exc}\n"
            except Hang:
                code, err = -1, "hang"
            except Exception:  # noqa: BLE001 - a crash, reported below
                code, err = 2, "internal error\n" + traceback.format_exc(limit=4)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        else:
            argv, dst = command(rng, src, out)
            try:
                code, err = run_cli(argv, limit)
            except Hang:
                code, err = -1, "hang"
            except BaseException:  # noqa: BLE001 - anything escaping main() is a crash
                code, err = 2, "internal error\n" + traceback.format_exc(limit=4)
        lines = [ln for ln in err.splitlines() if ln.strip()]
        left = [p.name for p in out.iterdir() if p.name.startswith(".")]
        written = size_of(dst)
        if code == -1:
            verdict = "hang"
        elif code == 0 and "internal error" not in err:
            verdict = "decoded"
        elif code == 1 and lines and lines[-1].startswith("vtcodec: error:") and "internal error" not in err:
            verdict = "rejected"
        else:
            verdict = "crash"
        if left:
            verdict = "crash"
            err += f"\nleft behind: {left}"
        bound = frame_bound(data)
        if written and bound is not None:
            frames, pixels = bound
            if written > 1.5 * 3 * pixels * frames + (1 << 16):
                verdict = "unbounded"
                err += f"\noutput {written} bytes, bound {frames} frames of {pixels} pixels"
            if written > biggest["output_bytes"]:
                biggest = {"output_bytes": written, "input_bytes": len(data), "frames_bound": frames}
        counts[verdict] += 1
        if verdict in ("crash", "hang", "unbounded"):
            keep = work.parent / f"vtc-fuzz-{verdict}-{seed}-{index}-{i}.vtc"
            keep.write_bytes(data)
            queue.put(("problem", index, f"{verdict.upper()} on input {i} ({keep}): {' '.join(argv)}\n{err[-1500:]}"))
        shutil.rmtree(out, ignore_errors=True)
        if (i + 1) % 1000 == 0 or i + 1 == n:
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            queue.put(("progress", index, {**counts, "inputs": i + 1, "seconds": round(time.time() - t0),
                                           "max_rss_mb": rss // 1024, "largest_output": biggest}))
    shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--time-limit", type=float, default=30.0, help="seconds per input")
    ap.add_argument("--target", choices=("cli", "stream"), default="cli")
    ap.add_argument("--json", help="write the final counts here")
    args = ap.parse_args()
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    per = [args.inputs // args.workers + (i < args.inputs % args.workers) for i in range(args.workers)]
    procs = [ctx.Process(target=worker, args=(i, per[i], args.seed, args.time_limit, args.target, queue))
             for i in range(args.workers)]
    for p in procs:
        p.start()
    latest: dict[int, dict] = {}
    t0 = time.time()
    while any(p.is_alive() for p in procs) or not queue.empty():
        try:
            kind, index, payload = queue.get(timeout=5)
        except Empty:
            continue
        if kind == "problem":
            print(payload, file=sys.stderr, flush=True)
            continue
        latest[index] = payload
        total = {k: sum(v[k] for v in latest.values()) for k in ("inputs", "decoded", "rejected", "crash", "hang", "unbounded")}
        print(json.dumps({**total, "seconds": round(time.time() - t0),
                          "max_rss_mb": max(v["max_rss_mb"] for v in latest.values())}), flush=True)
    for p in procs:
        p.join()
    dead = [p.exitcode for p in procs if p.exitcode]
    total = {k: sum(v[k] for v in latest.values()) for k in ("inputs", "decoded", "rejected", "crash", "hang", "unbounded")}
    summary = {**total, "target": args.target, "seconds": round(time.time() - t0), "workers_died": dead,
               "max_rss_mb": max((v["max_rss_mb"] for v in latest.values()), default=0),
               "largest_output": max((v["largest_output"] for v in latest.values()),
                                     key=lambda b: b["output_bytes"], default={})}
    print(json.dumps(summary))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1) + "\n")
    sys.exit(1 if total["crash"] or total["hang"] or total["unbounded"] or dead or total["inputs"] < args.inputs else 0)


if __name__ == "__main__":
    main()
