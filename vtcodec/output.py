"""Where output goes: complete files or nothing, and never a replaced device node.

* A regular file (or a folder of PNG frames) is written under a hidden temporary name beside the
  destination, ``.NAME.vtcodec-PID-XXXX``, and moved into place only when complete. Into an
  existing folder (``-f``), the new frames replace every frame file (``NNNNNN.png``) there; other
  files stay. A symbolic
  link to a file is written through (the file is replaced, the link stays).
* An existing character device or FIFO (``/dev/null``, a named pipe) is a stream: written to as
  it is, like standard output, never replaced. Any other existing non-regular file (a block
  device, a socket) is refused.
* A failure removes the temporary file. The command line turns SIGTERM and SIGHUP into an
  exception, so a terminated command cleans up too; a temporary file left by a process that was
  killed outright (``kill -9``) is removed by the next command that writes the same destination.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import VtcError

TAG = ".vtcodec-"
FRAME_NAME = re.compile(r"\d{6,}\.png")  # the frames a decode writes into a folder


def is_stream(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an existing character device or FIFO (written to in place)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale(parent: Path, name: str) -> None:
    """Remove temporary outputs for ``parent/name`` left by processes that no longer run."""
    prefix = f".{name}{TAG}"
    try:
        entries = [p for p in parent.iterdir() if p.name.startswith(prefix)]
    except OSError:
        return
    for p in entries:
        pid = p.name[len(prefix):].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid() or _alive(int(pid)):
            continue
        try:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
        except OSError:
            pass


def _same(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


@contextmanager
def atomic_output(path: str | os.PathLike, force: bool, is_dir: bool = False,
                  source: str | os.PathLike | None = None) -> Iterator[Path]:
    """Yield a temporary path (a file, or a folder when ``is_dir``) beside ``path``; it replaces
    ``path`` only if the block succeeds. Refuses to overwrite without ``force``, to replace
    anything but a regular file (or, with ``is_dir``, a folder), and, even with ``force``, to
    replace ``source`` (the input: the same file by any name, a link or a hard link); an
    unwritable destination fails before any work."""
    path = Path(path)
    real = Path(os.path.realpath(path)) if path.is_symlink() else path
    if source is not None and str(source) != "-" and real.exists() and _same(source, real):
        raise VtcError(f"{path}: is the input itself (vtcodec never overwrites its input)")
    if real.exists():
        mode = real.stat().st_mode
        if is_dir:
            if not stat.S_ISDIR(mode):
                raise VtcError(f"{path}: exists and is not a folder" if stat.S_ISREG(mode) else
                               f"{path}: is not a regular file (vtcodec never replaces one)")
            if not force and any(real.iterdir()):
                raise VtcError(f"{path}: already exists (use -f to overwrite)")
        else:
            if stat.S_ISDIR(mode):
                raise VtcError(f"{path}: is a directory")
            if not stat.S_ISREG(mode):
                raise VtcError(f"{path}: is not a regular file (vtcodec never replaces one)")
            if not force:
                raise VtcError(f"{path}: already exists (use -f to overwrite)")
    parent = real.resolve().parent
    if not parent.is_dir():
        raise VtcError(f"{path}: folder {parent} does not exist")
    clean_stale(parent, real.name)
    tmp = parent / f".{real.name}{TAG}{os.getpid()}-{secrets.token_hex(4)}{'' if is_dir else real.suffix}"
    try:
        if is_dir:
            tmp.mkdir()
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 & ~umask))
    except OSError as exc:
        raise VtcError(f"{path}: cannot write ({exc.strerror})") from None
    try:
        yield tmp
        if is_dir:
            real.mkdir(exist_ok=True)
            for f in real.iterdir():  # the frames of an earlier decode (-f) go: never a mix of two
                if FRAME_NAME.fullmatch(f.name) and f.is_file() and not f.is_symlink():
                    f.unlink()
            for f in sorted(tmp.iterdir()):
                os.replace(f, real / f.name)
            tmp.rmdir()
        else:
            os.replace(tmp, real)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()
        raise
