"""Regenerate the conformance vectors and their manifest (conformance/vectors/).

    python tools/make_vectors.py            # writes the files and manifest.json

Every vector is made from content vtcodec generates (vtcodec.synth), so the set rebuilds from
the repository alone. Valid vectors record the sha256 of their decoded tokens and the decoded
frames (a .npz beside them) that a conforming decoder must reproduce within the tolerance stated
in the manifest.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zlib
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
from vtcodec.bitstream import END_SIZE, Chunk, Header, read_header

from vtcodec import codec, files
from vtcodec.synth import moving_pattern

OUT = Path(__file__).resolve().parent.parent / "conformance" / "vectors"
TINY, DEFAULT = "vt1-bsq-tiny", "vt1-fsq"
TOLERANCE = {"max_abs_diff": 4, "min_psnr_db": 40.0}


def stream(frames: np.ndarray, model: str = TINY, gop: int = 32, fps=25, patch_count: bool = True,
           **kw) -> bytes:
    enc = codec.Encoder(frames.shape[2], frames.shape[1], fps, model=model, gop=gop, **kw)
    data = b"".join(enc.encode(f) for f in frames) + enc.flush()
    if patch_count:
        head = enc.header_bytes()
        data = head + data[len(head):]
    return data


def parts(data: bytes) -> tuple[Header, int, list[tuple[int, int]]]:
    """(header, header size, [(offset, size) of each chunk])."""
    f = io.BytesIO(data)
    header = read_header(f)
    pos, out = f.tell(), []
    hsize = pos
    while pos < len(data):
        length = struct.unpack_from("<I", data, pos + 11)[0]
        out.append((pos, 15 + length + 4))
        pos += 15 + length + 4
    return header, hsize, out


def with_header(data: bytes, body_extra: bytes = b"", minor: int | None = None, **fields) -> bytes:
    header, hsize, _ = parts(data)
    packed = replace(header, **fields).pack() if fields else header.pack()
    if body_extra or minor is not None:
        body = packed[8:-4] + body_extra
        head = packed[:4] + struct.pack("<BBH", header.major, header.minor if minor is None else minor,
                                        len(body)) + body
        packed = head + struct.pack("<I", zlib.crc32(head))
    return packed + data[hsize:]


def raw_header(width: int, height: int, base: bytes) -> bytes:
    """A header with any width/height (even invalid ones), correct CRC."""
    header, hsize, _ = parts(base)
    packed = bytearray(header.pack())
    packed[8:16] = struct.pack("<II", width, height)
    packed[-4:] = struct.pack("<I", zlib.crc32(bytes(packed[:-4])))
    return bytes(packed) + base[hsize:]


def main() -> None:
    f6 = moving_pattern(64, 48, 6)
    vectors: dict[str, dict[str, bytes]] = {"valid": {}, "uncommon": {}, "faulty": {}}
    v = vectors["valid"]
    v["01-fsq-default-model-64x48-6f"] = stream(f6, model=DEFAULT)
    v["02-bsq-tiny-model-64x48-6f"] = stream(f6)
    v["03-odd-size-33x17"] = stream(moving_pattern(33, 17, 3, seed=1))
    v["04-one-frame"] = stream(moving_pattern(40, 24, 1, seed=2))
    v["05-one-pixel-1x1"] = stream(moving_pattern(1, 1, 2, seed=3))
    v["06-gop-1-every-frame-a-chunk"] = stream(moving_pattern(32, 24, 4, seed=4), gop=1)
    v["07-gop-3-multi-chunk-10f"] = stream(moving_pattern(32, 24, 10, seed=5), gop=3)
    v["08-long-gop-40f-one-chunk"] = stream(moving_pattern(24, 16, 40, seed=6), gop=64)
    v["09-mono-chroma"] = stream(moving_pattern(32, 24, 2, seed=7), chroma="mono")
    v["10-422-chroma"] = stream(moving_pattern(32, 24, 2, seed=8), chroma="422")
    v["11-ntsc-rate-30000-1001"] = stream(moving_pattern(32, 24, 3, seed=9), fps=Fraction(30000, 1001))
    v["12-bt709-full-range"] = stream(moving_pattern(32, 24, 2, seed=10), matrix=1, color_range=2)
    base = stream(moving_pattern(32, 24, 7, seed=11), gop=3)
    _, _, chunks = parts(base)
    v["13-no-index-cut-after-last-chunk"] = base[:chunks[-2][0]]  # index + end chunk removed
    v["14-streamed-unknown-frame-count"] = stream(moving_pattern(32, 24, 5, seed=12), gop=2, patch_count=False)
    v["15-quality-1-fsq"] = stream(moving_pattern(48, 32, 2, seed=13), model=DEFAULT, quality=1)
    v["16-quality-10-grid-2x"] = stream(moving_pattern(40, 24, 3, seed=15), quality=10)
    v["17-target-rate-scale-varies-per-chunk"] = stream(moving_pattern(48, 32, 9, seed=16), gop=3, bpp=0.4)
    v["18-quality-3-odd-size-grid"] = stream(moving_pattern(35, 21, 2, seed=17), quality=3)

    u = vectors["uncommon"]
    u["01-minor-version-9-extra-header-field"] = with_header(base, body_extra=b"\x05hello", minor=9)
    t7 = Chunk(0, 0, b"future", 7).pack()
    u["02-unknown-chunk-type-7-skipped"] = base[:chunks[1][0]] + t7 + base[chunks[1][0]:]
    u["03-chunk-payload-limit-edge-gop-1024"] = stream(moving_pattern(8, 8, 2, seed=14), gop=1024)

    fz = vectors["faulty"]
    fz["01-empty-file"] = b""
    fz["02-bad-magic"] = b"RIFF" + base[4:]
    fz["03-newer-major-version-3"] = base[:4] + b"\x03" + base[5:]
    bad = bytearray(base)
    bad[20] ^= 0xFF
    fz["04-header-crc-mismatch"] = bytes(bad)
    fz["05-truncated-header"] = base[:30]
    fz["06-truncated-mid-chunk-2"] = base[:chunks[1][0] + 40]
    bad = bytearray(base)
    bad[chunks[1][0] + 20] ^= 0x01
    fz["07-crc-mismatch-chunk-2"] = bytes(bad)
    bad = bytearray(base)
    bad[chunks[0][0] + 11:chunks[0][0] + 15] = struct.pack("<I", 0x7FFFFFF0)
    fz["08-chunk-length-out-of-range"] = bytes(bad)
    fz["09-zero-width"] = raw_header(0, 24, base)
    fz["10-huge-frame-16384x16384"] = raw_header(16384, 16384, base)
    second = Chunk(5, 2, b"\x00" * 8).pack()  # frames 5-6 where 3 was expected, valid CRC
    fz["11-frame-range-gap"] = base[:chunks[1][0]] + second
    fz["12-unknown-model"] = with_header(base, model="no-such-model")
    fz["13-weights-hash-mismatch"] = with_header(base, weights_sha256=b"\x11" * 32)
    fz["14-missing-frames-count-7-has-3"] = base[:chunks[1][0]]
    bad = bytearray(v["02-bsq-tiny-model-64x48-6f"])
    _, _, c2 = parts(bytes(bad))
    bad[c2[0][0]:c2[0][0] + 4] = b"XXXX"
    fz["15-bad-chunk-marker"] = bytes(bad)
    bad = bytearray(base)
    c0 = chunks[0][0]
    bad[c0 + 15] = 200  # scale index outside 96..144, CRC recomputed
    bad[c0 + chunks[0][1] - 4:c0 + chunks[0][1]] = struct.pack("<I", zlib.crc32(bytes(bad[c0 + 4:c0 + chunks[0][1] - 4])))
    fz["16-scale-index-out-of-range"] = bytes(bad)

    manifest = {"tolerance": TOLERANCE, "vectors": []}
    # format 1.0 streams, kept as written (this encoder writes 2.0 only)
    old = json.loads((OUT / "manifest.json").read_text()) if (OUT / "manifest.json").is_file() else {}
    manifest["vectors"] += [e for e in old.get("vectors", []) if e["group"] == "legacy-v1"]
    for group, items in vectors.items():
        (OUT / group).mkdir(parents=True, exist_ok=True)
        for old in (OUT / group).glob("*.vt*"):
            old.unlink()
        for name, data in items.items():
            path = OUT / group / f"{name}.vtc"
            path.write_bytes(data)
            entry = {"group": group, "file": f"{group}/{name}.vtc",
                     "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
            try:
                tokens: list = []
                frames = np.concatenate(list(files.iter_decode(path, tokens_out=tokens)))
                entry.update(result="decodes", frames=int(frames.shape[0]),
                             size=f"{frames.shape[2]}x{frames.shape[1]}",
                             tokens_sha256=codec.digest_tokens(tokens))
                if group == "valid":
                    ref = OUT / group / f"{name}.frames.npz"
                    np.savez_compressed(ref, frames=frames)
                    entry["frames_file"] = f"{group}/{name}.frames.npz"
            except Exception as exc:  # noqa: BLE001 - recorded, and checked below
                entry.update(result="rejected", error=f"{exc.__class__.__name__}: {exc}")
            expect = {"valid": "decodes", "faulty": "rejected"}.get(group)
            assert expect is None or entry["result"] == expect, (name, entry)
            manifest["vectors"].append(entry)
            print(f"{entry['file']}: {entry['result']} {entry.get('error', '')}")
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"{len(manifest['vectors'])} vectors; {END_SIZE}-byte end chunk")


if __name__ == "__main__":
    main()
