"""Batch jobs: encode or decode a list or folder of files into an output folder.

``plan`` turns inputs (files, folders searched recursively, or a list file) into tasks, each one
input and one output; output paths mirror the layout under a given folder, and two inputs that
would write the same output are refused before any work. Every finished task appends one JSON
line to the manifest (``OUT/manifest.jsonl`` unless told otherwise): input, output, status
(``done`` or ``failed``), bytes, bpp, frames, width, height, seconds, error, note (what rate
control or concealment reported), settings, attempts. The manifest is the job's memory:

* **Resumable**: a task the manifest records as done, with the same settings, whose output still
  has the recorded size, is skipped. Outputs are written under a temporary name and moved into
  place when complete (``vtcodec.output``), and a manifest line is flushed and synced after its
  output is in place, so a batch killed at any moment (Ctrl-C, ``kill -9``, a lost machine) is
  continued by running the same command again. A line cut short by the kill is ignored.
* **One failure is one line**: a file that fails (not a video, damaged, unwritable output) is
  recorded with its error and the others go on; the exit status says that something failed.

Where tasks run (``runner``):

* ``LocalRunner``: a pool of ``jobs`` worker processes on this machine (``vtcodec.workers``), each
  coding one file at a time with a share of the cores. A worker that dies takes down the tasks
  then in flight; they are retried in a new pool, at most ``retries`` times each.
* ``RayRunner``: one Ray task per file on a Ray cluster (``pip install vtcodec[ray]``), each
  asking for ``threads`` CPUs; Ray reschedules a task whose worker or node dies (``retries``
  times), and results stream back to the manifest as they finish. Every node needs vtcodec
  installed (same version, same models) and the inputs and the output folder at the same paths
  (a shared filesystem), as with any cluster file job. Ray over Dask: Ray's task retries on
  worker and node loss, its per-task CPU requests and its autoscaling clusters on every cloud
  fit independent, CPU-heavy, minute-long tasks; Dask's strength, data frames and arrays split
  across workers, is not needed here.

Whatever the runner, each file is coded exactly as ``vtcodec encode``/``decode`` would code it:
the same bytes.
"""

from __future__ import annotations

import json
import logging
import os
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import VtcError
from .workers import WorkerDied, Workers, check_jobs, cpu_count

VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mkv", ".webm", ".mov", ".avi", ".y4m", ".mpg", ".mpeg", ".ts",
                              ".mts", ".m2ts", ".flv", ".wmv", ".ogv", ".3gp", ".mxf", ".gif"})
DECODE_FORMATS = ("mkv", "y4m", "mp4", "png")
MANIFEST = "manifest.jsonl"


@dataclass(frozen=True)
class Task:
    """One file to code: ``kind`` is ``encode`` or ``decode``; ``options`` are the keyword
    arguments of ``vtcodec.encode_file`` / ``decode_file`` (JSON values only)."""

    kind: str
    input: str
    output: str
    options: dict = field(default_factory=dict)

    @property
    def settings(self) -> str:
        """What the output depends on (``force`` does not change it)."""
        return json.dumps({"kind": self.kind, **{k: v for k, v in self.options.items() if k != "force"}},
                          sort_keys=True)


def run_task(task: Task, threads: int | None = None) -> dict:
    """Code one file; a manifest row. Whatever goes wrong with the file is the row's error (an
    unexpected exception too, as ``internal error: ...``), so that one file never stops a batch."""
    from .files import decode_file, encode_file

    if threads:
        import torch

        torch.set_num_threads(threads)
    t0 = time.time()
    row = _row(task)
    try:
        Path(task.output).parent.mkdir(parents=True, exist_ok=True)
        if task.kind == "encode":
            stats = encode_file(task.input, task.output, **task.options)
            note = stats.note
        else:
            damage: list = []
            stats = decode_file(task.input, task.output, damage=damage, **task.options)
            note = "; ".join(filter(None, [stats.note, *(_damage_note(d) for d in damage)]))
        row.update(status="done", bytes=stats.bytes, bpp=round(stats.bpp, 6), frames=stats.frames,
                   width=stats.width, height=stats.height, note=note or None)
    except VtcError as exc:
        row.update(error=str(exc))
    except OSError as exc:  # a file system error outside vtcodec's own checks
        row.update(error=f"{exc.filename or task.input}: {exc.strerror or exc}")
    except Exception as exc:  # noqa: BLE001 - a bug: recorded, and the batch goes on
        row.update(error=f"internal error: {exc.__class__.__name__}: {exc}")
    row["seconds"] = round(time.time() - t0, 3)
    return row


