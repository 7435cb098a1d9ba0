"""Worker processes for chunk-parallel coding (``jobs``: ``vtcodec encode/decode --jobs N``).

Chunks are independent (each starts with no context), so N processes can code N chunks at once
while the caller assembles the results in stream order. ``Workers(jobs, setup, args)`` starts
``jobs`` processes, each of which builds its own state once with ``setup(*args)`` (a model, say);
``submit(fn, *args)`` runs ``fn(state, *args)`` in one of them and returns a future, which
``result`` waits for. With ``jobs`` = 1 nothing is started: ``fn`` runs at once in the caller with
``local`` as its state, so the serial path is the parallel path with one worker and its bytes are
the same by construction.

Processes are spawned, not forked: a fork of a process whose OpenMP pool is running can hang, and
a spawned worker imports only what it needs. Each worker ignores Ctrl-C (the parent stops the pool
and removes its temporary output) and runs torch with ``threads_per_worker(jobs)`` threads, so
that N workers never ask for more threads than the cores this process may use.

Each worker has a pipe of its own and gets a task only when idle. ``concurrent.futures``' pool
shares one result queue among its workers: a worker killed while writing to it (Ctrl-C, an error
elsewhere, the OOM killer) leaves half a message there, and the pool's thread then waits on it
forever, at exit too. Here a dead worker is seen on its own pipe and process sentinel, and is one
clear ``WorkerDied`` for the task it held; ``close`` (also at garbage collection) kills the
workers and reaps them, and nothing else waits on them.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as wait_for
from typing import Any

from .errors import VtcError

MAX_JOBS = 256
_DIED = "a worker process died (killed, or out of memory?): try fewer --jobs"


class WorkerDied(VtcError):
    """A worker process ended in the middle of a task (killed, out of memory)."""


def cpu_count() -> int:
    """The cores this process may run on (its affinity mask, which container limits set)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def threads_per_worker(jobs: int) -> int:
    """Torch threads for each of ``jobs`` workers: the cores shared out, at least one each."""
    return max(1, cpu_count() // max(1, jobs))


def check_jobs(jobs: int) -> int:
    if isinstance(jobs, bool) or not isinstance(jobs, int) or not 1 <= jobs <= MAX_JOBS:
        raise VtcError(f"jobs must be a whole number in 1..{MAX_JOBS}, not {jobs!r}")
    return jobs


def _serve(conn: Connection, setup: Callable, args: tuple, threads: int) -> None:
    """A worker's life: build the state, then answer tasks until told to stop (or the pipe ends).
    A state that failed to build answers every task with its error."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import torch

    torch.set_num_threads(threads)
    try:
        state, failed = setup(*args), None
    except Exception as exc:  # noqa: BLE001 - sent back with each task
        state, failed = None, exc
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        fn, task_args = task
        try:
            if failed is not None:
                raise failed
            reply = (True, fn(state, *task_args))
        except Exception as exc:  # noqa: BLE001 - the caller's to handle
            reply = (False, exc)
        try:
            conn.send(reply)
        except Exception as exc:  # noqa: BLE001 - an unpicklable result or error
            conn.send((False, VtcError(f"internal error: {exc.__class__.__name__}: {exc}")))


class _Proc:
    def __init__(self, ctx, setup: Callable, args: tuple, threads: int) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child, setup, args, threads), daemon=True)
        self.process.start()
        child.close()
        self.task: Future | None = None


def _stop(procs: list[_Proc]) -> None:
    for p in procs:
        if p.process.exitcode is None:
            p.process.kill()  # a task in flight is abandoned: nothing waits for its reply
    for p in procs:
        p.process.join()
        p.conn.close()


class Workers:
    """``jobs`` worker processes, each holding ``setup(*args)``; or, for one job, ``local`` (built
    with ``setup(*args)`` when not given) in this process."""

    def __init__(self, jobs: int, setup: Callable, args: tuple, local: Any = None) -> None:
        self.jobs = check_jobs(jobs)
        self.closed = False
        self.procs: list[_Proc] = []
        self.local = None
        if self.jobs == 1:
            self.local = local if local is not None else setup(*args)
            return
        self._waiting: deque[tuple[Future, Callable, tuple]] = deque()
        ctx = multiprocessing.get_context("spawn")
        threads = threads_per_worker(self.jobs)
        self._finalizer = weakref.finalize(self, _stop, self.procs)
        for _ in range(self.jobs):
            self.procs.append(_Proc(ctx, setup, args, threads))

    @property
    def depth(self) -> int:
        """How many submitted tasks to keep in flight: enough that no worker waits for the next."""
        return 2 * self.jobs if self.procs else 1

    def submit(self, fn: Callable, *args: Any) -> Future:
        """``fn(state, *args)`` in a worker; its result (or exception) through ``result``."""
        if self.closed:
            raise VtcError("these workers were closed")
        fut: Future = Future()
        if not self.procs:
            try:
                fut.set_result(fn(self.local, *args))
            except Exception as exc:  # noqa: BLE001 - handed to the caller by result()
                fut.set_exception(exc)
            return fut
        self._waiting.append((fut, fn, args))
        self._pump(0)
        return fut

    def done(self, fut: Future) -> bool:
        """Whether ``fut`` is done (collecting whatever replies have arrived)."""
        if not fut.done() and self.procs:
            self._pump(0)
        return fut.done()

    def result(self, fut: Future) -> Any:
        """``fut``'s result, waiting for it; its exception is raised here."""
        while not fut.done():
            self._pump(None)
        return fut.result()

    def first_done(self, futures: Iterable[Future]) -> Future:
        """One of ``futures`` that is done (the first in their order), waiting for one."""
        futures = list(futures)
        while True:
            for fut in futures:
                if fut.done():
                    return fut
            self._pump(None)

    def _pump(self, timeout: float | None) -> None:
        """Hand waiting tasks to idle workers, then collect replies (waiting up to ``timeout``
        for one when none is ready) and notice dead workers."""
        for p in self.procs:
            if p.task is None and self._waiting:
                fut, fn, args = self._waiting.popleft()
                if not fut.set_running_or_notify_cancel():
                    continue
                try:
                    p.conn.send((fn, args))
                except (OSError, ValueError):  # its process is gone: seen below
                    pass
                p.task = fut
        busy = [p for p in self.procs if p.task is not None]
        if not busy:
            return
        ready = set(wait_for([p.conn for p in busy] + [p.process.sentinel for p in busy], timeout))
        for p in busy:
            if p.conn in ready:
                try:
                    ok, value = p.conn.recv()
                except (EOFError, OSError):  # died while answering
                    ok, value = False, WorkerDied(_DIED)
                fut, p.task = p.task, None
                if ok:
                    fut.set_result(value)
                else:
                    fut.set_exception(value)
            elif p.process.sentinel in ready:  # died in the middle of its task
                self.close()  # that task and every other one in flight fail with WorkerDied
                return
        if self._waiting and any(p.task is None for p in self.procs):
            self._pump(0)

    def close(self) -> None:
        """Stop the workers (at once: work in flight is abandoned; its futures fail)."""
        if self.closed:
            return
        self.closed = True
        if self.procs:
            for p in self.procs:
                if p.task is not None and not p.task.done():
                    p.task.set_exception(WorkerDied(_DIED))
            for fut, _, _ in self._waiting:
                if not fut.done():
                    fut.set_exception(WorkerDied(_DIED))
            self._waiting.clear()
            self._finalizer()
