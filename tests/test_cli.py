"""The command line: outputs, summaries, and bad input of every kind (one line, no traceback,
non-zero exit, no output file left behind). Run in this process (``cli``) unless what is tested
needs a process of its own (``run_cli``)."""

from __future__ import annotations

import av
import pytest
from conftest import TINY, cli, run_cli, synth_frames, write_clip


def one_clean_error(proc) -> str:
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert lines[0].startswith("vtcodec: error:")
    return lines[0]


def leftovers(folder, name):
    return [p.name for p in folder.iterdir() if name in p.name]


def test_encode_decode_info_and_summary(tmp_path, clip):
    out = tmp_path / "a.vtc"
    p = cli("encode", str(clip), "-o", str(out), "--model", TINY)
    assert p.returncode == 0, p.stderr
    assert "encoded 5 frames 64x48" in p.stderr and "bpp" in p.stderr and "kb/s" in p.stderr
    info = cli("info", str(out))
    assert info.returncode == 0
    size = out.stat().st_size
    assert f"= {size} bytes (file: {size})" in info.stdout
    for target in ("b.y4m", "b.mkv", "b.mp4", "frames/"):
        p = cli("decode", str(out), "-o", f"{tmp_path}/{target}")
        assert p.returncode == 0, p.stderr
        assert "decoded 5 frames" in p.stderr
    assert len(list((tmp_path / "frames").glob("*.png"))) == 5
    assert av.open(str(tmp_path / "b.mp4")).streams.video[0].codec_context.name == "h264"


def test_refuses_to_overwrite_without_force(tmp_path, clip):
    out = tmp_path / "a.vtc"
    out.write_bytes(b"keep me")
    line = one_clean_error(cli("encode", str(clip), "-o", str(out), "--model", TINY))
    assert "-f" in line and out.read_bytes() == b"keep me"
    assert cli("encode", str(clip), "-o", str(out), "--model", TINY, "-f").returncode == 0
    assert out.read_bytes()[:4] == b"VTC\x1a"


def test_never_overwrites_its_input(tmp_path, clip):
    """`encode X -o X -f` once replaced the source with the .vtc; by any name it is refused now."""
    original = clip.read_bytes()
    link = tmp_path / "link.y4m"
    link.symlink_to(clip)
    hard = tmp_path / "hard.y4m"
    hard.hardlink_to(clip)
    for out in (clip, link, hard):
        line = one_clean_error(cli("encode", str(clip), "-o", str(out), "-f", "--model", TINY))
        assert "is the input itself" in line and clip.read_bytes() == original
    vtc = tmp_path / "a.vtc"
    assert cli("encode", str(clip), "-o", str(vtc), "--model", TINY).returncode == 0
    data = vtc.read_bytes()
    same = tmp_path / "same.y4m"  # the .vtc under a video's name
    same.hardlink_to(vtc)
    assert "is the input itself" in one_clean_error(cli("decode", str(vtc), "-o", str(same), "-f"))
    assert vtc.read_bytes() == data


def test_encode_output_not_named_vtc_is_noted(tmp_path, clip):
    p = cli("encode", str(clip), "-o", str(tmp_path / "a.mp4"), "--model", TINY)
    assert p.returncode == 0 and "note:" in p.stderr and "holds a .vtc stream" in p.stderr
    p = cli("encode", str(clip), "-o", str(tmp_path / "b.vtc"), "--model", TINY)
    assert p.returncode == 0 and "note:" not in p.stderr


