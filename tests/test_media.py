"""What a video file carries besides frames (audio, rotation, colour, depth, timing) and the
ffmpeg/x264 habits of the command line: raw .yuv, --seek/--frames/--fps/--crf, browser .mp4."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from conftest import TINY, cli, synth_frames, write_clip
from vtcodec.bitstream import CHUNK_AUDIO_PACKETS, CHUNK_AUDIO_STREAM, CHUNK_FRAME_TIMES

import vtcodec
from vtcodec import files
from vtcodec.video import VideoReader


def clip_with_audio(path: Path, frames: np.ndarray, seconds_of_audio: float = 1.0) -> Path:
    """H.264 video and AAC stereo audio (a 440 Hz tone), as a phone would write them."""
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        a = c.add_stream("aac", rate=48000)
        a.layout = "stereo"
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts = i
            for p in v.encode(vf):
                c.mux(p)
        t = 0
        while t < seconds_of_audio * 48000:
            tone = np.sin(2 * np.pi * 440 * (np.arange(1024) + t) / 48000).astype(np.float32)
            af = av.AudioFrame.from_ndarray(np.stack([tone, tone]), format="fltp", layout="stereo")
            af.sample_rate, af.pts = 48000, t
            t += 1024
            for p in a.encode(af):
                c.mux(p)
        for s in (v, a):
            for p in s.encode():
                c.mux(p)
    return path


def audio_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]


def audio_times(path: Path) -> list[float]:
    """Each audio packet's time in seconds after the first video frame."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        t0 = float((v.start_time or 0) * v.time_base)
        return [float(p.pts * p.time_base) - t0 for p in c.demux(c.streams.audio[0]) if p.size]


def test_audio_is_carried_through_to_mkv_and_mp4_packet_for_packet(tmp_path):
    src = clip_with_audio(tmp_path / "phone.mp4", synth_frames(48, 32, 30))
    p = cli("encode", str(src), "-o", str(tmp_path / "a.vtc"), "--model", TINY, "--gop", "8")
    assert p.returncode == 0, p.stderr
    assert "audio" in p.stderr  # the summary counts the audio bytes apart from the video's
    report = vtcodec.inspect(tmp_path / "a.vtc")
    assert report.problems == [] and report.audio.codec == "aac" and report.audio.sample_rate == 48000
    kinds = [c.kind for c in report.chunks]
    assert kinds[0] == CHUNK_AUDIO_STREAM and kinds.count(CHUNK_AUDIO_PACKETS) >= 3  # interleaved per chunk
    want = audio_packets(src)
    assert len(want) > 40
    for out in ("a.mkv", "a.mp4"):
        p = cli("decode", str(tmp_path / "a.vtc"), "-o", str(tmp_path / out))
        assert p.returncode == 0, p.stderr
        assert audio_packets(tmp_path / out) == want, out
        # and in sync: every packet at its source time (Matroska keeps milliseconds)
        assert np.allclose(audio_times(tmp_path / out), audio_times(src), atol=0.0011), out
        with av.open(str(tmp_path / out)) as c:
            assert c.streams.audio[0].codec_context.extradata == av.open(str(src)).streams.audio[0].codec_context.extradata
    # a range decode cuts the audio at packet boundaries: a contiguous run of the source's packets
    p = cli("decode", str(tmp_path / "a.vtc"), "-o", str(tmp_path / "r.mkv"), "--start", "10", "--frames", "10")
    assert p.returncode == 0, p.stderr
    cut = audio_packets(tmp_path / "r.mkv")
    first = want.index(cut[0])
    assert 15 <= len(cut) <= 21 and want[first:first + len(cut)] == cut  # 0.4 s of 21.3 ms packets
    assert abs(first * 1024 / 48000 - 0.4) < 0.05  # it starts at frame 10's time (+ AAC's priming packet)
    # the streaming decoder (standard input) carries it too
    import subprocess
    import sys

    with open(tmp_path / "a.vtc", "rb") as f:
        p = subprocess.run([sys.executable, "-m", "vtcodec", "decode", "-", "-o", str(tmp_path / "s.mkv")],
                           stdin=f, capture_output=True, text=True, check=False)
    assert p.returncode == 0, p.stderr
    assert audio_packets(tmp_path / "s.mkv") == want
    # where audio cannot go, or is not wanted, a note says so
    p = cli("decode", str(tmp_path / "a.vtc"), "-o", str(tmp_path / "a.y4m"))
    assert p.returncode == 0 and "audio left out" in p.stderr
    p = cli("encode", str(src), "-o", str(tmp_path / "d.vtc"), "--model", TINY, "--gop", "8", "--audio", "drop")
    assert p.returncode == 0 and "audio (aac) dropped" in p.stderr
    assert vtcodec.inspect(tmp_path / "d.vtc").audio is None
    p = cli("encode", str(src), "-o", str(tmp_path / "s.vtc"), "--model", TINY, "--frames", "5")
    assert p.returncode == 0 and "audio left out" in p.stderr
    # a decoder that knows no audio (chunk types 3 and 4 reserved) decodes the same frames
    a, b = vtcodec.decompress((tmp_path / "a.vtc").read_bytes()), vtcodec.decompress((tmp_path / "d.vtc").read_bytes())
    assert np.array_equal(a, b)


