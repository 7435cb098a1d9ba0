"""Regenerate the conformance vectors and their manifest (conformance/vectors/).

    python tools/make_vectors.py            # writes the files and manifest.json

Every vector is made from content vtcodec generates (vtcodec.synth), so the set rebuilds from
the repository alone. Valid vectors record the sha256 of their decoded tokens and the decoded
frames (a .npz beside them) that a conforming decoder must reproduce within the tolerance stated
in the manifest. A valid vector that exists already is kept as it was written (with its frames),
so that today's decoder is checked against streams older encoders wrote (delete one to remake
it); the uncommon and faulty vectors are rebuilt from them.
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
from vtcodec.bitstream import (
    CHUNK_AUDIO_PACKETS,
    CHUNK_AUDIO_STREAM,
    CHUNK_FRAME_TIMES,
    CHUNK_FRAMES,
    END_SIZE,
    HEAD_FIELDS,
    HEAD_SIZE,
    AudioStream,
    Chunk,
    ChunkHead,
    Header,
    IndexEntry,
    chunk_spans,
    end_chunk,
    index_chunk,
    pack_packets,
    pack_times,
    parse_head,
    parse_index,
    payload_of,
    read_header,
    reseal,
    seal_stream,
    set_field,
)

from vtcodec import codec, files
from vtcodec.errors import VtcError
from vtcodec.synth import moving_pattern
from vtcodec.zoo import find_model

OUT = Path(__file__).resolve().parent.parent / "conformance" / "vectors"
TINY, DEFAULT, LADDER, STATE, RECON = "vt1-bsq-tiny", "vt1-fsq", "vt2-fsq-tiny", "vt2t-fsq-tiny", "vt2r-fsq-tiny"
LAYERED = "vt1e-fsq"  # format 4.0: an enhancement layer over vt1-fsq
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
    return header, f.tell(), chunk_spans(data, f.tell())


def head_of(chunk: bytes) -> ChunkHead:
    return parse_head(chunk)


def frames_chunks(data: bytes) -> tuple[bytes, list[bytes]]:
    """(header bytes, the frames chunks' bytes) of a stream."""
    _, hsize, spans = parts(data)
    return data[:hsize], [data[o:o + n] for o, n in spans if head_of(data[o:o + n]).kind == CHUNK_FRAMES]


def header_with(data: bytes, body_extra: bytes = b"", minor: int | None = None, **fields) -> bytes:
    """The header of ``data`` with fields replaced (validated) or appended (a newer minor version)."""
    header, _, _ = parts(data)
    packed = replace(header, **fields).pack() if fields else header.pack()
    if body_extra or minor is not None:
        body = packed[8:-4] + body_extra
        head = packed[:4] + struct.pack("<BBH", header.major, header.minor if minor is None else minor,
                                        len(body)) + body
        packed = head + struct.pack("<I", zlib.crc32(head))
    return packed


def raw_header(data: bytes, **fields: int) -> bytes:
    """The header of ``data`` with any fixed field set, even to values the spec forbids; CRC fixed."""
    header, _, _ = parts(data)
    packed = bytearray(header.pack())
    for name, value in fields.items():
        set_field(packed, name, value)
    return bytes(packed)


def with_payload(chunk: bytes, payload: bytes) -> bytes:
    """A chunk with another payload: length and CRC made to match."""
    h = head_of(chunk)
    return Chunk(h.first_frame, h.n_frames, payload, h.kind).pack()


def _with_audio(frames: np.ndarray) -> bytes:
    """A 2.1 stream: display fields set, an audio stream chunk, then 20 ms of 8 kHz mono PCM
    packets before every frames chunk (gop 2)."""
    enc = codec.Encoder(frames.shape[2], frames.shape[1], 25, model=TINY, gop=2, rotation=90, primaries=9,
                        transfer=16, bit_depth=10)
    enc.attach(CHUNK_AUDIO_STREAM, AudioStream("pcm_s16le", 8000, "mono", "s16", (1, 8000), 128000).pack())
    data = b""
    for i, f in enumerate(frames):
        tone = (np.sin(np.arange(i * 320, (i + 2) * 320) * 0.3) * 8000).astype("<i2").tobytes()
        enc.attach(CHUNK_AUDIO_PACKETS, pack_packets([(i * 320, 320, True, tone[:640])]))
        data += enc.encode(f)
    data += enc.flush()
    head = enc.header_bytes()
    return head + data[len(head):]


def _with_times(frames: np.ndarray) -> bytes:
    """A variable-rate 2.1 stream (gop 3): frames 0-2 at the header's 25 fps (no frame times
    chunk), frames 3-5 and 6 timed in milliseconds (a pause, then a burst)."""
    enc = codec.Encoder(frames.shape[2], frames.shape[1], 25, model=TINY, gop=3)
    times = [0, 40, 80, 300, 320, 340, 1000]
    data = b""
    for i, f in enumerate(frames):
        if i in (5, 6):  # before the frame that completes each timed chunk
            first = 3 if i == 5 else 6
            enc.attach(CHUNK_FRAME_TIMES, pack_times(Fraction(1, 1000), times[first:i + 1]), first, i + 1 - first)
        data += enc.encode(f)
    data += enc.flush()
    head = enc.header_bytes()
    return head + data[len(head):]


def _cut(data: bytes) -> bytes:
    head, frames = frames_chunks(data)
    return head + b"".join(frames)  # index + end chunk removed


class Kept(dict):
    """Encoded vectors: a name already on disk keeps its bytes (the stream is not encoded again)."""

    def __init__(self, group: str) -> None:
        super().__init__()
        self.group = group

    def __setitem__(self, name: str, make) -> None:
        path = OUT / self.group / f"{name}.vtc"
        super().__setitem__(name, make if isinstance(make, bytes) else
                            path.read_bytes() if path.is_file() else make())


def main() -> None:
    f6 = moving_pattern(64, 48, 6)
    vectors: dict[str, dict[str, bytes]] = {"valid": Kept("valid"), "uncommon": Kept("uncommon"), "faulty": {}}
    v = vectors["valid"]
    v["01-fsq-default-model-64x48-6f"] = lambda: stream(f6, model=DEFAULT)
    v["02-bsq-tiny-model-64x48-6f"] = lambda: stream(f6)
    v["03-odd-size-33x17"] = lambda: stream(moving_pattern(33, 17, 3, seed=1))
    v["04-one-frame"] = lambda: stream(moving_pattern(40, 24, 1, seed=2))
    v["05-one-pixel-1x1"] = lambda: stream(moving_pattern(1, 1, 2, seed=3))
    v["06-gop-1-every-frame-a-chunk"] = lambda: stream(moving_pattern(32, 24, 4, seed=4), gop=1)
    v["07-gop-3-multi-chunk-10f"] = lambda: stream(moving_pattern(32, 24, 10, seed=5), gop=3)
    v["08-long-gop-40f-one-chunk"] = lambda: stream(moving_pattern(24, 16, 40, seed=6), gop=64)
    v["09-mono-chroma"] = lambda: stream(moving_pattern(32, 24, 2, seed=7), chroma="mono")
    v["10-422-chroma"] = lambda: stream(moving_pattern(32, 24, 2, seed=8), chroma="422")
    v["11-ntsc-rate-30000-1001"] = lambda: stream(moving_pattern(32, 24, 3, seed=9), fps=Fraction(30000, 1001))
    v["12-bt709-full-range"] = lambda: stream(moving_pattern(32, 24, 2, seed=10), matrix=1, color_range=2)
    v["13-no-index-cut-after-last-chunk"] = lambda: _cut(stream(moving_pattern(32, 24, 7, seed=11), gop=3))
    head, frames = frames_chunks(v["13-no-index-cut-after-last-chunk"])
    base = seal_stream(head, frames)  # the stream 13 was cut from: 7 frames in chunks of 3
    v["14-streamed-unknown-frame-count"] = lambda: stream(moving_pattern(32, 24, 5, seed=12), gop=2, patch_count=False)
    v["15-quality-1-fsq"] = lambda: stream(moving_pattern(48, 32, 2, seed=13), model=DEFAULT, quality=1)
    v["16-quality-10-grid-2x"] = lambda: stream(moving_pattern(40, 24, 3, seed=15), quality=10)
    v["17-target-rate-scale-varies-per-chunk"] = lambda: stream(moving_pattern(48, 32, 9, seed=16), gop=3, bpp=0.4)
    v["18-quality-3-odd-size-grid"] = lambda: stream(moving_pattern(35, 21, 2, seed=17), quality=3)
    v["19-format-2.1-audio-rotation-bt2020-pq-10bit"] = lambda: _with_audio(moving_pattern(32, 24, 5, seed=18))
    v["20-format-2.1-frame-times-variable-rate"] = lambda: _with_times(moving_pattern(24, 16, 7, seed=19))
    # format 3.0: a model with quality levels; every frames chunk carries its level
    v["21-format-3.0-vt2-levels-gop-3"] = lambda: stream(moving_pattern(48, 32, 7, seed=20), model=LADDER, gop=3)
    v["22-format-3.0-vt2-target-rate-level-varies"] = lambda: stream(moving_pattern(64, 48, 8, seed=21), model=LADDER,
                                                                      gop=2, bpp=0.12)
    v["23-format-3.0-vt2-quality-10-odd-size"] = lambda: stream(moving_pattern(35, 21, 2, seed=22), model=LADDER,
                                                                 quality=10)
    v["24-format-3.0-vt2-quality-1"] = lambda: stream(moving_pattern(48, 32, 2, seed=23), model=LADDER, quality=1)
    # format 3.1: a model with levels and a temporal state, which the prior sees (reset per chunk)
    v["25-format-3.1-temporal-state-gop-4"] = lambda: stream(moving_pattern(48, 32, 9, seed=24), model=STATE, gop=4)
    v["26-format-3.1-temporal-state-long-chunk-odd-size"] = lambda: stream(moving_pattern(27, 19, 24, seed=25),
                                                                          model=STATE, gop=32, quality=9)
    # format 3.2: the decoder reconstructs each frame from its tokens and the frame decoded before
    v["27-format-3.2-decoded-frame-context-gop-4"] = lambda: stream(moving_pattern(48, 32, 9, seed=26), model=RECON,
                                                                    gop=4)
    v["28-format-3.2-decoded-frame-context-long-chunk-odd-size"] = lambda: stream(
        moving_pattern(27, 19, 24, seed=27), model=RECON, gop=32, quality=9)
    # format 4.0: a layered model; the layer byte says whether a chunk carries the enhancement layer
    v["29-format-4.0-layered-quality-12-gop-3"] = lambda: stream(moving_pattern(48, 32, 5, seed=28), model=LAYERED,
                                                                 gop=3, quality=12)
    v["30-format-4.0-layered-target-rate-layer-varies"] = lambda: stream(moving_pattern(48, 32, 6, seed=29),
                                                                         model=LAYERED, gop=2, bpp=0.6)
    v["31-format-4.0-layered-quality-16-odd-size"] = lambda: stream(moving_pattern(27, 19, 2, seed=30), model=LAYERED,
                                                                    quality=16)
    v["32-format-4.0-layered-quality-6-base-layer-alone"] = lambda: stream(moving_pattern(40, 24, 3, seed=31),
                                                                           model=LAYERED, quality=6)
    # format 5.0: a layered model whose layer skips blocks (the previous output frame, moved by a
    # motion vector, shown instead); 4.0's vectors above stay as vtcodec 0.15 wrote them
    v["33-format-5.0-layered-block-skips-gop-4"] = lambda: stream(moving_pattern(48, 32, 6, seed=32), model=LAYERED,
                                                                  gop=4, quality=12)
    v["34-format-5.0-layered-panning-motion-vectors"] = lambda: stream(
        np.stack([f[:, 2 * t:2 * t + 48] for t, f in enumerate(moving_pattern(64, 32, 6, seed=33))]),
        model=LAYERED, gop=8, quality=13)
    v["35-format-5.0-layered-quality-16-odd-size"] = lambda: stream(moving_pattern(27, 19, 3, seed=34), model=LAYERED,
                                                                    quality=16)
    # format 6.0: the layer also codes blocks over the previous output frame moved into place (a
    # prediction flag and a vector per coded block); 5.0's vectors above stay as vtcodec 0.17-0.21 wrote them
    v["36-format-6.0-layered-scene-cut-three-block-modes"] = lambda: stream(np.concatenate(
        [moving_pattern(48, 32, 3, seed=35), moving_pattern(48, 32, 4, seed=135)]), model=LAYERED, gop=8, quality=12)
    v["37-format-6.0-layered-panning-motion-prediction"] = lambda: stream(
        np.stack([f[:, 3 * t:3 * t + 48] for t, f in enumerate(moving_pattern(72, 32, 6, seed=36))]),
        model=LAYERED, gop=8, quality=15)
    v["38-format-6.0-layered-quality-16-odd-size"] = lambda: stream(moving_pattern(27, 19, 3, seed=37), model=LAYERED,
                                                                    quality=16)

    u = vectors["uncommon"]
    u["01-minor-version-9-extra-header-field"] = seal_stream(header_with(base, body_extra=b"\x05hello", minor=9), frames)
    t7 = Chunk(0, 0, b"future", 7).pack()
    u["02-unknown-chunk-type-7-skipped"] = seal_stream(head, [frames[0], t7, *frames[1:]])
    u["03-chunk-payload-limit-edge-gop-1024"] = lambda: stream(moving_pattern(8, 8, 2, seed=14), gop=1024)

    fz = vectors["faulty"]
    fz["01-empty-file"] = b""
    fz["02-bad-magic"] = b"RIFF" + base[4:]
    fz["03-newer-major-version-3"] = base[:4] + b"\x03" + base[5:]
    bad = bytearray(base)
    bad[20] ^= 0xFF
    fz["04-header-crc-mismatch"] = bytes(bad)
    fz["05-truncated-header"] = base[:30]
    fz["06-truncated-mid-chunk-2"] = head + frames[0] + frames[1][:40]
    bad = bytearray(base)
    bad[len(head) + len(frames[0]) + HEAD_SIZE + 5] ^= 0x01
    fz["07-crc-mismatch-chunk-2"] = bytes(bad)
    bad = bytearray(base)
    at, fmt = HEAD_FIELDS["length"]
    struct.pack_into(fmt, bad, len(head) + at, 0x7FFFFFF0)
    fz["08-chunk-length-out-of-range"] = bytes(bad)
    fz["09-zero-width"] = raw_header(base, width=0) + base[len(head):]
    fz["10-huge-frame-16384x16384"] = raw_header(base, width=16384, height=16384) + base[len(head):]
    second = Chunk(5, 2, b"\x00" * 8).pack()  # frames 5-6 where 3 was expected, valid CRC
    fz["11-frame-range-gap"] = head + frames[0] + second
    fz["12-unknown-model"] = seal_stream(header_with(base, model="no-such-model"), frames)
    fz["13-weights-hash-mismatch"] = seal_stream(header_with(base, weights_sha256=b"\x11" * 32), frames)
    fz["14-missing-frames-count-7-has-3"] = head + frames[0]
    bad = bytearray(v["02-bsq-tiny-model-64x48-6f"])
    _, _, c2 = parts(bytes(bad))
    bad[c2[0][0]:c2[0][0] + 4] = b"XXXX"
    fz["15-bad-chunk-marker"] = bytes(bad)
    bad = bytearray(base)
    bad[len(head) + HEAD_SIZE] = 200  # scale index outside 96..144, CRC recomputed
    reseal(bad, len(head))
    fz["16-scale-index-out-of-range"] = bytes(bad)
    # structure (SPEC.md, "Structure"): every chunk CRC-valid, the order or the index wrong
    fz["17-matrix-outside-spec-list"] = seal_stream(raw_header(base, matrix=3), frames)
    closed = seal_stream(head, frames)
    _, _, spans = parts(closed)
    entries = parse_index(payload_of(closed, spans[3][0]), parts(closed)[0])
    entries[1] = IndexEntry(entries[1].first_frame, entries[1].n_frames, entries[1].offset + 1)  # one byte off
    fz["18-index-disagrees-with-chunks"] = (closed[:spans[3][0]] + index_chunk(entries).pack()
                                            + closed[spans[3][0] + spans[3][1]:])
    fz["19-end-chunk-points-at-a-frames-chunk"] = base[:-END_SIZE] + end_chunk(len(head)).pack()
    fz["20-frames-chunk-after-end-chunk"] = base + Chunk(7, 1, payload_of(frames[0], 0)).pack()
    _, _, spans = parts(base)
    index = base[spans[-2][0]:spans[-1][0]]
    fz["21-two-index-chunks"] = base[:spans[-2][0]] + index + index + base[spans[-1][0]:]
    fz["22-index-without-end-chunk"] = base[:spans[-1][0]]
    fz["23-frames-chunk-after-index"] = (head + b"".join(frames[:2])
                                         + index_chunk([IndexEntry(0, 3, len(head)), IndexEntry(3, 3, len(head) + len(frames[0]))]).pack()
                                         + frames[2])
    fz["24-end-chunk-without-index"] = head + b"".join(frames) + end_chunk(len(head)).pack()
    payload = payload_of(frames[1], 0)
    fz["25-payload-with-trailing-words"] = seal_stream(head, [frames[0], with_payload(frames[1], payload + b"\x01\x02\x03\x04" * 2), frames[2]])
    fz["26-payload-runs-out"] = seal_stream(head, [frames[0], with_payload(frames[1], payload[:1 + (len(payload) - 1) // 8 * 4]), frames[2]])
    fz["27-payload-of-zero-words"] = seal_stream(head, [frames[0], with_payload(frames[1], payload[:1] + bytes(400)), frames[2]])
    huge = Chunk(0, 1024, bytes([144]) + bytes(4)).pack()  # 24 bytes declaring 1,024 frames of 2560x1440
    fz["28-work-limit-1024-frames-in-24-bytes"] = raw_header(base, width=2560, height=1440, gop=1024,
                                                             frame_count=1024) + huge
    one = stream(moving_pattern(40, 24, 1, seed=2), gop=1)
    _, one_frames = frames_chunks(one)
    fz["29-work-limit-4096x2304-header-40x24-chunk"] = raw_header(one, width=4096, height=2304) + one_frames[0]
    fz["30-model-name-is-a-path"] = seal_stream(header_with(base, model="models/zoo/vt1-bsq-tiny"), frames)
    fz["31-frame-count-zero"] = raw_header(base, frame_count=0) + base[len(head):]
    fz["32-quality-11"] = raw_header(base, quality=11) + base[len(head):]
    v3 = v["21-format-3.0-vt2-levels-gop-3"]
    head3, frames3 = frames_chunks(v3)
    bad = bytearray(frames3[1])
    bad[HEAD_SIZE + 1] = 200  # the level byte: the model has 6 levels
    reseal(bad, 0)
    fz["33-format-3.0-level-outside-the-model"] = seal_stream(head3, [frames3[0], bytes(bad), *frames3[2:]])
    old = bytearray(head3)
    old[4:6] = bytes([2, 1])  # a 2.1 header naming a model with levels: its payloads would be misread
    old[-4:] = struct.pack("<I", zlib.crc32(bytes(old[:-4])))
    fz["34-format-2.1-header-naming-a-model-with-levels"] = seal_stream(bytes(old), frames3)
    head31, frames31 = frames_chunks(v["25-format-3.1-temporal-state-gop-4"])
    old = bytearray(head31)
    old[4:6] = bytes([3, 0])  # a 3.0 header naming a model with a temporal state
    old[-4:] = struct.pack("<I", zlib.crc32(bytes(old[:-4])))
    fz["35-format-3.0-header-naming-a-model-with-a-state"] = seal_stream(bytes(old), frames31)
    head32, frames32 = frames_chunks(v["27-format-3.2-decoded-frame-context-gop-4"])
    old = bytearray(head32)
    old[5] = 1  # a 3.1 header naming a model with a decoded-frame context
    old[-4:] = struct.pack("<I", zlib.crc32(bytes(old[:-4])))
    fz["36-format-3.1-header-naming-a-model-with-a-decoded-frame-context"] = seal_stream(bytes(old), frames32)

    head4, frames4 = frames_chunks(v["29-format-4.0-layered-quality-12-gop-3"])
    payload = payload_of(frames4[0], 0)
    fz["37-format-4.0-layer-byte-outside-the-layer"] = seal_stream(head4, [with_payload(frames4[0], payload[:1] + bytes([9])
                                                                                        + payload[2:]), frames4[1]])
    fz["38-format-4.0-layer-on-a-scaled-grid"] = seal_stream(head4, [with_payload(frames4[0], bytes([127]) + payload[1:]),
                                                                     frames4[1]])
    fz["39-format-4.0-base-layer-length-past-the-payload"] = seal_stream(
        head4, [with_payload(frames4[0], payload[:2] + struct.pack("<I", len(payload)) + payload[6:]), frames4[1]])
    fz["40-newer-major-version-7"] = base[:4] + b"\x07" + base[5:]
    fz["41-format-4.0-header-naming-a-token-model"] = seal_stream(header_with(head4, model=DEFAULT, weights_sha256=bytes.fromhex(
        find_model(DEFAULT).sha256)), frames4)
    old = bytearray(head4)
    old[4:6] = bytes([3, 2])  # a 3.2 header naming the layer: not a token model
    old[32] = 10  # (the quality byte within 3.x's range)
    old[-4:] = struct.pack("<I", zlib.crc32(bytes(old[:-4])))
    fz["42-format-3.2-header-naming-a-layer"] = seal_stream(bytes(old), frames4)

    head5, frames5 = frames_chunks(v["33-format-5.0-layered-block-skips-gop-4"])
    payload = payload_of(frames5[0], 0)
    fz["43-format-5.0-layer-words-one-word-short"] = seal_stream(head5, [with_payload(frames5[0], payload[:-4]),
                                                                         *frames5[1:]])
    head6, frames6 = frames_chunks(v["37-format-6.0-layered-panning-motion-prediction"])
    payload = payload_of(frames6[0], 0)
    fz["44-format-6.0-layer-words-one-word-short"] = seal_stream(head6, [with_payload(frames6[0], payload[:-4]),
                                                                         *frames6[1:]])
    old = bytearray(head6)
    old[4:6] = bytes([5, 0])  # read as 5.0: the prediction flags are misread
    old[-4:] = struct.pack("<I", zlib.crc32(bytes(old[:-4])))
    fz["45-format-6.0-layer-read-as-5.0"] = seal_stream(bytes(old), frames6)

    manifest = {"tolerance": TOLERANCE, "vectors": []}
    # format 1.0 streams, kept as written (this encoder writes 2.0 only)
    old = json.loads((OUT / "manifest.json").read_text()) if (OUT / "manifest.json").is_file() else {}
    manifest["vectors"] += [e for e in old.get("vectors", []) if e["group"] == "legacy-v1"]
    for group, items in vectors.items():
        (OUT / group).mkdir(parents=True, exist_ok=True)
        for stale in (OUT / group).glob("*.vtc"):
            if stale.stem not in items:
                stale.unlink()
                stale.with_suffix(".frames.npz").unlink(missing_ok=True)
        for name, data in items.items():
            path = OUT / group / f"{name}.vtc"
            kept = path.is_file() and path.read_bytes() == data
            if not kept:
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
                    if not (kept and ref.is_file()):
                        np.savez_compressed(ref, frames=frames)
                    entry["frames_file"] = f"{group}/{name}.frames.npz"
            except VtcError as exc:  # anything else is a crash: make_vectors fails on it
                entry.update(result="rejected", error=f"{exc.__class__.__name__}: {exc}")
            expect = {"valid": "decodes", "faulty": "rejected"}.get(group)
            assert expect is None or entry["result"] == expect, (name, entry)
            manifest["vectors"].append(entry)
            print(f"{entry['file']}: {entry['result']} {entry.get('error', '')}")
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"{len(manifest['vectors'])} vectors; {END_SIZE}-byte end chunk")


if __name__ == "__main__":
    main()
