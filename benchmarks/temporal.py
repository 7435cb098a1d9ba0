"""Issue 15's ablation: the same model family with and without the temporal state.

    python benchmarks/temporal.py INTRA_MODEL STATE_MODEL CLIP [CLIP ...] [--frames 32]
        [--qualities 3,5,7,8,10] [--out rd-temporal] [--jobs 1]

Both models are measured with ``vtcodec rd``'s machinery (one chunk of the first ``--frames``
frames per clip, default preset, points cached in ``--out``). The default qualities leave out
quality 1 (level 0): in the issue-15 ablation models it collapsed to a flat picture (about 11 dB
PSNR-RGB on every clip, both arms), and a BD-rate through such a point measures nothing. Prints,
per clip:

* BD-rate of the state model against the intra one on PSNR-RGB and MS-SSIM-RGB (negative: the
  state saves bits), and their averages over all clips and over the clips with motion
  (``--motion``: name fragments);
* at ``--quality`` (default 6): each model's bits of the later frames of the chunk as a fraction of
  its first frame's (the prior's -log2 p, which the range coder meets within 0.1%), beside the
  PSNR-RGB of the first frame and of the later ones: for the state model the later frames should
  cost less, or look better, than the intra model's.

The results (``results.json`` of both models) stay in ``--out`` for ``vtcodec bd`` and plots.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from vtcodec import codec, rd
from vtcodec.metrics import psnr
from vtcodec.video import read_video
from vtcodec.zoo import register_model

MOTION = ("ciscovt2people", "reds", "vid4_walk", "carphone")


def frame_costs(model: str, src: np.ndarray, quality: int) -> tuple[np.ndarray, np.ndarray]:
    """Bits and PSNR-RGB of each frame of ``src`` coded as one chunk at ``quality``."""
    if Path(model).is_dir():  # so that streams naming it decode
        register_model(model)
    t, h, w, _ = src.shape
    tokens: list = []  # the chunk's symbols as coded: priced below, so the clip is encoded once
    with codec.Encoder(w, h, quality=quality, model=model, gop=t, tokens_out=tokens) as enc:
        data = b"".join(enc.encode(f) for f in src) + enc.flush()
        bits = enc.coder.frame_bits(tokens[0], enc.ladder.rung(enc.ladder.quality(quality))[1])
    head = enc.header_bytes()  # with the frame count, as codec.compress writes it
    out = codec.decompress(head + data[len(head):])
    return bits, np.array([psnr(a, b) for a, b in zip(src, out, strict=True)])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("intra")
    ap.add_argument("state")
    ap.add_argument("clips", nargs="+")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--qualities", default="3,5,7,8,10")
    ap.add_argument("--quality", type=int, default=6)
    ap.add_argument("--out", default="rd-temporal")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--motion", default=",".join(MOTION))
    args = ap.parse_args()
    qs = [int(q) for q in args.qualities.split(",")]
    rows = []
    for model in (args.intra, args.state):
        jobs, skipped = rd.plan(args.clips, ["vtcodec"], {"vtcodec": qs}, args.frames, model=model, lpips=False)
        for line in skipped:
            print(line)
        got = rd.Sweep(jobs, Path(args.out) / Path(model).name, args.jobs).run()
        rd.write_results(got, Path(args.out) / Path(model).name)
        rows += got
    (Path(args.out) / "results.json").write_text(json.dumps(rows, indent=1))
    names = rd.curve_names(rows)
    anchor = names[("vtcodec", rd.Job("", "vtcodec", 1, model=args.intra).settings())]
    table = rd.bd_table(rows, anchor=anchor, metrics=("psnr-rgb", "msssim-rgb"))
    motion = args.motion.split(",")
    print(f"BD-rate of {args.state} against {args.intra} ({args.frames} frames, one chunk, default preset):")
    print(f"{'clip':40s} {'PSNR-RGB':>9s} {'MS-SSIM-RGB':>12s}")
    by = {(r["clip"], r["metric"]): r for r in table}
    clips = sorted({r["clip"] for r in table if r["clip"] != "average"})

    def cell(r: dict | None) -> str:
        return "-" if r is None or r["bd_rate"] is None else f"{r['bd_rate']:+.1f}%"

    for clip in clips:
        print(f"{Path(clip).name:40s} {cell(by.get((clip, 'psnr-rgb'))):>9s} {cell(by.get((clip, 'msssim-rgb'))):>12s}"
              + "".join(f"  ({by[(clip, m)]['note']})" for m in ("psnr-rgb", "msssim-rgb")
                        if (clip, m) in by and by[(clip, m)]["note"]))
    for label, keep in (("average, all clips", clips), ("average, clips with motion",
                                                         [c for c in clips if any(m in c for m in motion)])):
        cells = []
        for metric in ("psnr-rgb", "msssim-rgb"):
            vals = [by[(c, metric)]["bd_rate"] for c in keep if by.get((c, metric)) and by[(c, metric)]["bd_rate"] is not None]
            cells.append(f"{np.mean(vals):+.1f}%" if vals else "-")
        print(f"{label:40s} {cells[0]:>9s} {cells[1]:>12s}")
    print(f"\nLater frames' bits / first frame's, quality {args.quality} (PSNR-RGB first / later frames):")
    for clip in args.clips:
        src, _ = read_video(rd.resolve_input(clip), args.frames)
        parts = []
        for model in (args.intra, args.state):
            bits, p = frame_costs(model, src, args.quality)
            later = bits[1:].mean() / bits[0] if len(bits) > 1 else float("nan")
            parts.append(f"{Path(model).name}: {later:.3f} ({p[0]:.2f} / {p[1:].mean():.2f} dB)")
        print(f"{Path(clip).name:40s} " + "   ".join(parts))


if __name__ == "__main__":
    main()
