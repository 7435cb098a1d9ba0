"""Speed of vtcodec next to x264 (preset medium and ultrafast) on the same frames, in the same run,
with a profile split of vtcodec's time and its coding efficiency. Prints a table, writes JSON.

    python benchmarks/speed.py ../shared/data/dev/vid4_walk_720x480.mkv \
        --sizes 176x144,640x360,1280x720 --frames 32 [--model M --quality Q] --json speed.json

The input is scaled to each size (area filter) and looped forward and backward to --frames.
vtcodec: the streaming Encoder / Decoder on RGB frames in memory (one warm-up run first), plus
the I/O a file round trip adds (reading the source .y4m, writing the decoded .y4m), timed apart.
x264: PyAV's libx264 on the same frames (YUV conversion outside the timing; the decoder is
FFmpeg's h264). Profile split: time inside the tokenizer (encoder / decoder networks and the
resampling to the coding grid), the prior (exact integer network + frequency tables), the range
coder (constriction), and the rest.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from vtcodec.models.model import ExactPrior, VTModel

from vtcodec import anchors, codec, entropy, layers, tokens
from vtcodec.video import VideoReader, VideoWriter, read_video

SPENT: dict[str, float] = defaultdict(float)
ACTIVE: set[str] = set()


def _timed(owner, name: str, bucket: str) -> None:
    fn = getattr(owner, name)

    def wrapper(*a, **kw):
        if bucket in ACTIVE:  # nested call of the same bucket: counted by the outer one
            return fn(*a, **kw)
        ACTIVE.add(bucket)
        t = time.perf_counter()
        try:
            return fn(*a, **kw)
        finally:
            SPENT[bucket] += time.perf_counter() - t
            ACTIVE.discard(bucket)

    setattr(owner, name, wrapper)


def instrument() -> None:
    _timed(ExactPrior, "logits", "prior")
    _timed(tokens.TokenCoder, "_tables", "prior")
    _timed(entropy.SymbolWriter, "write", "entropy")
    _timed(entropy.SymbolReader, "read", "entropy")
    _timed(VTModel, "reconstruct", "tokenizer")
    _timed(codec, "from_grid", "tokenizer")
    _timed(codec.ChunkCoder, "tokenize", "tokenizer")
    _timed(layers.Layered, "encode", "tokenizer")  # a layered model's enhancement layer (format 4.0)
    _timed(layers.Layered, "reconstruct", "tokenizer")


def frames_at(path: str, w: int, h: int, n: int) -> tuple[np.ndarray, object]:
    reader = VideoReader(path, size=(w, h))
    frames = list(reader)
    info = reader.info
    reader.close()
    while len(frames) < n:
        frames += frames[::-1]
    return np.stack(frames[:n]), info


def vtcodec_run(frames: np.ndarray, fps, model: str, device: str, quality: int | None = None) -> dict:
    t, h, w, _ = frames.shape
    enc = codec.Encoder(w, h, fps, model=model, device=device, quality=quality)
    data = b"".join(enc.encode(f) for f in frames[:2]) + enc.flush()  # warm-up
    dec = codec.Decoder(device=device)
    dec.decode(data)
    SPENT.clear()
    t0 = time.perf_counter()
    enc = codec.Encoder(w, h, fps, model=model, device=device, quality=quality)
    data = b"".join(enc.encode(f) for f in frames) + enc.flush()
    enc_s = time.perf_counter() - t0
    enc_split = dict(SPENT)
    SPENT.clear()
    t0 = time.perf_counter()
    dec = codec.Decoder(device=device)
    out = dec.decode(data)
    dec.flush()
    dec_s = time.perf_counter() - t0
    dec_split = dict(SPENT)
    assert len(out) == t
    with tempfile.TemporaryDirectory() as tmp:  # what a file round trip adds: y4m in and out
        src = Path(tmp) / "in.y4m"
        wr = VideoWriter(str(src), w, h, fps)
        t0 = time.perf_counter()
        for f in frames:
            wr.write(f)
        wr.close()
        write_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        read_video(src)
        read_s = time.perf_counter() - t0
    st = enc.stats
    split = {}
    for name, spent, total, io in (("encode", enc_split, enc_s, read_s), ("decode", dec_split, dec_s, write_s)):
        parts = {k: spent.get(k, 0.0) for k in ("tokenizer", "prior", "entropy")}
        parts["other"] = max(0.0, total - sum(parts.values()))
        parts["io"] = io
        whole = total + io
        split[name] = {k: round(100 * v / whole, 1) for k, v in parts.items()}
    return {"encode_fps": t / enc_s, "decode_fps": t / dec_s, "encode_fps_with_io": t / (enc_s + read_s),
            "decode_fps_with_io": t / (dec_s + write_s), "bpp": st.bpp,
            "coded_over_ideal": st.payload_bits / st.ideal_bits, "coded_over_raw": st.payload_bits / st.raw_bits,
            "split_percent": split}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("input")
    ap.add_argument("--sizes", default="176x144,640x360,1280x720")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--model", default=codec.DEFAULT_MODEL)
    ap.add_argument("--quality", type=int, help="vtcodec's --quality [the default]")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--json")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    instrument()
    rows = []
    for size in args.sizes.split(","):
        w, h = (int(v) for v in size.split("x"))
        frames, info = frames_at(args.input, w, h, args.frames)
        row = {"size": size, "frames": args.frames, "threads": torch.get_num_threads(), "device": args.device,
               "model": args.model, "quality": args.quality}
        row["vtcodec"] = vtcodec_run(frames, info.fps, args.model, args.device, args.quality)
        for preset in ("medium", "ultrafast"):
            r = anchors.encode("x264", frames, info.fps, 23, preset=preset)
            row[f"x264_{preset}"] = {"encode_fps": args.frames / r.encode_s, "decode_fps": args.frames / r.decode_s,
                                     "bpp": r.bytes * 8 / frames[..., 0].size}
        v = row["vtcodec"]
        for preset in ("medium", "ultrafast"):
            x = row[f"x264_{preset}"]
            row[f"ratio_vs_x264_{preset}"] = {"encode": v["encode_fps"] / x["encode_fps"],
                                              "decode": v["decode_fps"] / x["decode_fps"]}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\n| size | vtcodec enc fps | dec fps | x264 medium enc / dec fps | x264 ultrafast enc / dec fps "
          "| vtcodec / x264 medium enc, dec | coded/ideal | coded/raw |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        v, m, u = r["vtcodec"], r["x264_medium"], r["x264_ultrafast"]
        print(f"| {r['size']} | {v['encode_fps']:.1f} | {v['decode_fps']:.1f} | {m['encode_fps']:.0f} / "
              f"{m['decode_fps']:.0f} | {u['encode_fps']:.0f} / {u['decode_fps']:.0f} | "
              f"{r['ratio_vs_x264_medium']['encode']:.3f}, {r['ratio_vs_x264_medium']['decode']:.3f} | "
              f"{v['coded_over_ideal']:.4f} | {v['coded_over_raw']:.3f} |")
    print("\nprofile split (% of time, I/O of a .y4m file round trip included)")
    print("| size | pass | tokenizer | prior | entropy | other | I/O |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        for name, s in r["vtcodec"]["split_percent"].items():
            print(f"| {r['size']} | {name} | {s['tokenizer']} | {s['prior']} | {s['entropy']} | {s['other']} | {s['io']} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
