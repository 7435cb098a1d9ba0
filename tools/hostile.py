"""Hostile inputs through the command line: one row per case, with what happened.

Each case is a crafted file, model folder or signal, run as ``python -m vtcodec ...`` in a fresh
process under a time limit and a memory limit. A row gives the exit code, the last line on stderr,
the wall time, the peak RSS of the process, what was left in the output folder, and a verdict:
``ok`` when the command ended as a user should see it (one ``vtcodec: error:`` line and exit 1, or
a clean success where one is right), ``BAD`` otherwise (a traceback, an internal error, a hang, a
replaced device node, leftovers, a command run from a pickle, ...).

    python tools/hostile.py                  # every case, a Markdown table on stdout
    python tools/hostile.py --cases huge,conceal --timeout 60

Needs GNU time (/usr/bin/time) and prlimit (util-linux). The cases are the numbered failures of the hardening issue (#19); they are built from the bundled
models and vtcodec's own synthetic content, so the table rebuilds from the repository alone.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

from vtcodec.bitstream import (
    CHUNK_AUDIO_PACKETS,
    CHUNK_AUDIO_STREAM,
    CHUNK_FRAME_TIMES,
    END_SIZE,
    HEAD_SIZE,
    OVERHEAD,
    AudioStream,
    Chunk,
    Header,
    IndexEntry,
    chunk_spans,
    end_chunk,
    index_chunk,
    pack_packets,
    pack_times,
    parse_head,
    payload_of,
    read_header,
    seal_stream,
    set_field,
)
from vtcodec.bitstream.audio import MAX_AUDIO_CHUNK
from vtcodec.bitstream.header import FIXED, PREFIX

import vtcodec
from vtcodec.synth import moving_pattern

ROOT = Path(__file__).resolve().parent.parent
TINY = "vt1-bsq-tiny"
MEMORY_LIMIT = 8 << 30  # bytes of address space per case (a runaway allocation fails, not the machine)


def tiny_stream(w: int = 32, h: int = 24, n: int = 7, gop: int = 3, **kw) -> bytes:
    return vtcodec.compress(moving_pattern(w, h, n, seed=3), model=TINY, gop=gop, **kw)


def split(data: bytes) -> tuple[Header, bytes, list[bytes]]:
    """(header, header bytes, chunk bytes in order) of a stream."""
    import io

    f = io.BytesIO(data)
    header = read_header(f)
    return header, data[:f.tell()], [data[o:o + n] for o, n in chunk_spans(data, f.tell())]


def raw_header(header: Header, **fields: int) -> bytes:
    """``header`` packed with any fixed field replaced (no validation), CRC fixed."""
    packed = bytearray(header.pack())
    for name, value in fields.items():
        set_field(packed, name, value)
    return bytes(packed)


class Case:
    def __init__(self, name: str, what: str, argv: list[str], expect: str = "error",
                 check=None, signal_after: float | None = None, stdin: str | None = None) -> None:
        self.name, self.what, self.argv, self.expect = name, what, argv, expect
        self.check, self.signal_after, self.stdin = check, signal_after, stdin


def build(d: Path) -> list[Case]:
    cases: list[Case] = []
    base = tiny_stream()
    header, head, chunks = split(base)
    (d / "valid.vtc").write_bytes(base)

    # 1. decode cost set by header fields
    one = tiny_stream(40, 24, 1, gop=1)
    h1, _, c1 = split(one)
    big = raw_header(h1, width=4096, height=2304) + c1[0]
    (d / "huge-header.vtc").write_bytes(big)
    cases.append(Case("huge", f"{len(big)}-byte file, 4096x2304 header, one 40x24 chunk",
                      ["decode", "huge-header.vtc", "-o", "out1.y4m"]))
    h1024 = raw_header(replace(header, gop=1024), width=2560, height=1440, gop=1024, frame_count=1024)
    chunk1024 = Chunk(0, 1024, bytes([144]) + b"\x00" * 4).pack()
    (d / "chunk-1024.vtc").write_bytes(h1024 + chunk1024)
    cases.append(Case("chunk1024", f"{len(chunk1024)}-byte chunk declaring 1,024 frames of 2560x1440",
                      ["decode", "chunk-1024.vtc", "-o", "out2.y4m"]))
    zeros = head + Chunk(0, 3, bytes([128]) + b"\x00" * 400).pack()
    (d / "zero-payload.vtc").write_bytes(zeros)
    cases.append(Case("zeros", "a payload of zero words (decodes forever on padding)",
                      ["decode", "zero-payload.vtc", "-o", "out2b.y4m"]))
    h0 = parse_head(chunks[0])
    trailing = Chunk(h0.first_frame, h0.n_frames, payload_of(chunks[0], 0) + b"\x01" * 8).pack()
    (d / "trailing.vtc").write_bytes(head + trailing + b"".join(chunks[1:3]))
    cases.append(Case("trailing", "a chunk payload with 8 bytes the range decoder never reads",
                      ["decode", "trailing.vtc", "-o", "out2c.y4m"]))

    # 2. device nodes
    try:
        os.mknod(d / "nulldev", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        cases.append(Case("devnode", "decode -o CHAR_DEVICE -f (a copy of /dev/null's node)",
                          ["decode", "valid.vtc", "-o", "nulldev", "-f"], expect="any",
                          check=lambda: None if stat.S_ISCHR(os.stat(d / "nulldev").st_mode)
                          else "device node replaced by a regular file"))
    except PermissionError:
        pass
    os.mkfifo(d / "fifo-out")

    # 3. conceal
    headonly = raw_header(header, frame_count=2**32 - 2)
    (d / "header-only.vtc").write_bytes(headonly)
    cases.append(Case("conceal-count", "header-only file declaring 2^32-2 frames, --conceal",
                      ["decode", "header-only.vtc", "-o", "out3.y4m", "--conceal"], expect="any",
                      check=lambda: _size_check(d, "out3.y4m", 10 << 20)))
    prefix = head + chunks[0] + b"\xff" * 64
    total, step = len(prefix) + (1 << 20), 64
    heads = []
    for pos in range(len(prefix), total - step + 1, step):  # each claims a payload up to the end
        heads.append(Chunk(3, 1, b"").pack()[:HEAD_SIZE - 4] + struct.pack("<I", total - pos - OVERHEAD))
        heads[-1] = heads[-1].ljust(step, b"\xff")
    resync = prefix + b"".join(heads)
    (d / "resync-1mb.vtc").write_bytes(resync)
    cases.append(Case("resync", "1 MB of chunk markers whose lengths run to the end, --conceal",
                      ["decode", "resync-1mb.vtc", "-o", "out4.y4m", "--conceal"], expect="any"))

    # 4. model name taken as a path
    planted = d / "planted"
    planted.mkdir()
    shutil.copy(vtcodec.load_model(TINY).entry.path / "model.json", planted / "model.json")
    os.mkfifo(planted / "weights.safetensors")
    (d / "model-path.vtc").write_bytes(_header_model(base, str(planted)))
    cases.append(Case("model-path", "header model name = absolute path of a planted folder (FIFO weights)",
                      ["decode", "model-path.vtc", "-o", "out5.y4m"]))
    rel = d / "vt-rel"
    shutil.copytree(vtcodec.load_model(TINY).entry.path, rel)
    (d / "model-rel.vtc").write_bytes(_header_model(base, "vt-rel"))
    cases.append(Case("model-relpath", "header model name = a folder in the current directory",
                      ["decode", "model-rel.vtc", "-o", "out5b.y4m"]))

    # 5. --start/--frames and a lying index
    cases.append(Case("frames0", "--start 1 --frames 0", ["decode", "valid.vtc", "-o", "o6.y4m",
                                                         "--start", "1", "--frames", "0"]))
    cases.append(Case("frames-neg", "--start 1 --frames -3", ["decode", "valid.vtc", "-o", "o7.y4m",
                                                             "--start", "1", "--frames", "-3"]))
    lying = _index_lie(head, chunks)
    (d / "index-lies.vtc").write_bytes(lying)
    cases.append(Case("index-lies", "CRC-valid index entry disagreeing with its chunk, --start 3",
                      ["decode", "index-lies.vtc", "-o", "o8.y4m", "--start", "3", "--frames", "2"]))

    # 6. writers on header values the reader accepts
    (d / "matrix3.vtc").write_bytes(seal_stream(raw_header(header, matrix=3), chunks[:3]))
    cases.append(Case("matrix", "colour matrix 3 (not in the spec's list) -> .y4m",
                      ["decode", "matrix3.vtc", "-o", "o9.y4m"]))
    for ext in ("y4m", "mkv", "mp4"):
        (d / "fps.vtc").write_bytes(seal_stream(raw_header(header, fps_num=2**31 + 1), chunks[:3]))
        cases.append(Case(f"fps-{ext}", f"frame rate (2^31+1)/1 -> .{ext}",
                          ["decode", "fps.vtc", "-o", f"o10.{ext}"], expect="any"))
        (d / "fpsden.vtc").write_bytes(seal_stream(raw_header(header, fps_den=2**32 - 1), chunks[:3]))
        cases.append(Case(f"fpsden-{ext}", f"frame rate 1/(2^32-1) -> .{ext}",
                          ["decode", "fpsden.vtc", "-o", f"o10d.{ext}"], expect="any"))
    for w, h in ((1, 9), (9, 1), (3, 5)):
        (d / f"s{w}x{h}.vtc").write_bytes(tiny_stream(w, h, 2, gop=2))
        for ext in ("mkv", "mp4"):
            cases.append(Case(f"{w}x{h}-{ext}", f"a valid {w}x{h} stream -> .{ext}",
                              ["decode", f"s{w}x{h}.vtc", "-o", f"o11-{w}x{h}.{ext}"], expect="success"))

    # 7. signals: SIGTERM during a long decode leaves no temp file
    long = tiny_stream(640, 480, 32, gop=8)
    (d / "long.vtc").write_bytes(long)
    cases.append(Case("sigterm", "SIGTERM 2 s into a decode", ["decode", "long.vtc", "-o", "o12.mkv"],
                      expect="any", signal_after=2.0,
                      check=lambda: _leftovers(d, "o12.mkv")))

    # 8. pickles
    run = d / "run"
    run.mkdir()
    with open(run / "last.pt", "wb") as f:
        pickle.dump(_Boom(str(d / "PWNED")), f)
    cases.append(Case("pickle-export", "vtcodec export of a crafted last.pt",
                      ["export", "run", "-o", "exported"],
                      check=lambda: "ran a command from the pickle" if (d / "PWNED").exists() else None))

    # 9. crafted model folders
    for name, what in _model_folders(d):
        cases.append(Case(f"model-{name}", f"--model folder: {what}",
                          ["encode", "clip.y4m", "-o", f"m-{name}.vtc", "--model", f"models/{name}"]))
    for name, what in _decoder_folders(d):
        cases.append(Case(f"decoder-{name}", f"--decoder folder: {what}",
                          ["decode", "valid.vtc", "-o", f"d-{name}.y4m", "--decoder", f"decoders/{name}"]))
    from vtcodec.video import VideoWriter

    w = VideoWriter(str(d / "clip.y4m"), 32, 24, 25)
    for f in moving_pattern(32, 24, 2):
        w.write(f)
    w.close()

    # 10. structure
    end_wrong = base[:-END_SIZE] + end_chunk(len(head)).pack()
    (d / "end-wrong.vtc").write_bytes(end_wrong)
    cases.append(Case("end-pointer", "end chunk pointing at the first frames chunk, not the index",
                      ["decode", "end-wrong.vtc", "-o", "o13.y4m"]))
    (d / "after-end.vtc").write_bytes(base + chunks[0])
    cases.append(Case("after-end", "a frames chunk after the end chunk",
                      ["decode", "after-end.vtc", "-o", "o14.y4m"]))
    dup_index = head + b"".join(chunks[:3]) + chunks[3] + chunks[3] + chunks[4]
    (d / "two-index.vtc").write_bytes(dup_index)
    cases.append(Case("two-index", "two index chunks", ["decode", "two-index.vtc", "-o", "o15.y4m"]))
    faulty = ROOT / "conformance" / "vectors" / "faulty"
    for v in ("14-missing-frames-count-7-has-3", "16-scale-index-out-of-range"):
        cases.append(Case(f"info-{v[:2]}", f"info on faulty/{v}", ["info", str(faulty / f"{v}.vtc")]))
    big_src = d / "big.y4m"
    big_src.write_bytes(b"YUV4MPEG2 W4100 H2400 F25:1 Ip A1:1 C420jpeg\nFRAME\n"
                        + bytes(4100 * 2400 * 3 // 2))
    cases.append(Case("encode-4100", "encode a 4100x2400 frame (above the decoder's limit)",
                      ["encode", "big.y4m", "-o", "big.vtc", "--model", TINY]))

    # 11. the parallel paths: worker processes, batches
    hostile = ["zero-payload", "chunk-1024", "trailing", "huge-header", "end-wrong", "after-end", "two-index"]
    for name in hostile[:3]:
        cases.append(Case(f"jobs-{name}", f"decode --jobs 2 of {name}.vtc",
                          ["decode", f"{name}.vtc", "-o", f"j-{name}.y4m", "--jobs", "2"]))
    (d / "batch-in").mkdir()
    for name in ["valid", *hostile]:
        shutil.copy(d / f"{name}.vtc", d / "batch-in" / f"{name}.vtc")

    def batch_check() -> str | None:
        rows = [json.loads(x) for x in (d / "batch-out" / "manifest.jsonl").read_text().splitlines()]
        done = [r["input"] for r in rows if r["status"] == "done"]
        if len(rows) != len(hostile) + 1 or [Path(x).name for x in done] != ["valid.vtc"]:
            return f"manifest: {len(rows)} rows, done: {done}"
        return None

    cases.append(Case("batch-decode", f"batch decode --jobs 2 of a folder: valid.vtc and {len(hostile)} hostile",
                      ["batch", "decode", "batch-in", "-o", "batch-out", "--jobs", "2"], expect="any",
                      check=batch_check))
    cases.append(Case("batch-fifo", "batch encode --from FIFO (no writer)",
                      ["batch", "encode", "-o", "batch-out2", "--from", "fifo-out"]))

    # 10. format 2.1 side data and raw input (issue #18): audio is side data, never the video's end
    aac = AudioStream("aac", 48000, "stereo", "fltp", (1, 48000), 128000, b"\x11\x90")

    def with_side(*side: bytes) -> bytes:  # the side chunks before the first frames chunk
        return seal_stream(head, [*side, *chunks[:3]])

    side = {
        "audio-json": (Chunk(0, 0, b"{not json", CHUNK_AUDIO_STREAM).pack(), "audio stream chunk that is not JSON"),
        "audio-codec": (Chunk(0, 0, replace(aac, codec="nosuchcodec").pack(), CHUNK_AUDIO_STREAM).pack(),
                        "audio stream naming a codec FFmpeg lacks"),
        "audio-packets": (Chunk(0, 0, aac.pack(), CHUNK_AUDIO_STREAM).pack()
                          + Chunk(0, 0, pack_packets([(0, 1024, True, b"x" * 50)])[:-20], CHUNK_AUDIO_PACKETS).pack(),
                          "audio packets chunk whose packet runs past its end"),
        "audio-template": (Chunk(0, 0, replace(aac, template=b"#EXTM3U\n#EXTINF:1,\nfile:///etc/passwd\n").pack(),
                                 CHUNK_AUDIO_STREAM).pack(), "audio template that is an HLS playlist naming a file"),
        "audio-garbage": (Chunk(0, 0, aac.pack(), CHUNK_AUDIO_STREAM).pack()
                          + Chunk(0, 0, pack_packets([(i * 1024, 1024, True, os.urandom(200)) for i in range(8)]),
                                  CHUNK_AUDIO_PACKETS).pack(), "AAC audio of random bytes"),
    }
    for name, (data, what) in side.items():
        (d / f"{name}.vtc").write_bytes(with_side(data))
        cases.append(Case(name, f"{what} -> .mkv", ["decode", f"{name}.vtc", "-o", f"{name}.mkv"], expect="success"))
    times = Chunk(0, 2, pack_times(Fraction(1, 1), [0, 2**62]), CHUNK_FRAME_TIMES).pack()
    (d / "times-huge.vtc").write_bytes(with_side(times))
    cases.append(Case("times-huge", "a frame time of 2^62 s -> .mp4", ["decode", "times-huge.vtc", "-o", "th.mp4"],
                      expect="success"))
    short = Chunk(0, 3, pack_times(Fraction(1, 1000), [0, 40]), CHUNK_FRAME_TIMES).pack()
    (d / "times-short.vtc").write_bytes(with_side(short))
    cases.append(Case("times-short", "a frame times chunk for 3 frames holding 2 times",
                      ["decode", "times-short.vtc", "-o", "ts.mkv"]))
    big = Chunk(0, 0, bytes(MAX_AUDIO_CHUNK + 1), CHUNK_AUDIO_PACKETS).pack()
    (d / "audio-huge.vtc").write_bytes(with_side(big))
    cases.append(Case("audio-huge", "an audio chunk of 2^24+1 bytes (above the spec's limit)",
                      ["decode", "audio-huge.vtc", "-o", "audio-huge.mkv"]))
    cases.append(Case("audio-huge-stdin", "the same, decoded from standard input",
                      ["decode", "-", "-o", "audio-huge2.y4m"], stdin="audio-huge.vtc"))
    rotated = bytearray(base)
    rotated[len(head) - 4 - 5:len(head) - 4 - 3] = struct.pack("<H", 45)  # the 2.1 rotation field
    (d / "rotation-45.vtc").write_bytes(seal_stream(raw_crc(bytes(rotated[:len(head)])), chunks[:3]))
    cases.append(Case("rotation-45", "header rotation 45 (not 0/90/180/270)", ["decode", "rotation-45.vtc", "-o", "r45.mkv"]))
    raw = vtcodec.decompress(base)
    (d / "clip.yuv").write_bytes(b"".join(_yuv420(f) for f in raw))
    cases.append(Case("yuv-size", "a raw .yuv with the wrong --size",
                      ["encode", "clip.yuv", "--size", "33x24", "-o", "yuv1.vtc"]))
    cases.append(Case("yuv-nosize", "a raw .yuv without --size", ["encode", "clip.yuv", "-o", "yuv2.vtc"]))
    cases.append(Case("yuv-stdin", "a raw .yuv on standard input with --size",
                      ["encode", "-", "--size", f"{header.width}x{header.height}", "-o", "yuv3.vtc", "--model", TINY],
                      expect="success", stdin="clip.yuv"))
    return cases


def raw_crc(head: bytes) -> bytes:
    """A header's bytes with its CRC made to match (any field values)."""
    import zlib

    return head[:-4] + struct.pack("<I", zlib.crc32(head[:-4]))