def _damage_note(d) -> str:
    last = d.first + d.count - 1
    if d.filled:
        return f"concealed frames {d.first}-{last}: {d.reason}"
    return f"missing frames {d.first}-{last}: {d.reason}" if d.count else f"skipped damaged data: {d.reason}"


def _row(task: Task, **values: object) -> dict:
    """A manifest row (``bytes``: the .vtc's size, written or read; ``bpp`` its bits per pixel)."""
    return {"input": task.input, "output": task.output, "status": "failed", "bytes": None, "bpp": None,
            "frames": None, "width": None, "height": None, "seconds": None, "error": None, "note": None,
            **values}


def _run_local(_state: None, task: Task) -> dict:
    return run_task(task)


# ------------------------------------------------------------------------------------ inputs
def _expand(paths: Iterable[str], kind: str) -> list[tuple[Path, Path]]:
    """(input, its path relative to the output folder) for each file named or found in a folder."""
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith(".")
                           and (f.suffix.lower() == ".vtc" if kind == "decode" else f.suffix.lower() in VIDEO_EXTENSIONS))
            if not found:
                raise VtcError(f"{p}: no {'.vtc' if kind == 'decode' else 'video'} files in this folder")
            out += [(f, f.relative_to(p)) for f in found]
        else:  # a missing file is that task's failure, not the batch's
            out.append((p, Path(p.name)))
    return out


def read_list(path: str) -> list[str]:
    """Paths from a list file, one per line (blank lines and ``#`` comments ignored)."""
    import sys

    try:
        text = sys.stdin.read() if path == "-" else _regular(Path(path), "list of inputs").read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise VtcError(f"{path}: cannot read the list of inputs ({getattr(exc, 'strerror', None) or exc})") from None
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def plan(kind: str, inputs: Iterable[str], out_dir: str | os.PathLike, options: dict | None = None,
         suffix: str | None = None) -> list[Task]:
    """The tasks of a batch: each input's output in ``out_dir`` (the same relative path, with
    ``suffix``: ``.vtc`` for encode, the decoded format for decode, ``/`` for a folder of PNG
    frames). Paths are made absolute, so that workers anywhere find them."""
    if kind not in ("encode", "decode"):
        raise VtcError(f"a batch encodes or decodes, not {kind!r}")
    suffix = suffix or (".vtc" if kind == "encode" else ".mkv")
    pairs = _expand(inputs, kind)
    if not pairs:
        raise VtcError("no inputs")
    out_dir = Path(out_dir).absolute()
    tasks, seen = [], {}
    for src, rel in pairs:
        dst = out_dir / rel.with_suffix("" if suffix == "/" else suffix)
        if dst in seen:
            raise VtcError(f"{src} and {seen[dst]} would both write {dst}: give them in separate folders")
        seen[dst] = src
        tasks.append(Task(kind, str(src.absolute()), str(dst) + ("/" if suffix == "/" else ""), dict(options or {})))
    return tasks


def _regular(path: Path, what: str) -> Path:
    """``path`` if it is a regular file (a FIFO or a device would block or never end)."""
    import stat

    if not stat.S_ISREG(path.stat().st_mode):
        raise VtcError(f"{path}: the {what} must be a regular file")
    return path


