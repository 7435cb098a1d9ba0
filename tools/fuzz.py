"""A long fuzz run of the .vtc decoder: mutates, truncates, splices and re-checksums valid streams
and decodes each under a time limit. Counts crashes (any exception that is not a VtcError) and
hangs (time limit hit); both must be 0. Then checks that every single-byte corruption of every
chunk payload of the valid vectors is caught by the chunk's CRC.

    python tools/fuzz.py --inputs 100000 --seed 1
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import struct
import sys
import time
import traceback
import zlib
from pathlib import Path

from vtcodec.bitstream import CorruptChunk

import vtcodec

VECTORS = Path(__file__).resolve().parent.parent / "conformance" / "vectors" / "valid"


class Hang(Exception):
    pass


def _alarm(*_):
    raise Hang


def chunk_spans(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of every chunk after the header."""
    pos = 8 + struct.unpack_from("<H", data, 6)[0] + 4
    out = []
    while pos + 15 <= len(data):
        end = pos + 15 + struct.unpack_from("<I", data, pos + 11)[0] + 4
        if end > len(data):
            break
        out.append((pos, end))
        pos = end
    return out


def fix_crc(data: bytearray, span: tuple[int, int]) -> None:
    s, e = span
    data[e - 4:e] = struct.pack("<I", zlib.crc32(bytes(data[s + 4:e - 4])))


def mutate(rng: random.Random, seeds: list[bytes]) -> bytes:
    data = bytearray(rng.choice(seeds))
    how = rng.random()
    if how < 0.35:  # flip bytes anywhere
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif how < 0.5:  # truncate
        data = data[:rng.randrange(len(data) + 1)]
    elif how < 0.65:  # splice two streams
        other = rng.choice(seeds)
        data = data[:rng.randrange(len(data) + 1)] + other[rng.randrange(len(other) + 1):]
    elif how < 0.75:  # duplicate / drop / swap chunks
        spans = chunk_spans(bytes(data))
        if len(spans) >= 2:
            i, j = rng.sample(range(len(spans)), 2)
            a, b = (bytes(data[s:e]) for s, e in (spans[i], spans[j]))
            head = bytes(data[:spans[0][0]])
            parts = [bytes(data[s:e]) for s, e in spans]
            parts[i], parts[j] = b, a
            if rng.random() < 0.5:
                parts.insert(rng.randrange(len(parts)), a)
            data = bytearray(head + b"".join(parts))
    elif how < 0.9:  # corrupt a payload and fix its CRC: reaches the entropy decoder and the model
        spans = chunk_spans(bytes(data))
        if spans:
            span = rng.choice(spans)
            s, e = span
            for _ in range(rng.randint(1, 4)):
                if e - 4 > s + 15:
                    data[rng.randrange(s + 15, e - 4)] = rng.randrange(256)
            fix_crc(data, span)
    else:  # random header fields with a fixed header CRC
        hlen = 8 + struct.unpack_from("<H", data, 6)[0]
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(4, hlen)] = rng.randrange(256)
        data[hlen:hlen + 4] = struct.pack("<I", zlib.crc32(bytes(data[:hlen])))
    return bytes(data)


def decode(data: bytes, limit: float) -> str:
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        dec = vtcodec.Decoder()
        dec.decode(data)
        dec.flush()
        return "decoded"
    except vtcodec.VtcError:
        return "rejected"
    except Hang:
        return "hang"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--inputs", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--time-limit", type=float, default=5.0, help="seconds per input")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    # small tiny-model vectors as seeds (the fuzz targets the format and the coder, not speed)
    seeds = [p.read_bytes() for p in sorted(VECTORS.glob("*.vtc"))
             if p.name[:2] in ("03", "04", "05", "06", "07", "09", "12", "13", "14")]
    rng = random.Random(args.seed)
    counts = {"decoded": 0, "rejected": 0, "crash": 0, "hang": 0}
    t0 = time.time()
    for i in range(args.inputs):
        data = mutate(rng, seeds)
        try:
            counts[decode(data, args.time_limit)] += 1
        except Exception:  # noqa: BLE001 - a crash: report it and go on
            counts["crash"] += 1
            print(f"CRASH on input {i}:", traceback.format_exc(limit=3), file=sys.stderr)
        if (i + 1) % 10000 == 0:
            print(json.dumps({"inputs": i + 1, **counts, "seconds": round(time.time() - t0)}), flush=True)
    flips = caught = 0
    for path in sorted(VECTORS.glob("*.vtc")):
        data = path.read_bytes()
        for s, e in chunk_spans(data):
            if data[s + 4] != 0:
                continue  # frames chunks only
            for pos in range(s + 15, e - 4):
                bad = bytearray(data)
                bad[pos] ^= 1 << (pos % 8)
                flips += 1
                try:
                    dec = vtcodec.Decoder()
                    dec.decode(bytes(bad))
                    dec.flush()
                except CorruptChunk:
                    caught += 1
                except vtcodec.VtcError:
                    pass
    print(json.dumps({"inputs": args.inputs, **counts, "seconds": round(time.time() - t0),
                      "payload_byte_flips": flips, "caught_by_crc": caught}))
    sys.exit(1 if counts["crash"] or counts["hang"] or caught != flips else 0)


if __name__ == "__main__":
    main()