def test_rotation_colour_and_depth_are_recorded_and_written_back(tmp_path):
    src = tmp_path / "hdr.mkv"
    with av.open(str(src), "w") as c:
        v = c.add_stream("ffv1", rate=25)
        v.width, v.height, v.pix_fmt = 40, 24, "yuv420p10le"
        v.codec_context.color_primaries, v.codec_context.color_trc, v.codec_context.colorspace = 9, 16, 9
        v.set_display_rotation(90)
        for i, f in enumerate(synth_frames(40, 24, 4)):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format="yuv420p10le")
            vf.pts = i
            for p in v.encode(vf):
                c.mux(p)
        for p in v.encode():
            c.mux(p)
    p = cli("encode", str(src), "-o", str(tmp_path / "h.vtc"), "--model", TINY)
    assert p.returncode == 0 and "10-bit" in p.stderr
    h = vtcodec.inspect(tmp_path / "h.vtc").header
    assert (h.rotation, h.primaries, h.transfer, h.bit_depth, h.matrix, h.minor) == (90, 9, 16, 10, 9, 1)
    for out in ("h.mkv", "h.mp4"):
        assert cli("decode", str(tmp_path / "h.vtc"), "-o", str(tmp_path / out)).returncode == 0
        with av.open(str(tmp_path / out)) as c:
            f = next(c.decode(video=0))
            assert (f.rotation, f.color_primaries, f.color_trc) == (90, 9, 16), out
    p = cli("decode", str(tmp_path / "h.vtc"), "-o", str(tmp_path / "h.y4m"))
    assert p.returncode == 0 and "unrotated" in p.stderr


def frame_times(path: Path) -> list[float]:
    with av.open(str(path)) as c:
        return [round(float(f.time), 3) for f in c.decode(video=0)]


def test_reader_times_and_audio_are_read_after_the_last_frame_closed_the_file(tmp_path):
    # the last chunk's times and audio are taken after iteration has closed the container (PyAV 18
    # refuses a closed container's stream attributes); video starting late makes the audio shift
    src = tmp_path / "late.mkv"
    with av.open(str(src), "w") as c:
        v = c.add_stream("ffv1", rate=25)
        v.width, v.height, v.pix_fmt = 32, 16, "yuv420p"
        a = c.add_stream("pcm_s16le", rate=8000)
        a.layout = "mono"
        for i, f in enumerate(synth_frames(32, 16, 3)):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format="yuv420p")
            vf.pts = i + 5  # the first frame at 0.2 s
            for p in v.encode(vf):
                c.mux(p)
            af = av.AudioFrame.from_ndarray(np.zeros((1, 320), np.int16), format="s16", layout="mono")
            af.sample_rate, af.pts = 8000, (i + 5) * 320
            for p in a.encode(af):
                c.mux(p)
        for s in (v, a):
            for p in s.encode():
                c.mux(p)
    reader = VideoReader(src, audio=True)
    assert len(list(reader)) == 3  # iterated to the end: the file is closed
    assert reader.take_times() == [0, 40, 80] and reader.time_base == Fraction(1, 1000)  # Matroska: ms
    packets = reader.take_audio()
    assert packets and packets[0][0] == 0  # made relative to the first frame (0.2 s = 1,600 samples)