# ---------------------------------------------------------------------------------- manifest
class Manifest:
    """The JSON-lines record of a batch (see the module's docstring)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.rows: dict[str, dict] = {}  # input -> its latest row
        try:
            text = _regular(self.path, "manifest").read_text(errors="replace")
        except FileNotFoundError:
            text = ""
        except OSError as exc:
            raise VtcError(f"{self.path}: cannot read the manifest ({exc.strerror})") from None
        for line in text.splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short when a batch was killed
            if isinstance(row, dict) and isinstance(row.get("input"), str):
                self.rows[row["input"]] = row
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._f = open(self.path, "a")  # noqa: SIM115 - closed by close()
        except OSError as exc:
            raise VtcError(f"{self.path}: cannot write the manifest ({exc.strerror})") from None
        if text and not text.endswith("\n"):
            self._f.write("\n")  # after a cut line, start a fresh one

    def done(self, task: Task) -> bool:
        """Whether ``task`` was done before, with the same settings, and its output is intact."""
        row = self.rows.get(task.input)
        if not row or row.get("status") != "done" or row.get("output") != task.output:
            return False
        if row.get("settings") != task.settings:
            return False
        out = Path(task.output)
        if task.kind == "encode" or out.suffix.lower() == ".vtc":
            return out.is_file() and out.stat().st_size == row.get("bytes")
        return out.exists()

    def add(self, row: dict) -> None:
        self.rows[row["input"]] = row
        self._f.write(json.dumps(row) + "\n")
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        self._f.close()


# ------------------------------------------------------------------------------------ runners
Done = Callable[[Task, dict], None]


class LocalRunner:
    """``jobs`` worker processes on this machine, each with ``threads`` torch threads (default:
    the cores shared out)."""

    def __init__(self, jobs: int = 1, retries: int = 2) -> None:
        self.jobs = check_jobs(jobs)
        self.retries = retries
        self.where = f"{self.jobs} local worker{'s' if self.jobs > 1 else ''}"

    def run(self, tasks: list[Task], done: Done) -> None:
        attempts = dict.fromkeys(range(len(tasks)), 0)
        todo = list(range(len(tasks)))
        while todo:
            workers = Workers(min(self.jobs, len(todo)), _no_state, ())
            died: list[int] = []
            try:
                inflight: dict = {}
                pending = list(todo)
                while pending or inflight:
                    while pending and len(inflight) < workers.depth:
                        i = pending.pop(0)
                        attempts[i] += 1
                        inflight[workers.submit(_run_local, tasks[i])] = i
                    fut = workers.first_done(inflight)
                    i = inflight.pop(fut)
                    try:
                        row = workers.result(fut)
                    except WorkerDied:
                        died = [i, *inflight.values(), *pending]
                        break
                    done(tasks[i], dict(row, attempts=attempts[i]))
            finally:
                workers.close()
            todo = []
            for i in died:
                if attempts[i] > self.retries:
                    done(tasks[i], _died_row(tasks[i], attempts[i]))
                else:
                    todo.append(i)


def _no_state() -> None:
    return None


def _died_row(task: Task, attempts: int) -> dict:
    return _row(task, attempts=attempts, error=f"its worker died {attempts} times (out of memory, or killed)")


class RayRunner:
    """One Ray task per file. ``address``: ``auto`` (the cluster this machine belongs to, as
    started by ``ray start``), ``local`` (a Ray instance started here, with ``jobs`` CPUs, for
    trying it out), or a cluster address (``ray://HEAD:10001``)."""

    def __init__(self, address: str = "auto", threads: int = 1, retries: int = 2, jobs: int | None = None) -> None:
        if jobs is not None:
            check_jobs(jobs)
        try:
            import ray
        except ImportError:
            raise VtcError("--ray needs Ray: pip install 'vtcodec[ray]'") from None
        self.ray = ray
        self.threads, self.retries = threads, retries
        if not ray.is_initialized():
            kwargs = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR}
            if address not in ("auto", "local"):
                _probe(address)  # Ray itself waits minutes for an address that does not answer
            try:
                with warnings.catch_warnings():  # the reason is in the exception
                    warnings.simplefilter("ignore")
                    if address == "local":
                        ray.init(num_cpus=jobs or cpu_count(), **kwargs)
                    else:
                        ray.init(address=address, **kwargs)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise VtcError(f"--ray {address}: cannot reach a Ray cluster ({first})") from None
        cpus = int(ray.cluster_resources().get("CPU", 0))
        self.where = f"Ray cluster of {cpus} CPUs ({len(ray.nodes())} node{'s' if len(ray.nodes()) > 1 else ''})"
        if cpus < threads:
            raise VtcError(f"--ray: the cluster has {cpus} CPUs, fewer than --threads {threads}")

    def run(self, tasks: list[Task], done: Done) -> None:
        ray = self.ray
        remote = ray.remote(_ray_task).options(num_cpus=self.threads, max_retries=self.retries,
                                               retry_exceptions=False)
        refs = {remote.remote(t, self.threads): t for t in tasks}
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1)
            task = refs.pop(ready[0])
            try:
                row = dict(ray.get(ready[0]), attempts=None)  # Ray does not tell a task its attempt
            except ray.exceptions.RayTaskError as exc:  # the task raised: a bug, not retried
                lines = str(exc).strip().splitlines() or [type(exc).__name__]
                row = _row(task, attempts=1, error=f"internal error: {lines[-1]}")
            except ray.exceptions.RayError:  # its worker or node died, retries spent
                row = _died_row(task, self.retries + 1)
            done(task, row)


