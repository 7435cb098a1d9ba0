"""Hostile input: each failure the hardening campaign found (issue #19), reproduced and refused
cleanly. Stream-level cases are also faulty conformance vectors (conformance/vectors/faulty);
``python tools/hostile.py`` runs every case through the command line with time and memory
figures."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import threading
import time
import zlib
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ROOT, TINY, cli, synth_frames, write_clip
from safetensors.torch import load_file, save_file
from vtcodec.bitstream import Chunk, chunk_spans, read_header

import vtcodec
from vtcodec import files, grid, tokens
from vtcodec.codec import StreamDecoder
from vtcodec.errors import CorruptChunk, FormatError, ModelError, VideoError, VtcError
from vtcodec.output import TAG, atomic_output
from vtcodec.video import VideoWriter, read_video
from vtcodec.zoo import ZOO_DIR, load_model

FAULTY = ROOT / "conformance" / "vectors" / "faulty"
VALID = ROOT / "conformance" / "vectors" / "valid"


def one_error(p) -> str:
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == 1 and len(lines) == 1 and lines[0].startswith("vtcodec: error:"), p.stderr
    return lines[0]


def with_header(data: bytes, **fields: int) -> bytes:
    """``data`` with fixed header fields overwritten and the header CRC fixed."""
    f = io.BytesIO(data)
    read_header(f)
    head = bytearray(data[:f.tell()])
    names = ("width", "height", "fps_num", "fps_den", "frame_count")
    for name, value in fields.items():
        struct.pack_into("<I", head, 8 + 4 * names.index(name), value)
    head[-4:] = struct.pack("<I", zlib.crc32(bytes(head[:-4])))
    return bytes(head) + data[f.tell():]


# 1. work bounded by the data ------------------------------------------------------------------
def test_work_limit_refuses_before_decoding(monkeypatch):
    data = (FAULTY / "28-work-limit-1024-frames-in-24-bytes.vtc").read_bytes()
    with pytest.raises(CorruptChunk, match="work limit"):
        vtcodec.decompress(data)
    monkeypatch.setenv("VTCODEC_MAX_SYMBOLS_PER_BYTE", str(10**9))  # lifted: the payload runs out
    with pytest.raises(CorruptChunk, match="runs out"):
        vtcodec.decompress(data)


def test_frames_come_out_as_their_tokens_are_decoded(monkeypatch):
    """Memory per chunk is a batch of frames, not the chunk the header declares: the first frames
    leave the decoder before the later tokens are read."""
    data = (VALID / "08-long-gop-40f-one-chunk.vtc").read_bytes()
    f = io.BytesIO(data)
    header = read_header(f)
    from vtcodec.bitstream import read_chunk

    chunk = read_chunk(f, header)
    decoded = []
    real = tokens.TokenCoder.from_bytes

    def counting(self, *a, **kw):
        for s in real(self, *a, **kw):
            decoded.append(1)
            yield s

    monkeypatch.setattr(tokens.TokenCoder, "from_bytes", counting)
    stream = StreamDecoder(header)
    batches = stream.frames(chunk)
    first = next(batches)
    assert len(first) == grid.MAX_BATCH and len(decoded) == grid.MAX_BATCH < chunk.n_frames
    assert sum(len(b) for b in batches) + len(first) == chunk.n_frames == 40
    assert grid.batch_frames((4096, 2304)) == 1 and grid.batch_frames((64, 48)) == grid.MAX_BATCH


def test_both_decode_paths_share_the_limits(monkeypatch, tmp_path):
    data = (VALID / "07-gop-3-multi-chunk-10f.vtc").read_bytes()
    path = tmp_path / "a.vtc"
    path.write_bytes(data)
    monkeypatch.setenv("VTCODEC_MAX_PIXELS", str(32 * 24 - 1))
    msgs = []
    for decode in (lambda: vtcodec.decompress(data), lambda: list(files.iter_decode(path))):
        with pytest.raises(FormatError, match="VTCODEC_MAX_PIXELS") as exc:
            decode()
        msgs.append(str(exc.value))
    assert msgs[0] == msgs[1]
    monkeypatch.delenv("VTCODEC_MAX_PIXELS")
    # a frames chunk longer than any chunk of this stream can be: refused from its head alone
    f = io.BytesIO(data)
    header = read_header(f)
    limit = StreamDecoder(header).max_payload
    big = Chunk(0, 3, bytes([128]) + bytes(limit + 3)).pack()
    stream = data[:f.tell()] + big
    path.write_bytes(stream)
    msgs = []
    for decode in (lambda: vtcodec.Decoder().decode(stream[:f.tell() + 15]),
                   lambda: list(files.iter_decode(path))):
        with pytest.raises(FormatError, match="more than a chunk of this stream can hold") as exc:
            decode()
        msgs.append(str(exc.value))
    assert msgs[0] == msgs[1]


def test_both_decode_paths_name_the_same_damaged_chunk(tmp_path):
    data = bytearray((VALID / "07-gop-3-multi-chunk-10f.vtc").read_bytes())
    f = io.BytesIO(bytes(data))
    read_header(f)
    index_at = chunk_spans(bytes(data), f.tell())[-2][0]
    data[index_at + 20] ^= 1  # the index chunk's CRC fails
    (tmp_path / "d.vtc").write_bytes(bytes(data))
    msgs = []
    for decode in (lambda: vtcodec.decompress(bytes(data)), lambda: list(files.iter_decode(tmp_path / "d.vtc"))):
        with pytest.raises(CorruptChunk) as exc:
            decode()
        msgs.append(str(exc.value))
    assert msgs[0] == msgs[1] and f"offset {index_at}" in msgs[0]


# 2. output safety -------------------------------------------------------------------------------
def test_a_device_node_or_fifo_is_written_to_never_replaced(tmp_path):
    src = VALID / "07-gop-3-multi-chunk-10f.vtc"
    if os.geteuid() == 0:
        dev = tmp_path / "null"
        os.mknod(dev, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        assert cli("decode", str(src), "-o", str(dev), "-f").returncode == 0
        assert stat.S_ISCHR(os.stat(dev).st_mode)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []

    def read() -> None:
        with open(fifo, "rb") as f:
            got.append(f.read())

    reader = threading.Thread(target=read)
    reader.start()
    p = cli("decode", str(src), "-o", str(fifo))
    reader.join(30)
    assert p.returncode == 0, p.stderr
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and got[0].startswith(b"YUV4MPEG2 W32 H24")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock"))
    try:
        assert "not a regular file" in one_error(cli("decode", str(src), "-o", str(tmp_path / "sock"), "-f"))
    finally:
        sock.close()


def test_a_link_to_a_file_is_written_through(tmp_path):
    target = tmp_path / "real.y4m"
    target.write_bytes(b"old")
    (tmp_path / "link.y4m").symlink_to(target)
    assert cli("decode", str(VALID / "04-one-frame.vtc"), "-o", str(tmp_path / "link.y4m"), "-f").returncode == 0
    assert (tmp_path / "link.y4m").is_symlink() and target.read_bytes().startswith(b"YUV4MPEG2")


def long_stream(w: int, h: int, copies: int) -> bytes:
    """One 8-frame chunk coded once, repeated ``copies`` times (frame numbers and CRCs redone)."""
    data = vtcodec.compress(synth_frames(w, h, 8), model=TINY, gop=8)
    f = io.BytesIO(data)
    read_header(f)
    (off, size), *_ = chunk_spans(data, f.tell())
    payload = data[off + 15:off + size - 4]
    head = with_header(data[:f.tell()], frame_count=8 * copies)
    return head + b"".join(Chunk(8 * i, 8, payload).pack() for i in range(copies))


def test_sigterm_leaves_no_temporary_file_and_stale_ones_are_removed(tmp_path):
    src = tmp_path / "long.vtc"
    src.write_bytes(long_stream(640, 480, 60))
    out = tmp_path / "out.mkv"
    proc = subprocess.Popen([sys.executable, "-m", "vtcodec", "decode", str(src), "-o", str(out)],
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not any(TAG in p.name for p in tmp_path.iterdir()) and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 128 + signal.SIGTERM and "terminated" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.vtc"]
    # a temporary file of a process that died without cleaning up (kill -9): removed next time
    stale = tmp_path / f".out.mkv{TAG}999999999-dead.mkv"
    stale.write_bytes(b"x")
    with atomic_output(out, force=False) as tmp:
        tmp.write_bytes(b"done")
    assert not stale.exists() and out.read_bytes() == b"done"


# 3. concealment bounded by the data ---------------------------------------------------------------
def test_conceal_fills_only_what_the_data_accounts_for(tmp_path):
    data = (VALID / "07-gop-3-multi-chunk-10f.vtc").read_bytes()
    f = io.BytesIO(data)
    read_header(f)
    head = with_header(data[:f.tell()], frame_count=2**32 - 2)
    path = tmp_path / "h.vtc"
    path.write_bytes(head)
    damage: list = []
    out = list(files.iter_decode(path, conceal=True, damage=damage))
    filled = sum(len(b) for b in out)
    assert filled <= 3  # at most the frames a chunk head's worth of bytes could hold (gop 3)
    assert damage[-1].count == 2**32 - 2 - filled and not damage[-1].filled
    p = cli("decode", str(path), "-o", str(tmp_path / "h.y4m"), "--conceal")
    assert p.returncode == 0 and "missing frames" in p.stderr
    assert (tmp_path / "h.y4m").stat().st_size < 10_000


# 4. a stream's model name is a name, never a path -------------------------------------------------
def test_model_name_in_a_stream_is_never_opened_as_a_path(tmp_path, monkeypatch):
    import tempfile

    short = Path(tempfile.mkdtemp(prefix="vtc", dir="/tmp"))  # a name that fits the header's 64 characters
    planted = short / "planted"
    planted.mkdir()
    shutil.copy(ZOO_DIR / TINY / "model.json", planted / "model.json")
    os.mkfifo(planted / "weights.safetensors")  # would hang a reader that opened it
    base = (VALID / "04-one-frame.vtc").read_bytes()
    header = read_header(io.BytesIO(base))
    from dataclasses import replace

    for name in (str(planted), "planted"):
        head = replace(header, model=name).pack()
        monkeypatch.chdir(short)
        with pytest.raises(ModelError, match="no model of that name is installed"):
            vtcodec.decompress(head + base[len(header.pack()):])
    shutil.rmtree(short)


# 5. ranges and a lying index ------------------------------------------------------------------------
@pytest.mark.parametrize("args", [["--frames", "0"], ["--frames", "-3"], ["--start", "-1"]])
def test_bad_ranges_are_refused(args, tmp_path):
    line = one_error(cli("decode", str(VALID / "07-gop-3-multi-chunk-10f.vtc"), "-o", str(tmp_path / "o.y4m"),
                         "--start", "1", *args))
    assert "--frames" in line or "--start" in line
    assert not list(tmp_path.iterdir())


def test_an_index_entry_that_disagrees_with_its_chunk_is_refused(tmp_path):
    from vtcodec.bitstream import IndexEntry, end_chunk, index_chunk

    data = (VALID / "13-no-index-cut-after-last-chunk.vtc").read_bytes()  # frames 0-2, 3-5, 6
    f = io.BytesIO(data)
    read_header(f)
    spans = chunk_spans(data, f.tell())
    lie = index_chunk([IndexEntry(0, 3, spans[0][0]), IndexEntry(3, 3, spans[2][0])])  # CRC-valid
    path = tmp_path / "lie.vtc"
    path.write_bytes(data + lie.pack() + end_chunk(len(data)).pack())
    line = one_error(cli("decode", str(path), "-o", str(tmp_path / "o.y4m"), "--start", "3", "--frames", "2"))
    assert "disagrees" in line


# 6. writers ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("ext", ["y4m", "mkv", "mp4"])
@pytest.mark.parametrize("fps", [Fraction(2**31 + 1), Fraction(1, 2**32 - 1), Fraction(2**32 - 1, 2**32 - 3),
                                 Fraction(2**31 - 1, 2**30 + 7), Fraction(120000, 1001)])
def test_writers_take_any_frame_rate_the_format_allows(tmp_path, ext, fps):
    w = VideoWriter(str(tmp_path / f"a.{ext}"), 16, 16, fps)
    for f in synth_frames(16, 16, 2):
        w.write(f)
    w.close()
    frames, info = read_video(tmp_path / f"a.{ext}")
    assert frames.shape == (2, 16, 16, 3)
    if fps == Fraction(120000, 1001):  # a rate every container stores is written as it is
        assert not w.note and (ext != "y4m" or info.fps == fps)


@pytest.mark.parametrize("w,h", [(1, 9), (3, 5), (1, 1), (2, 3)])
def test_writers_take_any_frame_size(tmp_path, w, h):
    for ext in ("mkv", "mp4", "y4m"):
        writer = VideoWriter(str(tmp_path / f"a.{ext}"), w, h, Fraction(25))
        for f in synth_frames(w, h, 2):
            writer.write(f)
        writer.close()
        # a browser-playable .mp4 is 4:2:0, so an odd side is padded by one (with a note)
        even = (h + h % 2, w + w % 2) if ext == "mp4" else (h, w)
        assert read_video(tmp_path / f"a.{ext}")[0].shape == (2, *even, 3), ext
        assert ("padded" in writer.note) == (ext == "mp4" and even != (h, w))
    if (w, h) == (1, 9):
        assert "x264" in VideoWriter(str(tmp_path / "b.mkv"), w, h, Fraction(25)).note


def test_a_writer_that_fails_says_so_in_one_line(tmp_path):
    with pytest.raises(VideoError, match="unknown output type"):
        VideoWriter(str(tmp_path / "a.avi"), 16, 16, Fraction(25))


# 8. no pickles ------------------------------------------------------------------------------------
class _Boom:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_checkpoints_are_never_unpickled(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "run").mkdir()
    with open(tmp_path / "run" / "last.pt", "wb") as f:
        pickle.dump(_Boom(), f)
    torch.save({"model": {}, "step": 1, "config": {}, "boom": _Boom()}, tmp_path / "run2.pt")
    from vtcodec.train.export import export
    from vtcodec.train.loop import load_checkpoint

    with pytest.raises(ModelError, match="not a vtcodec checkpoint"):
        export(tmp_path / "run", tmp_path / "out")
    with pytest.raises(ModelError, match="not a vtcodec checkpoint"):
        load_checkpoint(tmp_path / "run2.pt")
    assert not (tmp_path / "PWNED").exists()
    one_error(cli("export", str(tmp_path / "run"), "-o", str(tmp_path / "out")))


# 9. model folders -----------------------------------------------------------------------------------
def _folder(root: Path, name: str, meta=None, weights: bytes | None = None, raw: bytes | None = None,
            fix_sha: bool = True) -> Path:
    src = ZOO_DIR / TINY
    meta = json.loads((src / "model.json").read_text()) if meta is None else meta
    folder = root / name
    folder.mkdir()
    if weights is not None:
        (folder / "weights.safetensors").write_bytes(weights)
        if fix_sha and isinstance(meta, dict) and "sha256" in meta:
            meta = {**meta, "sha256": hashlib.sha256(weights).hexdigest()}
    (folder / "model.json").write_bytes(raw if raw is not None else json.dumps(meta).encode())
    return folder


def _crafted(root: Path) -> list[tuple[Path, str]]:
    src = ZOO_DIR / TINY
    meta = json.loads((src / "model.json").read_text())
    weights = (src / "weights.safetensors").read_bytes()
    state = load_file(str(src / "weights.safetensors"))
    cfg = meta["config"]

    def st(tensors: dict) -> bytes:
        save_file(tensors, str(root / "t.st"))
        return (root / "t.st").read_bytes()

    first = next(iter(state))
    out = [
        (_folder(root, "empty", raw=b"", weights=weights), "not valid JSON"),
        (_folder(root, "list", raw=b"[1]", weights=weights), "JSON object"),
        (_folder(root, "deep", raw=b"[" * 100000 + b"]" * 100000, weights=weights), "not valid JSON"),
        (_folder(root, "noconfig", {k: v for k, v in meta.items() if k != "config"}, weights), "bad config"),
        (_folder(root, "cfgstr", {**meta, "config": "x"}, weights), "bad config"),
        (_folder(root, "nameint", {**meta, "name": 7}, weights), "differs from the config"),
        (_folder(root, "badname", {**meta, "name": "../x", "config": {**cfg, "name": "../x"}}, weights), "model name"),
        (_folder(root, "levels", {**meta, "config": {**cfg, "quantizer": "fsq", "fsq_levels": [-3]}}, weights), "fsq_levels"),
        (_folder(root, "wide", {**meta, "config": {**cfg, "enc_widths": [10**6, 10**6]}}, weights), "enc_widths"),
        (_folder(root, "groups", {**meta, "config": {**cfg, "prior_groups": [[0, 99]]}}, weights), "prior_groups"),
        (_folder(root, "quant", {**meta, "config": {**cfg, "quantizer": "vq"}}, weights), "quantizer"),
        (_folder(root, "bits", {**meta, "config": {**cfg, "bsq_bits": 0}}, weights), "bsq_bits"),
        (_folder(root, "shashort", {**meta, "sha256": "abc"}), "64 lowercase hex"),
        (_folder(root, "nosha", {k: v for k, v in meta.items() if k != "sha256"}), "64 lowercase hex"),
        (_folder(root, "shawrong", {**meta, "sha256": "0" * 64}, weights, fix_sha=False), "does not match the recorded"),
        (_folder(root, "garbage", meta, b"\0" * 100), "not a readable safetensors"),
        (_folder(root, "trunc", meta, weights[:len(weights) // 2]), "not a readable safetensors"),
        (_folder(root, "nan", meta, st({k: v.clone().fill_(float("nan")) if k == first else v
                                         for k, v in state.items()})), "NaN or infinite"),
        (_folder(root, "inf", meta, st({k: v.clone().fill_(float("inf")) if "prior" in k else v
                                         for k, v in state.items()})), "NaN or infinite"),
        (_folder(root, "shape", meta, st({k: torch.zeros(3) if k == first else v for k, v in state.items()})), "shape"),
        (_folder(root, "ints", meta, st({k: v.to(torch.int64) for k, v in state.items()})), "not a float type"),
        (_folder(root, "extra", meta, st({**state, "extra": torch.zeros(1)})), "names differ"),
    ]
    fifo = _folder(root, "fifo", meta)
    os.mkfifo(fifo / "weights.safetensors")
    zero = _folder(root, "zero", meta)
    os.symlink("/dev/zero", zero / "weights.safetensors")
    jfifo = _folder(root, "jfifo", meta, weights)
    (jfifo / "model.json").unlink()
    os.mkfifo(jfifo / "model.json")
    jdir = _folder(root, "jdir", meta, weights)
    (jdir / "model.json").unlink()
    (jdir / "model.json").mkdir()
    return [*out, (fifo, "not a regular file"), (zero, "not a regular file"), (jfifo, "not a regular file"),
            (jdir, "not a regular file")]


def test_crafted_model_folders_each_give_one_clear_error(tmp_path):
    cases = _crafted(tmp_path)
    assert len(cases) >= 26
    for folder, reason in cases:
        t0 = time.time()
        with pytest.raises(ModelError, match=reason):
            load_model(folder)
        assert time.time() - t0 < 30, folder.name  # a FIFO or /dev/zero must not block
    clip = write_clip(tmp_path / "c.y4m", synth_frames(16, 16, 1))
    line = one_error(cli("encode", str(clip), "-o", str(tmp_path / "x.vtc"), "--model", str(tmp_path / "nan")))
    assert "NaN" in line and not (tmp_path / "x.vtc").exists()


def test_a_broken_folder_on_the_model_path_does_not_hide_the_others(tmp_path, monkeypatch):
    _folder(tmp_path, "broken", raw=b"{")
    monkeypatch.setenv("VTCODEC_MODEL_PATH", str(tmp_path))
    assert {e.name for e in vtcodec.list_models()} >= {TINY, "vt1-fsq"}


# 10. structure, info, the encoder's limits ---------------------------------------------------------
STRUCTURE = ["06-truncated-mid-chunk-2", "07-crc-mismatch-chunk-2", "08-chunk-length-out-of-range",
             "11-frame-range-gap", "14-missing-frames-count-7-has-3", "15-bad-chunk-marker",
             "16-scale-index-out-of-range", "17-matrix-outside-spec-list", "18-index-disagrees-with-chunks",
             "19-end-chunk-points-at-a-frames-chunk", "20-frames-chunk-after-end-chunk", "21-two-index-chunks",
             "22-index-without-end-chunk", "23-frames-chunk-after-index", "24-end-chunk-without-index",
             "31-frame-count-zero", "32-quality-11"]


@pytest.mark.parametrize("name", STRUCTURE)
def test_info_reports_what_a_decoder_refuses(name):
    """info reads structure only (no model, no payload decoding): every faulty vector of that level
    ends in exit 1 with the problem, after the table."""
    p = cli("info", str(FAULTY / f"{name}.vtc"))
    assert p.returncode == 1 and "Traceback" not in p.stderr, p.stderr
    assert p.stderr.startswith("vtcodec: error:")


def test_info_lists_the_chunks_after_a_damaged_one(tmp_path):
    data = bytearray((VALID / "07-gop-3-multi-chunk-10f.vtc").read_bytes())
    f = io.BytesIO(bytes(data))
    read_header(f)
    spans = chunk_spans(bytes(data), f.tell())
    data[spans[1][0] + 20] ^= 1
    (tmp_path / "d.vtc").write_bytes(bytes(data))
    report = vtcodec.inspect(tmp_path / "d.vtc")
    assert len(report.problems) >= 1 and "CRC" in report.problems[0]
    assert [c.first_frame for c in report.chunks if c.kind == 0] == [0, 6, 9]
    p = cli("info", str(tmp_path / "d.vtc"))
    assert p.returncode == 1 and "6-8" in p.stdout and "CRC" in p.stderr


def test_uncommon_vectors_have_consistent_offsets():
    for name in ("01-minor-version-9-extra-header-field", "02-unknown-chunk-type-7-skipped"):
        assert vtcodec.inspect(ROOT / "conformance" / "vectors" / "uncommon" / f"{name}.vtc").problems == []


def test_the_encoder_refuses_what_its_decoder_would(monkeypatch):
    with pytest.raises(FormatError, match="VTCODEC_MAX_PIXELS"):
        vtcodec.Encoder(4100, 2400, model=TINY)
    with pytest.raises(FormatError, match="colour matrix"):
        vtcodec.Encoder(16, 16, model=TINY, matrix=3)
    monkeypatch.setenv("VTCODEC_MAX_PIXELS", str(4100 * 2400))
    assert vtcodec.Encoder(4100, 2400, model=TINY).header.width == 4100


def test_hostile_payloads_end_in_a_clear_error_through_the_cli(tmp_path):
    for name in ("25-payload-with-trailing-words", "26-payload-runs-out", "27-payload-of-zero-words",
                 "28-work-limit-1024-frames-in-24-bytes", "29-work-limit-4096x2304-header-40x24-chunk"):
        for extra in ([], ["--conceal"]):
            p = cli("decode", str(FAULTY / f"{name}.vtc"), "-o", str(tmp_path / "o.y4m"), "-f", *extra)
            if extra:  # concealed: bounded output, damage reported
                assert p.returncode in (0, 1) and "Traceback" not in p.stderr, p.stderr
                if p.returncode == 0:
                    assert "concealed" in p.stderr or "missing" in p.stderr or "skipped" in p.stderr
            else:
                one_error(p)
    assert not any(TAG in q.name for q in tmp_path.iterdir())


def test_errors_are_vtc_errors():
    assert issubclass(CorruptChunk, VtcError) and issubclass(VideoError, VtcError)
    assert np.array_equal(vtcodec.decompress((VALID / "05-one-pixel-1x1.vtc").read_bytes()).shape, (2, 1, 1, 3))