def test_variable_frame_timing_is_kept_and_written_back(tmp_path):
    src = tmp_path / "vfr.mkv"
    times_ms = (0, 40, 80, 210, 230, 400, 445)  # off the 25 fps grid after frame 2
    with av.open(str(src), "w") as c:
        v = c.add_stream("ffv1", rate=25)
        v.width, v.height, v.pix_fmt = 32, 16, "yuv420p"
        v.time_base = v.codec_context.time_base = Fraction(1, 1000)
        for f, ms in zip(synth_frames(32, 16, len(times_ms)), times_ms):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format="yuv420p")
            vf.pts, vf.time_base = ms, Fraction(1, 1000)
            for p in v.encode(vf):
                c.mux(p)
        for p in v.encode():
            c.mux(p)
    want = [ms / 1000 for ms in times_ms]
    assert frame_times(src) == want
    p = cli("encode", str(src), "-o", str(tmp_path / "v.vtc"), "--model", TINY, "--gop", "2")
    assert p.returncode == 0, p.stderr
    kinds = [c.kind for c in vtcodec.inspect(tmp_path / "v.vtc").chunks]
    assert kinds.count(CHUNK_FRAME_TIMES) == 3  # chunks 2-3, 4-5, 6; frames 0-1 are at the constant rate
    for out in ("v.mkv", "v.mp4"):
        assert cli("decode", str(tmp_path / "v.vtc"), "-o", str(tmp_path / out)).returncode == 0
        assert frame_times(tmp_path / out) == want, out
    # a range starts at its first frame's time; standard input carries the times too
    assert cli("decode", str(tmp_path / "v.vtc"), "-o", str(tmp_path / "r.mkv"), "--start", "2", "--frames", "4").returncode == 0
    assert frame_times(tmp_path / "r.mkv") == [0.0, 0.13, 0.15, 0.32]
    import subprocess
    import sys

    with open(tmp_path / "v.vtc", "rb") as f:
        p = subprocess.run([sys.executable, "-m", "vtcodec", "decode", "-", "-o", str(tmp_path / "s.mkv")],
                           stdin=f, capture_output=True, text=True, check=False)
    assert p.returncode == 0 and frame_times(tmp_path / "s.mkv") == want
    p = cli("decode", str(tmp_path / "v.vtc"), "-o", str(tmp_path / "v.y4m"))
    assert p.returncode == 0 and "frame times left out" in p.stderr
    p = cli("encode", str(src), "-o", str(tmp_path / "c.vtc"), "--model", TINY, "--gop", "2", "--fps", "25")
    assert p.returncode == 0 and "variable frame timing" in p.stderr
    assert CHUNK_FRAME_TIMES not in [c.kind for c in vtcodec.inspect(tmp_path / "c.vtc").chunks]
    # a constant-rate source gets none
    assert cli("encode", str(write_clip(tmp_path / "k.mkv", synth_frames(32, 16, 5))), "-o", str(tmp_path / "k.vtc"),
               "--model", TINY, "--gop", "2").returncode == 0
    assert CHUNK_FRAME_TIMES not in [c.kind for c in vtcodec.inspect(tmp_path / "k.vtc").chunks]


def test_browser_mp4_is_420_at_even_size_with_a_note(tmp_path):
    src = write_clip(tmp_path / "odd.mkv", synth_frames(33, 17, 3), pix_fmt="yuv444p")
    assert cli("encode", str(src), "-o", str(tmp_path / "o.vtc"), "--model", TINY).returncode == 0
    p = cli("decode", str(tmp_path / "o.vtc"), "-o", str(tmp_path / "o.mp4"))
    assert p.returncode == 0 and "padded to 34x18" in p.stderr and "4:2:0" in p.stderr
    with av.open(str(tmp_path / "o.mp4")) as c:
        ctx = c.streams.video[0].codec_context
        assert (ctx.width, ctx.height, ctx.pix_fmt) == (34, 18, "yuv420p")


def test_raw_yuv_in_and_out(tmp_path):
    src = write_clip(tmp_path / "c.y4m", synth_frames(40, 24, 6))
    assert cli("encode", str(src), "-o", str(tmp_path / "c.vtc"), "--model", TINY).returncode == 0
    assert cli("decode", str(tmp_path / "c.vtc"), "-o", str(tmp_path / "c.yuv")).returncode == 0
    assert (tmp_path / "c.yuv").stat().st_size == 6 * 40 * 24 * 3 // 2
    p = cli("encode", str(tmp_path / "c.yuv"), "--size", "40x24", "--fps", "30000/1001", "-o", str(tmp_path / "y.vtc"),
            "--model", TINY)
    assert p.returncode == 0, p.stderr
    h = vtcodec.inspect(tmp_path / "y.vtc").header
    assert (h.width, h.height, h.fps_num, h.fps_den, h.frame_count) == (40, 24, 30000, 1001, 6)
    for args, words in ((["--size", "41x24"], "whole number"), ([], "--size"), (["--size", "40"], "WIDTHxHEIGHT"),
                        (["--size", "40x24", "--pix-fmt", "nope"], "pixel format")):
        p = cli("encode", str(tmp_path / "c.yuv"), *args, "-o", str(tmp_path / "z.vtc"), "--model", TINY)
        assert p.returncode == 1 and words in p.stderr and "Traceback" not in p.stderr, args
        assert not (tmp_path / "z.vtc").exists()


