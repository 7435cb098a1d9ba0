"""Pack a training set for a remote (GPU) run, small enough to travel with the working tree.

Videos are decoded with the training loader's rules (halve clips whose shorter side is >=
--downscale-min-side, at most --max-frames frames) and re-encoded with x264 at a high quality
(CRF --crf, 4:4:4). Folders of consecutive frames (--sequences) become such videos too, at
their own size (``train.media.load_material`` reads video files among sequences unscaled), and
photos (--stills) JPEG files (quality --jpeg, 4:4:4), those whose shorter side is >= 1000 px
halved first as ``load_material`` would, so the pack trains like the originals.

    python tools/pack_data.py ../shared/data/train -o .gpudata/train
    python tools/pack_data.py --sequences ../shared/data/frames --stills ../shared/data/images \\
        -o .gpudata                                    # .gpudata/sequences/*.mp4, .gpudata/stills/...

Train on packed videos with ``downscale_min_side = 0`` (vt1 trainer: they are already scaled).
"""

import argparse
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def pack_videos(data: list[str], out: Path, downscale_min_side: int, max_frames: int, crf: int) -> None:
    from vtcodec.train.data import find_videos, load_clip

    for path in find_videos(data):
        write_video(load_clip(path, downscale_min_side, max_frames), out / (path.stem + ".mp4"), crf)


def write_video(frames: np.ndarray, dst: Path, crf: int) -> None:
    """RGB frames ``[T, H, W, 3]`` -> an x264 4:4:4 file at CRF ``crf`` (sides cut to even)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    t, h, w, _ = frames.shape
    h2, w2 = h // 2 * 2, w // 2 * 2
    with av.open(str(dst), "w") as c:
        s = c.add_stream("libx264", rate=Fraction(25))
        s.width, s.height, s.pix_fmt = w2, h2, "yuv444p"
        s.options = {"crf": str(crf), "preset": "medium"}
        for f in frames:
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f[:h2, :w2]), format="rgb24")
            for p in s.encode(vf.reformat(format="yuv444p")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    print(f"{dst}: {t} frames {w2}x{h2}, {dst.stat().st_size / 1e6:.2f} MB")


def pack_images(files: list[Path], root: Path, out: Path, quality: int, halve_min_side: int) -> int:
    """Each image -> ``out / its path under root`` as a JPEG; returns the bytes written."""
    from PIL import Image

    from vtcodec.train.media import load_image

    total = 0
    for f in files:
        dst = (out / f.relative_to(root)).with_suffix(".jpg")
        dst.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(load_image(f, halve_min_side)).save(dst, quality=quality, subsampling=0)
        total += dst.stat().st_size
    return total


def main() -> None:
    from vtcodec.train.media import find_sequences, find_stills, load_image

    ap = argparse.ArgumentParser()
    ap.add_argument("data", nargs="*", help="folders or files of videos")
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--downscale-min-side", type=int, default=480)
    ap.add_argument("--max-frames", type=int, default=400)
    ap.add_argument("--crf", type=int, default=14)
    ap.add_argument("--sequences", nargs="*", default=[], help="folders of frame folders -> OUT/sequences")
    ap.add_argument("--stills", nargs="*", default=[], help="folders of photos -> OUT/stills")
    ap.add_argument("--jpeg", type=int, default=92, help="JPEG quality of packed frames and photos")
    args = ap.parse_args()
    out = Path(args.out)
    if args.data:
        pack_videos(args.data, out, args.downscale_min_side, args.max_frames, args.crf)
    for root in args.sequences:
        for seq in find_sequences([root]):
            name = "_".join(seq[0].parent.relative_to(Path(root).parent).parts)
            write_video(np.stack([load_image(f) for f in seq]), out / "sequences" / f"{name}.mp4", args.crf)
    for root in args.stills:
        files = find_stills([root])
        n = pack_images(files, Path(root), out / "stills", args.jpeg, 1000)
        print(f"{out / 'stills'}: {len(files)} photos from {root}, {n / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