def _yuv420(rgb) -> bytes:
    import av

    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
    h, w = rgb.shape[:2]
    sizes = [(w, h), ((w + 1) // 2, (h + 1) // 2), ((w + 1) // 2, (h + 1) // 2)]
    import numpy as np

    return b"".join(np.frombuffer(p, np.uint8).reshape(-1, p.line_size)[:ph, :pw].tobytes()
                    for p, (pw, ph) in zip(frame.planes, sizes))


class _Boom:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def _header_model(data: bytes, name: str) -> bytes:
    """``data`` with the model name in its header replaced (any name, even a path: the name field
    follows the fixed fields, SPEC.md "Header"); CRC fixed."""
    header, head, _ = split(data)
    start = PREFIX.size + FIXED.size
    name_b = name.encode()
    body = bytearray(head[PREFIX.size:-4])
    body[FIXED.size:FIXED.size + 1 + len(header.model)] = bytes([len(name_b)]) + name_b
    packed = bytearray(head[:PREFIX.size] + bytes(body) + bytes(4))
    set_field(packed, "body_len", len(body))
    assert packed[start] == len(name_b)
    return bytes(packed) + data[len(head):]


def _index_lie(head: bytes, chunks: list[bytes]) -> bytes:
    frames = chunks[:3]
    pos, entries = len(head), []
    for c in frames:
        h = parse_head(c)
        entries.append(IndexEntry(h.first_frame, h.n_frames, pos))
        pos += len(c)
    entries[1] = IndexEntry(3, 2, entries[1].offset)  # chunk 1 holds 3 frames, not 2
    entries[2] = IndexEntry(5, 2, entries[2].offset)
    return head + b"".join(frames) + index_chunk(entries).pack() + end_chunk(pos).pack()


def _model_folders(d: Path) -> list[tuple[str, str]]:
    src = vtcodec.load_model(TINY).entry.path
    root = d / "models"
    root.mkdir()
    meta = json.loads((src / "model.json").read_text())
    weights = (src / "weights.safetensors").read_bytes()
    out = []

    def make(name: str, what: str, meta_obj=meta, raw_meta: bytes | None = None,
             weights_bytes: bytes | None = weights, sha: bool = True) -> Path:
        folder = root / name
        folder.mkdir()
        if weights_bytes is not None:
            (folder / "weights.safetensors").write_bytes(weights_bytes)
        m = json.loads(json.dumps(meta_obj)) if isinstance(meta_obj, dict) else meta_obj
        if sha and isinstance(m, dict) and weights_bytes is not None:
            import hashlib

            m["sha256"] = hashlib.sha256(weights_bytes).hexdigest()
        (folder / "model.json").write_bytes(raw_meta if raw_meta is not None else json.dumps(m).encode())
        out.append((name, what))
        return folder

    make("empty-json", "model.json empty", raw_meta=b"")
    make("json-list", "model.json a list", raw_meta=b"[1, 2]")
    make("no-config", "no config", meta_obj={k: v for k, v in meta.items() if k != "config"})
    make("config-string", "config a string", meta_obj={**meta, "config": "x"})
    make("name-int", "name a number", meta_obj={**meta, "name": 7})
    make("levels-neg", "FSQ levels negative",
         meta_obj={**meta, "config": {**meta["config"], "quantizer": "fsq", "fsq_levels": [-3, 5]}})
    make("levels-str", "FSQ levels strings",
         meta_obj={**meta, "config": {**meta["config"], "quantizer": "fsq", "fsq_levels": ["a"]}})
    make("width-huge", "encoder widths 10^6",
         meta_obj={**meta, "config": {**meta["config"], "enc_widths": [1000000, 1000000]}})
    make("groups-bad", "prior groups out of range",
         meta_obj={**meta, "config": {**meta["config"], "prior_groups": [[0, 99]]}})
    make("quantizer-x", "unknown quantizer", meta_obj={**meta, "config": {**meta["config"], "quantizer": "x"}})
    make("bits-zero", "BSQ bits 0", meta_obj={**meta, "config": {**meta["config"], "bsq_bits": 0}})
    make("no-weights", "weights missing", weights_bytes=None)
    make("weights-garbage", "weights not safetensors", weights_bytes=b"\x00" * 100)
    make("weights-trunc", "weights truncated", weights_bytes=weights[:len(weights) // 2])
    make("sha-wrong", "recorded sha256 wrong", meta_obj={**meta, "sha256": "0" * 64}, sha=False)
    make("sha-short", "recorded sha256 not 64 hex digits", meta_obj={**meta, "sha256": "abc"}, sha=False)
    import torch
    from safetensors.torch import load_file, save_file

    state = load_file(str(src / "weights.safetensors"))
    nan = {k: (v.clone().fill_(float("nan")) if i == 0 else v) for i, (k, v) in enumerate(state.items())}
    save_file(nan, str(root / "nan.st"))
    make("weights-nan", "NaN weights (hash recorded)", weights_bytes=(root / "nan.st").read_bytes())
    inf = {k: (v.clone().fill_(float("inf")) if "prior" in k else v) for k, v in state.items()}
    save_file(inf, str(root / "inf.st"))
    make("weights-inf", "inf prior weights (hash recorded)", weights_bytes=(root / "inf.st").read_bytes())
    shapes = {k: (torch.zeros(3) if i == 0 else v) for i, (k, v) in enumerate(state.items())}
    save_file(shapes, str(root / "shape.st"))
    make("weights-shape", "a tensor of the wrong shape", weights_bytes=(root / "shape.st").read_bytes())
    ints = {k: v.to(torch.int64) for k, v in state.items()}
    save_file(ints, str(root / "int.st"))
    make("weights-int", "integer tensors", weights_bytes=(root / "int.st").read_bytes())
    fifo = make("weights-fifo", "weights.safetensors a FIFO", weights_bytes=None)
    os.mkfifo(fifo / "weights.safetensors")
    zero = make("weights-devzero", "weights.safetensors a link to /dev/zero", weights_bytes=None)
    os.symlink("/dev/zero", zero / "weights.safetensors")
    jf = make("json-fifo", "model.json a FIFO", raw_meta=b"{}")
    (jf / "model.json").unlink()
    os.mkfifo(jf / "model.json")
    jz = make("json-devzero", "model.json a link to /dev/zero", raw_meta=b"{}")
    (jz / "model.json").unlink()
    os.symlink("/dev/zero", jz / "model.json")
    dj = make("json-dir", "model.json a folder", raw_meta=b"{}")
    (dj / "model.json").unlink()
    (dj / "model.json").mkdir()
    make("json-deep", "model.json nested 100,000 deep", raw_meta=b"[" * 100000 + b"]" * 100000)
    return out


def _decoder_folders(d: Path) -> list[tuple[str, str]]:
    """Crafted decoder folders (``vtcodec.decoders``) for the tiny model's streams."""
    import hashlib

    import torch
    from safetensors.torch import load_file, save_file

    from vtcodec.decoders import save_decoder

    model = vtcodec.load_model(TINY)
    good = save_decoder(model.decoder, model, d / "decoders" / "good", "good")
    meta = json.loads((good.path / "decoder.json").read_text())
    state = load_file(str(good.path / "weights.safetensors"))
    out = []

    def make(name: str, what: str, meta_obj=None, tensors: dict | None = None) -> Path:
        folder = d / "decoders" / name
        shutil.copytree(good.path, folder)
        m = json.loads(json.dumps(meta_obj or meta))
        if tensors is not None:
            save_file(tensors, str(folder / "weights.safetensors"))
            m["sha256"] = hashlib.sha256((folder / "weights.safetensors").read_bytes()).hexdigest()
        (folder / "decoder.json").write_text(json.dumps(m))
        out.append((name, what))
        return folder

    make("other-model", "serves another model's weights", {**meta, "serves": {**meta["serves"], "sha256": "1" * 64}})
    make("nan", "NaN weights (hash recorded)",
         tensors={k: v.clone().fill_(float("nan")) if i == 0 else v for i, (k, v) in enumerate(state.items())})
    make("shape", "a tensor of the wrong shape",
         tensors={k: torch.zeros(3) if i == 0 else v for i, (k, v) in enumerate(state.items())})
    fifo = make("fifo", "weights.safetensors a FIFO")
    (fifo / "weights.safetensors").unlink()
    os.mkfifo(fifo / "weights.safetensors")
    zero = make("json-devzero", "decoder.json a link to /dev/zero")
    (zero / "decoder.json").unlink()
    os.symlink("/dev/zero", zero / "decoder.json")
    return out


def _size_check(d: Path, name: str, limit: int) -> str | None:
    sizes = [p.stat().st_size for p in d.iterdir() if name in p.name and p.is_file()]
    return f"output grew to {max(sizes)} bytes" if sizes and max(sizes) > limit else None


def _leftovers(d: Path, name: str) -> str | None:
    left = [p.name for p in d.iterdir() if name in p.name and p.name.startswith(".")]
    return f"left {left}" if left else None


RSS_TAG = "vtc-hostile-peak-rss-kb="


def run(case: Case, d: Path, timeout: float) -> dict:
    """One case in a fresh process: GNU time reports its peak RSS (measured on the command itself,
    not on a fork of this process), prlimit caps its address space."""
    t0 = time.time()
    cmd = ["/usr/bin/time", "-f", f"{RSS_TAG}%M", "prlimit", f"--as={MEMORY_LIMIT}",
           sys.executable, "-m", "vtcodec", *case.argv]
    stdin = open(d / case.stdin, "rb") if case.stdin else subprocess.DEVNULL  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=stdin,
                            env={**os.environ, "VTCODEC_DEBUG": ""}, start_new_session=True)
    if case.stdin:
        stdin.close()
    hung = False
    if case.signal_after:
        time.sleep(case.signal_after)
        child = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True, check=False)
        for pid in child.stdout.split():  # the vtcodec process, not GNU time
            os.kill(int(pid), signal.SIGTERM)
    try:
        err = proc.communicate(timeout=timeout)[1].decode(errors="replace")
    except subprocess.TimeoutExpired:
        hung = True
        os.killpg(proc.pid, signal.SIGKILL)
        err = proc.communicate()[1].decode(errors="replace")
    seconds = time.time() - t0
    lines = [ln for ln in err.splitlines() if ln.strip()]
    rss = next((int(ln[len(RSS_TAG):]) for ln in lines if ln.startswith(RSS_TAG)), 0)
    lines = [ln for ln in lines if not ln.startswith(RSS_TAG) and not ln.startswith("Command ")]
    rc = proc.returncode
    if lines and lines[-1].startswith("Command terminated by signal"):
        lines.pop()
    problem = case.check() if case.check else None
    if hung:
        verdict = f"BAD: hang (killed after {timeout:.0f} s)"
    elif "Traceback" in err or "internal error" in err:
        verdict = "BAD: crash"
    elif problem:
        verdict = f"BAD: {problem}"
    elif case.expect == "error" and not (rc == 1 and lines and lines[-1].startswith("vtcodec: error:")):
        verdict = f"BAD: expected one error line and exit 1, got exit {rc}"
    elif case.expect == "success" and rc != 0:
        verdict = f"BAD: exit {rc}"
    else:
        verdict = "ok"
    return {"case": case.name, "what": case.what, "exit": rc, "seconds": round(seconds, 2),
            "max_rss_mb": round(rss / 1024), "stderr": lines[-1][:160] if lines else "", "verdict": verdict}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", help="comma-separated case names (prefixes) [all]")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per case [60]")
    ap.add_argument("--json", help="also write the rows here")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="vtc-hostile-") as tmp:
        d = Path(tmp)
        cases = build(d)
        wanted = [c for c in cases if not args.cases or any(c.name.startswith(p) for p in args.cases.split(","))]
        print("| case | input | exit | s | peak RSS MB | last stderr line | verdict |")
        print("|---|---|---|---|---|---|---|")
        for case in wanted:
            row = run(case, d, args.timeout)
            rows.append(row)
            print(f"| {row['case']} | {row['what']} | {row['exit']} | {row['seconds']} | {row['max_rss_mb']} | "
                  f"{row['stderr'].replace('|', '/')} | {row['verdict']} |", flush=True)
    bad = sum(r["verdict"].startswith("BAD") for r in rows)
    print(f"\n{len(rows)} cases, {bad} BAD")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