def _probe(address: str, seconds: float = 5.0) -> None:
    """Fail in ``seconds`` if nothing listens at a Ray address (``HOST:PORT``, ``ray://HOST:PORT``)."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise VtcError(f"--ray {address}: expected auto, local, HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=seconds).close()
    except OSError as exc:
        raise VtcError(f"--ray {address}: cannot reach a Ray cluster there ({exc.strerror or exc})") from None


def _ray_task(task: Task, threads: int) -> dict:
    return run_task(task, threads)


# -------------------------------------------------------------------------------------- batch
@dataclass
class Summary:
    total: int = 0
    done: int = 0
    skipped: int = 0  # done by an earlier run
    failed: int = 0
    bytes: int = 0
    pixels: int = 0
    seconds: float = 0.0
    failures: list[dict] = field(default_factory=list)

    def count(self, row: dict) -> None:
        """Add a done file's bytes and pixels (rows of older manifests may lack some fields)."""
        self.bytes += row.get("bytes") or 0
        self.pixels += (row.get("frames") or 0) * (row.get("width") or 0) * (row.get("height") or 0)

    def line(self, kind: str, where: str, manifest: Path) -> str:
        verb = "encoded" if kind == "encode" else "decoded"
        parts = [f"batch: {self.done + self.skipped} of {self.total} files {verb}"]
        if self.skipped:
            parts.append(f"{self.skipped} done before")
        if self.failed:
            parts.append(f"{self.failed} failed")
        rate = f", {self.bytes * 8 / self.pixels:.4f} bpp" if kind == "encode" and self.pixels else ""
        return (", ".join(parts) + f"; {self.bytes} bytes{rate}, {self.seconds:.1f} s on {where}; "
                f"manifest {manifest}")


def run(tasks: list[Task], manifest: str | os.PathLike, runner: LocalRunner | RayRunner,
        progress: Callable[[Summary, dict | None], None] | None = None) -> Summary:
    """Run ``tasks`` not already done (per the manifest), recording each in it. ``progress``
    is called with the summary so far once before any work, then with each task's row."""
    t0 = time.time()
    book = Manifest(manifest)
    summary = Summary(total=len(tasks))
    todo = []
    for task in tasks:
        if book.done(task):
            summary.skipped += 1
            summary.count(book.rows[task.input])
        else:
            todo.append(task)

    def record(task: Task, row: dict) -> None:
        row = {**row, "settings": task.settings}
        book.add(row)
        if row["status"] == "done":
            summary.done += 1
            summary.count(row)
        else:
            summary.failed += 1
            summary.failures.append(row)
        if progress:
            progress(summary, row)

    if progress:
        progress(summary, None)
    try:
        if todo:
            runner.run(todo, record)
    finally:
        book.close()
        summary.seconds = time.time() - t0
    return summary
