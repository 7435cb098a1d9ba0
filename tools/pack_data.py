"""Pack a training set for a remote (GPU) run: decode each clip with the training loader's rules
(halve clips whose shorter side is >= --downscale-min-side, at most --max-frames frames) and
re-encode it with x264 at a high quality (CRF --crf), so the pack is small enough to travel.

Train on the pack with ``downscale_min_side = 0`` (it is already scaled).

    python tools/pack_data.py ../shared/data/train -o .gpudata/train
"""

import argparse
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vtcodec.train.data import find_videos, load_clip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", nargs="+")
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--downscale-min-side", type=int, default=480)
    ap.add_argument("--max-frames", type=int, default=400)
    ap.add_argument("--crf", type=int, default=14)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for path in find_videos(args.data):
        frames = load_clip(path, args.downscale_min_side, args.max_frames)
        t, h, w, _ = frames.shape
        h2, w2 = h // 2 * 2, w // 2 * 2
        dst = out / (path.stem + ".mp4")
        with av.open(str(dst), "w") as c:
            s = c.add_stream("libx264", rate=Fraction(25))
            s.width, s.height, s.pix_fmt = w2, h2, "yuv444p"
            s.options = {"crf": str(args.crf), "preset": "medium"}
            for f in frames:
                vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f[:h2, :w2]), format="rgb24")
                for p in s.encode(vf.reformat(format="yuv444p")):
                    c.mux(p)
            for p in s.encode():
                c.mux(p)
        print(f"{dst}: {t} frames {w2}x{h2}, {dst.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
