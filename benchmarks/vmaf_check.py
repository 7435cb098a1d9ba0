"""VMAF of x264 and x265 on a clip, by vtcodec (vmaf-torch) and by libvmaf, side by side.

    python benchmarks/vmaf_check.py ../shared/data/dev/vid4_walk_720x480.mkv --vmaf PATH/TO/vmaf \\
        --model PATH/TO/vmaf_v0.6.1.json --frames 20

``--vmaf``: libvmaf's command-line tool (built from Netflix/vmaf: ``meson setup build
-Denable_asm=false && ninja -C build``, then ``build/tools/vmaf``); without it only vtcodec's
numbers are printed. Both read the same 8-bit 4:2:0 planes: the source's, and each anchor's
decoded output (x264 at CRF 30, x265 at CRF 32, preset medium, unless given). Prints a table and
JSON: bytes, kb/s, VMAF by each implementation, and their largest per-frame difference.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import tempfile
from pathlib import Path

import av
import numpy as np

from vtcodec.vmaf import vmaf_frames


def planes(frame: av.VideoFrame) -> list[np.ndarray]:
    w, h = frame.width, frame.height
    sizes = [(w, h), ((w + 1) // 2, (h + 1) // 2), ((w + 1) // 2, (h + 1) // 2)]
    return [np.frombuffer(p, np.uint8).reshape(-1, p.line_size)[:ph, :pw] for p, (pw, ph) in zip(frame.planes, sizes)]


def write_yuv(path: Path, frames: list[av.VideoFrame]) -> None:
    with open(path, "wb") as out:
        for f in frames:
            out.writelines(np.ascontiguousarray(plane).tobytes() for plane in planes(f))


def code(frames: list[av.VideoFrame], codec: str, crf: int, fps: int = 25) -> tuple[int, list[av.VideoFrame]]:
    buf = io.BytesIO()
    with av.open(buf, "w", format="matroska") as out:
        s = out.add_stream(codec, rate=fps)
        s.width, s.height, s.pix_fmt = frames[0].width, frames[0].height, "yuv420p"
        s.options = {"crf": str(crf), "preset": "medium"}
        if codec == "libx265":
            s.options |= {"x265-params": "log-level=error"}
        for i, f in enumerate(frames):
            g = av.VideoFrame.from_ndarray(f.to_ndarray(), format="yuv420p")
            g.pts = i
            for p in s.encode(g):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    size = len(buf.getvalue())
    buf.seek(0)
    with av.open(buf) as c:
        return size, [f.reformat(format="yuv420p") for f in c.decode(video=0)]


def libvmaf(tool: str, model: str, ref: Path, dist: Path, w: int, h: int, tmp: Path) -> np.ndarray:
    out = tmp / "libvmaf.json"
    subprocess.run([tool, "-r", str(ref), "-d", str(dist), "-w", str(w), "-h", str(h), "-p", "420", "-b", "8",
                    "--json", "-o", str(out), "-q", "--model", f"path={model}"], check=True)
    return np.array([fr["metrics"]["vmaf"] for fr in json.loads(out.read_text())["frames"]])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clip")
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--vmaf", help="libvmaf's vmaf tool")
    ap.add_argument("--model", help="vmaf_v0.6.1.json, for --vmaf")
    ap.add_argument("--x264-crf", type=int, default=30)
    ap.add_argument("--x265-crf", type=int, default=32)
    args = ap.parse_args()
    with av.open(args.clip) as c:
        src = []
        for f in c.decode(video=0):
            src.append(f.reformat(format="yuv420p"))
            if len(src) >= args.frames:
                break
    w, h = src[0].width, src[0].height
    ref_y = np.stack([planes(f)[0] for f in src])
    rows = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        write_yuv(tmp / "ref.yuv", src)
        for name, codec, crf in (("x264", "libx264", args.x264_crf), ("x265", "libx265", args.x265_crf)):
            size, dec = code(src, codec, crf)
            ours = vmaf_frames(ref_y, np.stack([planes(f)[0] for f in dec]))
            row = {"codec": name, "crf": crf, "bytes": size, "kbps": size * 8 / (len(src) / 25) / 1000,
                   "vmaf_vtcodec": float(ours.mean())}
            if args.vmaf:
                write_yuv(tmp / "dist.yuv", dec)
                ref = libvmaf(args.vmaf, args.model, tmp / "ref.yuv", tmp / "dist.yuv", w, h, tmp)
                row |= {"vmaf_libvmaf": float(ref.mean()), "max_frame_diff": float(np.abs(ref - ours).max())}
            rows.append(row)
    print(f"{Path(args.clip).name}, {len(src)} frames {w}x{h}")
    for r in rows:
        lib = f"  libvmaf {r['vmaf_libvmaf']:.3f}  max frame diff {r['max_frame_diff']:.3f}" if "vmaf_libvmaf" in r else ""
        print(f"{r['codec']} crf {r['crf']}: {r['bytes']} bytes ({r['kbps']:.0f} kb/s)  vtcodec {r['vmaf_vtcodec']:.3f}{lib}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
