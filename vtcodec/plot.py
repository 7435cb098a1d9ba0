"""RD plots of ``vtcodec rd`` results with matplotlib (imported only here, Agg backend)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .errors import VtcError
from .rd import METRICS, curves

LABELS = {"psnr-y": "PSNR-Y (dB)", "psnr-yuv": "PSNR-YUV 6:1:1 (dB)", "psnr-rgb": "PSNR-RGB (dB)",
          "ssim-y": "SSIM-Y", "ssim-rgb": "SSIM-RGB", "msssim-y": "MS-SSIM-Y",
          "msssim-rgb": "MS-SSIM-RGB", "lpips": "LPIPS-Alex (lower is better)", "vmaf": "VMAF (v0.6.1)"}


def average_curves(rows: list[dict], metric: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per curve, bpp and metric averaged over the clips, at the quality settings every clip has."""
    groups = curves(rows)
    clips = sorted({c for c, _ in groups})
    out = {}
    for name in sorted({n for _, n in groups}):
        per_clip = [{r["quality"]: r for r in groups.get((c, name), [])} for c in clips]
        common = set.intersection(*(set(p) for p in per_clip)) if per_clip else set()
        qs = sorted(common, key=lambda q: np.mean([p[q]["bpp"] for p in per_clip]))
        if qs and all(p[q].get(metric) is not None for p in per_clip for q in qs):
            out[name] = (np.array([np.mean([p[q]["bpp"] for p in per_clip]) for q in qs]),
                         np.array([np.mean([p[q][metric] for p in per_clip]) for q in qs]))
    return out


def plot(rows: list[dict], metric: str, output: str, average: bool = False, logx: bool = False) -> Path:
    if metric not in METRICS:
        raise VtcError(f"unknown metric {metric!r} (known: {', '.join(METRICS)})")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if average:
        panels = {"average over " + ", ".join(sorted({r["clip"] for r in rows})): average_curves(rows, metric)}
    else:
        panels = {}
        for (clip, name), pts in curves(rows).items():
            if all(p.get(metric) is not None for p in pts):
                panels.setdefault(clip, {})[name] = (np.array([p["bpp"] for p in pts]),
                                                     np.array([p[metric] for p in pts]))
    panels = {k: v for k, v in panels.items() if v}
    if not panels:
        raise VtcError(f"no {metric} values in these results")
    cols = min(3, len(panels))
    rows_n = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(5 * cols, 4 * rows_n), squeeze=False)
    for ax, (title, lines) in zip(axes.flat, sorted(panels.items()), strict=False):
        for name, (x, y) in sorted(lines.items()):
            ax.plot(x, y, marker="o", label=name)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("bits per pixel")
        ax.set_ylabel(LABELS[metric])
        if logx:
            from matplotlib.ticker import FormatStrFormatter, NullFormatter

            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.tight_layout()
    out = Path(output)
    tmp = out.with_name(out.name + ".part")
    try:
        fig.savefig(tmp, dpi=120, format=out.suffix.lstrip(".") or "png")
        tmp.replace(out)
    except (OSError, ValueError) as exc:
        tmp.unlink(missing_ok=True)
        raise VtcError(f"{output}: cannot write ({exc})") from None
    finally:
        plt.close(fig)
    return out
