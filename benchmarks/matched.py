"""Bits for the anchor's quality (``vtcodec.rd.matched_rate``), as geometric means over chosen
clips and qualities of one vtcodec curve: what `vtcodec bd` reports for every point of a curve,
split so that a part of the ladder (e.g. a layered model's qualities 11-16) can be read alone.

    python benchmarks/matched.py runs/rd-base runs/rd-v2s --curve "vtcodec" --qualities 11-16 \
        --clips foreman,ciscovt2people,reds,vid4 --metric psnr-rgb --metric msssim-rgb
"""

from __future__ import annotations

import argparse

import numpy as np

from vtcodec.rd import curves, join_results, matched_rate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("results", nargs="+", help="results files or rd folders (joined, the last wins)")
    ap.add_argument("--curve", default="vtcodec", help="the curve's name, as `vtcodec bd` shows it")
    ap.add_argument("--anchor", default="x264")
    ap.add_argument("--metric", action="append", default=None)
    ap.add_argument("--qualities", default=None, help="LO-HI: the curve's points of these qualities only")
    ap.add_argument("--clips", default=None, help="comma-separated parts of clip names (default: all)")
    args = ap.parse_args()
    groups = curves(join_results(args.results))
    lo, hi = (int(x) for x in args.qualities.split("-")) if args.qualities else (-1, 1 << 30)
    wanted = args.clips.split(",") if args.clips else None
    clips = sorted({c for c, _ in groups if wanted is None or any(w in c for w in wanted)})
    print("| metric | clip | points | bits for the anchor's quality |")
    print("|---|---|---|---|")
    for metric in args.metric or ["psnr-rgb", "msssim-rgb"]:
        every = []
        for clip in clips:
            anchor, test = groups.get((clip, args.anchor)), groups.get((clip, args.curve))
            if not anchor or not test:
                continue
            ratios = []
            for p in test:
                if lo <= int(p["quality"]) <= hi:
                    rate, _ = matched_rate(anchor, p, metric)
                    if rate is not None:
                        ratios.append(p["bpp"] / rate)
            every += ratios
            if ratios:
                print(f"| {metric} | {clip} | {len(ratios)} | {np.exp(np.mean(np.log(ratios))):.2f}x |")
        if every:
            print(f"| {metric} | all {len(clips)} | {len(every)} | {np.exp(np.mean(np.log(every))):.2f}x |")


if __name__ == "__main__":
    main()