def test_version_help_and_exit_codes(tmp_path, clip, monkeypatch):
    import vtcodec

    p = cli("--version")
    assert p.returncode == 0 and p.stdout.strip() == f"vtcodec {vtcodec.__version__}"
    assert cli("-h").returncode == 0 and cli("encode", "-h").returncode == 0
    assert cli("encode").returncode == 2  # usage
    assert cli("encode", str(tmp_path / "nope.y4m"), "-o", str(tmp_path / "a.vtc")).returncode == 1  # bad input

    def boom(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(vtcodec, "encode_file", boom)
    p = cli("encode", str(clip), "-o", str(tmp_path / "a.vtc"))
    assert p.returncode == 3 and p.stderr.strip() == (
        "vtcodec: internal error: RuntimeError: a bug (set VTCODEC_DEBUG=1 for details)")


def test_ctrl_c_exits_130_with_a_line_and_no_output(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    clip = write_clip(tmp_path / "long.y4m", synth_frames(320, 240, 160))
    out = tmp_path / "a.vtc"
    start = ("import signal, runpy; signal.signal(signal.SIGINT, signal.SIG_DFL); "  # as in a terminal
             "runpy.run_module('vtcodec', run_name='__main__')")
    proc = subprocess.Popen([sys.executable, "-c", start, "encode", str(clip), "-o", str(out),
                             "--preset", "slow", "--quiet"], stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not leftovers(tmp_path, ".a.vtc"):  # encoding has started
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130 and err.strip().splitlines()[-1] == "vtcodec: interrupted", err
    assert not leftovers(tmp_path, "a.vtc")


def test_missing_file(tmp_path):
    line = one_clean_error(cli("encode", str(tmp_path / "nope.mp4"), "-o", str(tmp_path / "a.vtc")))
    assert "no such file" in line
    assert not leftovers(tmp_path, "a.vtc")


def test_not_a_video(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("this is not a video\n" * 50)
    one_clean_error(cli("encode", str(bad), "-o", str(tmp_path / "a.vtc")))
    assert not leftovers(tmp_path, "a.vtc")


def test_zero_frame_video(tmp_path):
    empty = tmp_path / "empty.y4m"  # a valid stream header followed by no frame
    empty.write_bytes(b"YUV4MPEG2 W32 H32 F25:1 Ip A1:1 C420jpeg\n")
    line = one_clean_error(cli("encode", str(empty), "-o", str(tmp_path / "a.vtc"), "--model", TINY))
    assert "no frames" in line
    assert not leftovers(tmp_path, "a.vtc")


@pytest.mark.parametrize("cut", [3, 20, 60, -1])
def test_truncated_vtc(tmp_path, clip, cut):
    out = tmp_path / "a.vtc"
    assert cli("encode", str(clip), "-o", str(out), "--model", TINY, "--gop", "2").returncode == 0
    data = out.read_bytes()
    (tmp_path / "t.vtc").write_bytes(data[:cut])
    one_clean_error(cli("decode", str(tmp_path / "t.vtc"), "-o", str(tmp_path / "t.y4m")))
    assert not leftovers(tmp_path, "t.y4m")
    one_clean_error(cli("info", str(tmp_path / "t.vtc")))


def test_corrupt_and_newer_version_vtc(tmp_path, clip):
    out = tmp_path / "a.vtc"
    assert cli("encode", str(clip), "-o", str(out), "--model", TINY).returncode == 0
    data = bytearray(out.read_bytes())
    data[-10] ^= 0x40
    (tmp_path / "c.vtc").write_bytes(bytes(data))
    assert "CRC" in one_clean_error(cli("decode", str(tmp_path / "c.vtc"), "-o", str(tmp_path / "c.y4m")))
    newer = bytearray(out.read_bytes())
    newer[4] = 9
    (tmp_path / "n.vtc").write_bytes(bytes(newer))
    assert "version 9" in one_clean_error(cli("decode", str(tmp_path / "n.vtc"), "-o", str(tmp_path / "n.y4m")))
    assert not leftovers(tmp_path, "c.y4m") and not leftovers(tmp_path, "n.y4m")


def test_unwritable_output_and_unknown_model(tmp_path, clip):
    one_clean_error(cli("encode", str(clip), "-o", str(tmp_path / "no" / "dir" / "a.vtc"), "--model", TINY))
    assert "unknown model" in one_clean_error(cli("encode", str(clip), "-o", str(tmp_path / "a.vtc"),
                                                      "--model", "nope"))


def test_models_lists_bundled_models_with_hashes():
    p = cli("models")
    assert p.returncode == 0
    from vtcodec.zoo import list_models

    for e in list_models():
        assert e.name in p.stdout and e.sha256[:16] in p.stdout


def test_python_dash_m_and_console_script_agree(tmp_path):
    import shutil
    import subprocess

    exe = shutil.which("vtcodec")
    assert exe, "console script not installed"
    a = subprocess.run([exe, "models"], capture_output=True, text=True, check=False)
    assert a.returncode == 0 and a.stdout == run_cli("models").stdout


def test_many_input_containers(tmp_path):
    codecs = {"hevc.mkv": "libx265", "mpeg2.mpg": "mpeg2video"}
    for name in ("a.mp4", "a.avi", "a.webm", "a.mov", "hevc.mkv", "mpeg2.mpg"):
        # libx265 (PyAV 18 wheel) corrupts its heap on frames smaller than one 64x64 CTU
        w, h = (64, 64) if name == "hevc.mkv" else (40, 30)
        src = write_clip(tmp_path / name, synth_frames(w, h, 3),
                         pix_fmt="yuvj420p" if name == "a.avi" else "yuv420p", codec=codecs.get(name))
        p = cli("encode", str(src), "-o", str(tmp_path / (name + ".vtc")), "--model", TINY)
        assert p.returncode == 0, (name, p.stderr)
        assert f"encoded 3 frames {w}x{h}" in p.stderr


def test_quality_and_rate_options_are_checked(tmp_path, clip):
    line = one_clean_error(cli("encode", str(clip), "-o", str(tmp_path / "a.vtc"), "--model", TINY,
                                   "--quality", "11"))
    assert "quality must be 1..10" in line and not leftovers(tmp_path, "a.vtc")
    for bad in (["--bitrate", "fast"], ["--bitrate", "-5k"], ["--bpp", "0"], ["--quality", "3", "--bpp", "0.1"]):
        line = one_clean_error(cli("encode", str(clip), "-o", str(tmp_path / "a.vtc"), "--model", TINY, *bad))
        assert not leftovers(tmp_path, "a.vtc"), bad
    assert cli("encode", str(clip), "-o", str(tmp_path / "a.vtc"), "--model", TINY,
                   "--quality", "1").returncode == 0
    assert oct((tmp_path / "a.vtc").stat().st_mode & 0o777) != oct(0o600)  # normal permissions


def test_decode_ranges_pngs_and_damage_hints(tmp_path):
    from conftest import DEV

    vtc = tmp_path / "f.vtc"
    assert cli("encode", str(DEV / "foreman_qcif_10f.mkv"), "-o", str(vtc), "--gop", "4").returncode == 0
    whole = cli("decode", str(vtc), "-o", str(tmp_path / "all.y4m"))
    part = cli("decode", str(vtc), "-o", str(tmp_path / "part.y4m"), "--start", "5", "--frames", "3")
    bpp = [ln.split(" bpp")[0].rsplit(" ", 1)[1] for ln in (whole.stderr, part.stderr)]
    assert bpp[0] == bpp[1], bpp  # the stream's rate, not its bytes over the frames decoded
    frames = tmp_path / "frames"
    assert cli("decode", str(vtc), "-o", f"{frames}/").returncode == 0
    (frames / "notes.txt").write_text("mine")
    assert cli("decode", str(vtc), "-o", f"{frames}/", "-f", "--start", "5", "--frames", "3").returncode == 0
    assert sorted(p.name for p in frames.iterdir()) == ["000005.png", "000006.png", "000007.png", "notes.txt"]
    data = bytearray(vtc.read_bytes())
    data[200] ^= 0xFF  # inside the first chunk: a CRC mismatch
    bad = tmp_path / "bad.vtc"
    bad.write_bytes(bytes(data))
    line = one_clean_error(cli("decode", str(bad), "-o", str(tmp_path / "bad.y4m")))
    assert line.endswith("(--conceal decodes past damaged chunks)"), line


def test_pipes_closed_early_and_mp4_on_standard_input(tmp_path):
    import subprocess
    import sys

    from conftest import DEV

    vtc = tmp_path / "f.vtc"
    assert cli("encode", str(DEV / "foreman_qcif_10f.mkv"), "-o", str(vtc)).returncode == 0
    proc = subprocess.Popen([sys.executable, "-m", "vtcodec", "decode", str(vtc), "-o", "-", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.read(1000)  # like `| head -c 1000`: 380 kB of .y4m would follow
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(60) == 141 and "closed by its reader" in err, err
    assert "Traceback" not in err and "internal error" not in err and len(err.strip().splitlines()) == 1
    # an .mp4 whose index comes after its frames, which a pipe cannot seek back to
    mp4 = DEV.parent / "train" / "imageio_realshort.mp4"
    p = subprocess.run([sys.executable, "-m", "vtcodec", "encode", "-", "-o", str(tmp_path / "c.vtc"),
                        "--model", TINY], input=mp4.read_bytes(), capture_output=True, check=False)
    line = one_clean_error(subprocess.CompletedProcess(p.args, p.returncode, "", p.stderr.decode()))
    assert line.startswith("vtcodec: error: standard input:") and "give its file name" in line, line
