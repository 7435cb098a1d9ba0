"""Worker processes for chunk-parallel coding (``jobs``: ``vtcodec encode/decode --jobs N``).

Chunks are independent (each starts with no context), so N processes can code N chunks at once
while the caller assembles the results in stream order. ``Workers(jobs, setup, args)`` starts
``jobs`` processes, each of which builds its own state once with ``setup(*args)`` (a model, say);
``submit(fn, *args)`` runs ``fn(state, *args)`` in one of them and returns a future. With
``jobs`` = 1 nothing is started: ``fn`` runs at once in the caller with ``local`` as its state, so
the serial path is the parallel path with one worker and its bytes are the same by construction.

Processes are spawned, not forked: a fork of a process whose OpenMP pool is running can hang, and
a spawned worker imports only what it needs. Each worker ignores Ctrl-C (the parent stops the pool
and removes its temporary output) and runs torch with ``threads_per_worker(jobs)`` threads, so
that N workers never ask for more threads than the cores this process may use. A worker that dies
(killed, out of memory) becomes one clear ``VtcError``, and the pool's processes never outlive the
``Workers`` (``close``; also at garbage collection and exit).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import wait as wait_for
from typing import Any

from .errors import VtcError

MAX_JOBS = 256


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


_STATE: Any = None  # a worker process's state, built once by its initializer


def _start(setup: Callable, args: tuple, threads: int) -> None:
    global _STATE
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import torch

    torch.set_num_threads(threads)
    _STATE = setup(*args)


def _run(fn: Callable, args: tuple) -> Any:
    return fn(_STATE, *args)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Kill the pool's workers (work in flight is abandoned) and let the pool's own thread reap
    them: a second thread waiting on the same children could reap one first and leave the other
    believing it alive."""
    for p in list((getattr(pool, "_processes", None) or {}).values()):
        if not wait_for([p.sentinel], timeout=0):  # still running (asked without reaping it)
            p.kill()
    pool.shutdown(wait=True, cancel_futures=True)


class Workers:
    """``jobs`` worker processes, each holding ``setup(*args)``; or, for one job, ``local`` (built
    with ``setup(*args)`` when not given) in this process."""

    def __init__(self, jobs: int, setup: Callable, args: tuple, local: Any = None) -> None:
        self.jobs = check_jobs(jobs)
        self.pool: ProcessPoolExecutor | None = None
        self.closed = False
        if self.jobs == 1:
            self.local = local if local is not None else setup(*args)
            return
        self.local = None
        self.pool = ProcessPoolExecutor(self.jobs, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_start, initargs=(setup, args, threads_per_worker(self.jobs)))
        self._finalizer = weakref.finalize(self, _stop, self.pool)

    @property
    def depth(self) -> int:
        """How many submitted tasks to keep in flight: enough that no worker waits for the next."""
        return 2 * self.jobs if self.pool else 1

    def submit(self, fn: Callable, *args: Any) -> Future:
        """``fn(state, *args)`` in a worker; its result (or exception) through ``result``."""
        if self.closed:
            raise VtcError("these workers were closed")
        if self.pool is None:
            fut: Future = Future()
            try:
                fut.set_result(fn(self.local, *args))
            except Exception as exc:  # noqa: BLE001 - handed to the caller by result()
                fut.set_exception(exc)
            return fut
        try:
            return self.pool.submit(_run, fn, args)
        except BrokenProcessPool:
            raise WorkerDied(_DIED) from None

    @staticmethod
    def result(fut: Future) -> Any:
        try:
            return fut.result()
        except BrokenProcessPool:
            raise WorkerDied(_DIED) from None

    def close(self) -> None:
        """Stop the workers (at once: work in flight is abandoned)."""
        self.closed = True
        if self.pool is not None:
            self._finalizer()


_DIED = "a worker process died (killed, or out of memory?): try fewer --jobs"
