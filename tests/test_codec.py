"""End-to-end codec tests on synthetic clips (tiny BSQ model and the default FSQ model)."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
from conftest import TINY, synth_frames, write_clip
from vtcodec.bitstream import read_header

from vtcodec import files, metrics
from vtcodec.video import read_video


@pytest.mark.parametrize("model", [TINY, "vt1-fsq", "vt2-fsq-tiny", "vt2t-fsq-tiny", "vt2r-fsq-tiny"])
def test_round_trip_tokens_identical(tmp_path, model):
    src = write_clip(tmp_path / "a.y4m", synth_frames(72, 40, 7))
    enc, dec = [], []
    st = files.encode_file(src, tmp_path / "a.vtc", model=model, gop=4, tokens_out=enc)
    frames = np.concatenate(list(files.iter_decode(tmp_path / "a.vtc", tokens_out=dec)))
    assert [t.shape[0] for t in enc] == [4, 3]
    assert all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(enc, dec, strict=True))
    assert frames.shape == (7, 40, 72, 3)
    assert st.bytes == (tmp_path / "a.vtc").stat().st_size
    # the prior codes within 1% of the information content, and below raw token bits
    assert st.payload_bits <= st.ideal_bits * 1.01 + 64 * st.chunks
    assert st.payload_bits < st.raw_bits
    original, _ = read_video(src)
    assert metrics.psnr(original, frames) > 15  # a reconstruction, not noise


@pytest.mark.parametrize("w,h,n", [(33, 17, 3), (1, 1, 1), (8, 8, 2), (17, 90, 2)])
def test_odd_and_tiny_sizes(tmp_path, w, h, n):
    src = write_clip(tmp_path / "a.y4m", synth_frames(w, h, n), pix_fmt="yuv444p")
    st = files.encode_file(src, tmp_path / "a.vtc", model=TINY)
    with open(tmp_path / "a.vtc", "rb") as f:
        hd = read_header(f)
    assert (hd.width, hd.height, hd.frame_count, hd.chroma) == (w, h, n, "444")
    out = files.decode_file(tmp_path / "a.vtc", tmp_path / "b.y4m")
    back, info = read_video(tmp_path / "b.y4m")
    assert back.shape == (n, h, w, 3) and out.frames == st.frames == n
    assert info.fps == Fraction(25)


def test_frame_rate_and_count_kept_for_ntsc_rate(tmp_path):
    src = write_clip(tmp_path / "a.mkv", synth_frames(48, 32, 11), fps=Fraction(30000, 1001))
    files.encode_file(src, tmp_path / "a.vtc", model=TINY, gop=4)
    files.decode_file(tmp_path / "a.vtc", tmp_path / "b.mkv")
    back, info = read_video(tmp_path / "b.mkv")
    assert info.fps == Fraction(30000, 1001) and back.shape[0] == 11


ENCODE = """
import sys, torch
torch.set_num_threads({threads})
from vtcodec import codec, files
tok = []
files.encode_file(sys.argv[1], sys.argv[2], model=sys.argv[3], gop=3, tokens_out=tok)
print(codec.digest_tokens(tok))
"""
DECODE = """
import sys, torch
torch.set_num_threads({threads})
from vtcodec import codec, files
tok = []
for _ in files.iter_decode(sys.argv[1], tokens_out=tok):
    pass
print(codec.digest_tokens(tok), torch.get_num_threads())
"""


@pytest.mark.parametrize("model", [TINY, "vt1-fsq", "vt2-fsq-tiny", "vt2t-fsq-tiny", "vt2r-fsq-tiny"])
def test_encoder_one_thread_decoder_two_threads_agree(tmp_path, model):
    src = write_clip(tmp_path / "a.y4m", synth_frames(96, 64, 5, seed=3))
    enc = subprocess.run([sys.executable, "-c", ENCODE.format(threads=1), str(src),
                          str(tmp_path / "a.vtc"), model], capture_output=True, text=True, check=True)
    dec = subprocess.run([sys.executable, "-c", DECODE.format(threads=2), str(tmp_path / "a.vtc")],
                         capture_output=True, text=True, check=True)
    digest, threads = dec.stdout.split()
    assert threads == "2"
    assert digest == enc.stdout.strip()


@pytest.mark.parametrize("pix_fmt,chroma", [("gray", "mono"), ("yuv422p", "422"), ("yuv444p", "444")])
def test_chroma_layouts_kept(tmp_path, pix_fmt, chroma):
    src = write_clip(tmp_path / "a.mkv", synth_frames(32, 24, 2), pix_fmt=pix_fmt)
    files.encode_file(src, tmp_path / "a.vtc", model=TINY)
    with open(tmp_path / "a.vtc", "rb") as f:
        assert read_header(f).chroma == chroma
    files.decode_file(tmp_path / "a.vtc", tmp_path / "b.mkv")
    back, info = read_video(tmp_path / "b.mkv")
    assert info.chroma == chroma and back.shape == (2, 24, 32, 3)
