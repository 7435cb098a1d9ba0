"""Decode every valid and uncommon conformance vector on a device and compare with the manifest
(tokens exactly, frames within the tolerance). Prints one JSON line per vector and a summary.

    python tools/check_vectors.py --device cuda
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import numpy as np
import torch

from vtcodec import codec, files, metrics

VECTORS = Path(__file__).resolve().parent.parent / "conformance" / "vectors"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    manifest = json.loads((VECTORS / "manifest.json").read_text())
    same = checked = 0
    for entry in manifest["vectors"]:
        if entry.get("result") != "decodes":
            continue
        tokens: list = []
        frames = np.concatenate(list(files.iter_decode(VECTORS / entry["file"], tokens_out=tokens,
                                                       device=args.device)))
        row = {"file": entry["file"], "tokens_identical": codec.digest_tokens(tokens) == entry["tokens_sha256"]}
        if "frames_file" in entry:
            ref = np.load(VECTORS / entry["frames_file"])["frames"]
            row["max_abs_diff"] = int(np.abs(frames.astype(int) - ref.astype(int)).max())
            row["psnr_vs_reference"] = round(min(metrics.psnr(frames, ref), 999.0), 2)
        checked += 1
        same += row["tokens_identical"]
        print(json.dumps(row))
    device = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else platform.processor()
    print(json.dumps({"device": args.device, "name": device, "torch": torch.__version__,
                      "vectors": checked, "tokens_identical": same}))


if __name__ == "__main__":
    main()
