"""The public API: README examples run as written, the streaming pipeline, pipes, registry."""

from __future__ import annotations

import re
import subprocess
import sys

import av
import numpy as np
import pytest
import torch
from conftest import DEV, ROOT, TINY, synth_frames, write_clip

import vtcodec
from vtcodec.video import read_video


def readme_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.DOTALL)


@pytest.mark.parametrize("index", range(2))
def test_readme_python_examples_run(index, capsys):
    blocks = readme_blocks()
    assert len(blocks) >= 2
    exec(compile(blocks[index], f"README block {index}", "exec"), {})  # noqa: S102 - our own README
    printed = capsys.readouterr().out
    expected = re.findall(r"# (.+)$", blocks[index].splitlines()[-1])[0]
    assert printed.strip() == expected.strip()


def test_pipeline_frames_one_at_a_time_random_slices_equal_one_shot():
    frames = synth_frames(72, 48, 10, seed=5)
    enc_tokens: list = []
    enc = vtcodec.Encoder(72, 48, fps=30, model=TINY, gop=3, tokens_out=enc_tokens)
    packets = []
    for f in frames:
        packets.append(enc.encode(f))
    packets.append(enc.flush())
    assert packets[0].startswith(b"VTC\x1a") and packets[1] == b""  # bytes flow as chunks complete
    stream = b"".join(packets)
    rng = np.random.default_rng(0)
    dec_tokens: list = []
    dec = vtcodec.Decoder(tokens_out=dec_tokens)
    out, i = [], 0
    while i < len(stream):
        n = int(rng.integers(1, 200))
        out += dec.decode(stream[i:i + n])
        i += n
    dec.flush()
    one_shot = vtcodec.decompress(stream)
    assert np.array_equal(np.stack(out), one_shot)
    assert all(torch.equal(a, b) for a, b in zip(enc_tokens, dec_tokens, strict=True))
    assert one_shot.shape == (10, 48, 72, 3)


def test_compress_from_path_keeps_frame_count_in_header(tmp_path):
    src = write_clip(tmp_path / "a.mkv", synth_frames(40, 24, 6))
    data = vtcodec.compress(src, model=TINY, gop=4)
    import io

    from vtcodec.bitstream import read_header

    header = read_header(io.BytesIO(data))
    assert header.frame_count == 6 and header.gop == 4
    assert vtcodec.decompress(data).shape == (6, 24, 40, 3)


def test_av_frames_and_tensors_in_and_out():
    frames = synth_frames(32, 16, 3)
    av_frames = [av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format="yuv420p") for f in frames]
    data = vtcodec.compress(av_frames, model=TINY)
    dec = vtcodec.Decoder(output="av")
    out = dec.decode(data)
    dec.flush()
    assert len(out) == 3 and isinstance(out[0], av.VideoFrame) and out[0].width == 32
    tensors = [torch.from_numpy(f).permute(2, 0, 1).float() / 255 for f in frames]
    data2 = vtcodec.compress(tensors, model=TINY)
    dec2 = vtcodec.Decoder(output="torch")
    t = dec2.decode(data2)
    assert t[0].shape == (3, 16, 32) and t[0].dtype == torch.float32


def test_decoder_rejects_garbage_and_truncation():
    data = vtcodec.compress(synth_frames(16, 16, 2), model=TINY)
    with pytest.raises(vtcodec.FormatError, match="magic"):
        vtcodec.Decoder().decode(b"RIFF0000")
    dec = vtcodec.Decoder()
    dec.decode(data[:-5])
    with pytest.raises(vtcodec.FormatError, match="truncated"):
        dec.flush()
    with pytest.raises(vtcodec.VtcError, match="expected a 16x16"):
        vtcodec.Encoder(16, 16, model=TINY).encode(np.zeros((8, 8, 3), np.uint8))


def test_register_model_and_model_path(tmp_path, monkeypatch):
    import shutil

    from vtcodec.zoo import ZOO_DIR, find_model

    mine = tmp_path / "zoo" / "mine"
    shutil.copytree(ZOO_DIR / TINY, mine)
    meta = (mine / "model.json").read_text().replace(f'"name": "{TINY}"', '"name": "my-model"')
    (mine / "model.json").write_text(meta)
    with pytest.raises(vtcodec.ModelError):
        find_model("my-model")
    monkeypatch.setenv("VTCODEC_MODEL_PATH", str(tmp_path / "zoo"))
    assert find_model("my-model").path == mine
    assert vtcodec.load_model("my-model").cfg.quantizer == "bsq"


def test_pipe_commands_with_a_dev_clip(tmp_path):
    src, info = read_video(DEV / "foreman_qcif_10f.mkv")
    y4m = write_clip(tmp_path / "in.y4m", src, fps=info.fps)
    cmd = [sys.executable, "-m", "vtcodec"]
    with open(y4m, "rb") as stdin:
        p = subprocess.run(cmd + ["encode", "-", "-o", str(tmp_path / "out.vtc"), "--model", TINY],
                           stdin=stdin, capture_output=True, check=False)
    assert p.returncode == 0, p.stderr
    p = subprocess.run(cmd + ["decode", str(tmp_path / "out.vtc"), "-o", "-"], capture_output=True, check=False)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith(b"YUV4MPEG2 W176 H144")
    (tmp_path / "out.y4m").write_bytes(p.stdout)
    back, binfo = read_video(tmp_path / "out.y4m")
    assert back.shape == src.shape and binfo.fps == info.fps
    # and .vtc through pipes both ways
    with open(tmp_path / "out.vtc", "rb") as stdin:
        p = subprocess.run(cmd + ["decode", "-", "-o", "-"], stdin=stdin, capture_output=True, check=False)
    assert p.returncode == 0 and p.stdout.startswith(b"YUV4MPEG2")