def test_seek_frames_fps_and_crf_on_encode(tmp_path):
    frames = synth_frames(32, 24, 12)
    src = write_clip(tmp_path / "c.y4m", frames)
    p = cli("encode", str(src), "-o", str(tmp_path / "c.vtc"), "--model", TINY, "--seek", "3", "--frames", "5",
            "--fps", "29.97", "--crf", "26")
    assert p.returncode == 0, p.stderr
    assert "--crf 26 is quality 5" in p.stderr
    h = vtcodec.inspect(tmp_path / "c.vtc").header
    assert (h.frame_count, h.fps_num, h.fps_den, h.quality) == (5, 30000, 1001, 5)
    # the frames kept are 3..7: the same tokens as coding those frames alone
    alone = write_clip(tmp_path / "alone.y4m", frames[3:8])
    t1, t2 = [], []
    files.encode_file(tmp_path / "c.y4m", tmp_path / "x.vtc", model=TINY, seek=3, frames=5, tokens_out=t1)
    files.encode_file(alone, tmp_path / "y.vtc", model=TINY, tokens_out=t2)
    assert vtcodec.codec.digest_tokens(t1) == vtcodec.codec.digest_tokens(t2)
    for args in (["--crf", "60"], ["--crf", "20", "-q", "5"], ["--fps", "0"], ["--seek", "-1"], ["--audio", "keep"]):
        p = cli("encode", str(src), "-o", str(tmp_path / "e.vtc"), "--model", TINY, *args)
        assert p.returncode in (1, 2) and "Traceback" not in p.stderr, args
    p = cli("encode", str(src), "-o", str(tmp_path / "e.vtc"), "--model", TINY, "--seek", "20")
    assert p.returncode == 1 and "no frames" in p.stderr


def test_progress_callbacks_of_two_or_three_arguments(tmp_path, clip):
    seen2, seen3 = [], []
    files.encode_file(clip, tmp_path / "a.vtc", model=TINY, gop=2, progress=lambda d, t: seen2.append((d, t)))
    files.encode_file(clip, tmp_path / "b.vtc", model=TINY, gop=2, force=True,
                      progress=lambda d, t, s: seen3.append((d, t, s.kbps)))
    assert [d for d, _ in seen2] == [d for d, _, _ in seen3] and seen2[-1][0] == 5
    assert all(k > 0 for _, _, k in seen3)


def test_help_has_no_bool_noise_and_models_fit_80_columns():
    p = cli("encode", "--help", env={"COLUMNS": "100"})
    assert p.returncode == 0 and "<bool>" not in p.stdout and "--crf" in p.stdout and "--seek" in p.stdout
    p = cli("models", env={"COLUMNS": "200"})
    assert p.returncode == 0 and "vt1-fsq" in p.stdout
    assert max(len(line) for line in p.stdout.splitlines()) <= 80


def test_info_reads_standard_input(tmp_path, clip):
    import subprocess
    import sys

    assert cli("encode", str(clip), "-o", str(tmp_path / "c.vtc"), "--model", TINY).returncode == 0
    with open(tmp_path / "c.vtc", "rb") as f:
        p = subprocess.run([sys.executable, "-m", "vtcodec", "info", "-"], check=False, stdin=f, capture_output=True,
                           text=True)
    assert p.returncode == 0 and "5 frames" in p.stdout and "file        -:" in p.stdout


def test_streams_a_vtc_file_cannot_keep_are_named(tmp_path):
    src = tmp_path / "two.mkv"
    with av.open(str(src), "w") as c:
        v = c.add_stream("ffv1", rate=25)
        v.width, v.height, v.pix_fmt = 32, 16, "yuv420p"
        sounds = [c.add_stream("pcm_s16le", rate=8000) for _ in range(2)]
        for a in sounds:
            a.layout = "mono"
        for i, f in enumerate(synth_frames(32, 16, 3)):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts = i
            for p in v.encode(vf):
                c.mux(p)
            for a in sounds:
                af = av.AudioFrame.from_ndarray(np.zeros((1, 320), np.int16), format="s16", layout="mono")
                af.sample_rate, af.pts = 8000, i * 320
                for p in a.encode(af):
                    c.mux(p)
        for s in (v, *sounds):
            for p in s.encode():
                c.mux(p)
    p = cli("encode", str(src), "-o", str(tmp_path / "t.vtc"), "--model", TINY)
    assert p.returncode == 0 and "left out: 1 audio stream" in p.stderr
    assert vtcodec.inspect(tmp_path / "t.vtc").audio.codec == "pcm_s16le"  # the first one is kept
