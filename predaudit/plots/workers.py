"""Drawing a command's figures on every core: forked processes, each drawing whole figures.

A figure costs matplotlib's own Python work (ticks, layout, glyphs), one core's worth,
and the figures of a command do not depend on each other. Inside :func:`drawing`, each
figure writer hands its figure over as a job (:func:`figure_job`: the path it will be
written to and a function that builds and saves it) instead of drawing it at once; when
the block ends, the jobs are run: by the process itself and by forked copies of it
(``os.fork``, Linux only), which already hold the data, matplotlib and its fonts, and
pull the next job from a shared queue until it is empty. Each figure is still written
atomically (:func:`~predaudit.output.write_atomic`) by whichever process draws it,
byte for byte the figure the process itself would have drawn.

Errors surface as without workers: a job a worker could not finish (an exception, a
worker killed) is drawn again by the process itself, in order, so the error (the same
exception, with its traceback under ``--debug``) is raised there, and the command exits
with the same code. When the process itself fails, its workers are stopped and waited
for before the error propagates, so nothing writes into the output folder after.

Figures are drawn one after the other, in the process itself, where forking is not
safe or would not help: not Linux, one usable core, fewer than two jobs, a thread of
the process that could hold a lock in the middle of its work (any thread other than
the reduction pool's idle ones), or a call from a thread other than the main one.
Workers never use the reduction pool (a forked child has none of its threads: see
:mod:`predaudit.reduce.pool`) and leave with ``os._exit``, running no exit handler of
the process they were forked from.
"""

from __future__ import annotations

import gc
import os
import select
import signal
import struct
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

MAX_WORKERS = 4
"""At most this many processes draw (the process itself included)."""

WAIT_SECONDS = 60.0
"""A worker that reports no figure for this long (or 20 times the longest figure this
process drew, when that is longer) is stopped, and its jobs are drawn by this process."""

REAP_SECONDS = 5.0
"""A worker asked to stop is killed when it has not left after this long."""

_IDLE_THREADS = ("predaudit-reduce",)
"""Name prefixes of the threads that are idle while figures are drawn (the reduction pool
waits for work on its queue and holds no lock the drawing needs)."""

_INDEX = struct.Struct("<I")
_RESULT = struct.Struct("<IB")
_MAX_JOBS = 4096  # job indices written into the queue pipe before forking: 16 KiB, never blocks


@dataclass(frozen=True)
class Job:
    """One figure: the file ``draw()`` writes (atomically), and ``draw`` itself."""

    path: Path
    draw: Callable[[], object]


_pending: list[list[Job]] = []
"""The jobs of each open :func:`drawing` block, innermost last."""


def figure_job(path: Path, draw: Callable[[], object]) -> Path:
    """Run ``draw()`` (which writes ``path``) now, or inside :func:`drawing` when the block
    ends; returns ``path``."""
    if _pending and threading.current_thread() is threading.main_thread():
        _pending[-1].append(Job(Path(path), draw))
    else:
        draw()
    return Path(path)


@contextmanager
def drawing(workers: int | None = None) -> Iterator[None]:
    """Draw the figures handed to :func:`figure_job` inside the block when it ends, on up
    to ``workers`` processes (default: the usable cores, at most :data:`MAX_WORKERS`).

    When the block is left by an exception, the jobs not yet run are dropped."""
    jobs: list[Job] = []
    _pending.append(jobs)
    try:
        yield
    finally:
        _pending.pop()
    run_jobs(jobs, workers=workers)


def run_jobs(jobs: Sequence[Job], *, workers: int | None = None) -> None:
    """Run every job: in forked workers and this process (see the module), or in order."""
    n = _worker_count(len(jobs), workers)
    if n <= 1:
        for job in jobs:
            job.draw()
        return
    done = _run_forked(jobs, n)
    for i, job in enumerate(jobs):
        if i not in done:  # a worker failed or died: the error surfaces here, as without one
            job.draw()


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def fork_is_safe() -> bool:
    """Whether this process can fork workers: Linux, the main thread, no busy threads."""
    if not sys.platform.startswith("linux") or not hasattr(os, "fork"):
        return False
    main = threading.main_thread()
    if threading.current_thread() is not main:
        return False
    return all(t is main or t.name.startswith(_IDLE_THREADS) for t in threading.enumerate())


def _worker_count(n_jobs: int, workers: int | None) -> int:
    if n_jobs < 2 or n_jobs > _MAX_JOBS:
        return 1
    n = min(MAX_WORKERS, _usable_cores()) if workers is None else max(1, int(workers))
    n = min(n, n_jobs)
    return n if n > 1 and fork_is_safe() else 1


def _run_forked(jobs: Sequence[Job], n: int) -> set[int]:
    """Run ``jobs`` on this process and up to ``n - 1`` forked ones; the indices of those
    done. Raises what a job of this process raises (after stopping and waiting for the
    others); a job a worker failed, or did not finish in time, is left out of the set."""
    queue_r, queue_w = os.pipe()
    os.write(queue_w, b"".join(_INDEX.pack(i) for i in range(len(jobs))))
    os.close(queue_w)  # the queue is full: a read past its end is the end of the work
    results_r, results_w = os.pipe()
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()  # nothing buffered is written twice
    pids: list[int] = []
    parent = os.getpid()
    try:
        for _ in range(n - 1):
            try:
                pid = _fork()
            except OSError:  # no more processes: the ones there are do the work
                break
            if pid == 0:
                _worker(jobs, queue_r, results_w, parent)  # never returns
            pids.append(pid)
        os.close(results_w)
        results_w = -1
        done, longest = _drain(jobs, queue_r)
        data, stuck = _results(results_r, timeout=max(WAIT_SECONDS, 20 * longest))
        if stuck:  # the jobs it has not reported are drawn again below
            for pid in pids:
                os.kill(pid, signal.SIGKILL)
    except BaseException:
        for pid in pids:
            os.kill(pid, signal.SIGTERM)  # a worker's own handler removes its temporary file
        raise
    finally:
        os.close(queue_r)
        os.close(results_r)
        if results_w >= 0:
            os.close(results_w)
        for pid in pids:
            _reap(pid)
    for offset in range(0, len(data) - len(data) % _RESULT.size, _RESULT.size):
        index, ok = _RESULT.unpack_from(data, offset)
        if ok:
            done.add(index)
    return done


def _fork() -> int:
    """``os.fork()``, without Python 3.12's warning about the threads :func:`fork_is_safe`
    accepted (the reduction pool's idle threads, and native threads such as a BLAS
    library's, which the drawing never uses and which have fork handlers of their own)."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r".*multi-threaded.*fork", category=DeprecationWarning
        )
        return os.fork()


def _drain(jobs: Sequence[Job], queue_r: int) -> tuple[set[int], float]:
    """Run the jobs whose indices this process reads from the queue until it is empty;
    their indices, and the longest one's seconds."""
    done: set[int] = set()
    longest = 0.0
    while len(chunk := os.read(queue_r, _INDEX.size)) == _INDEX.size:
        (index,) = _INDEX.unpack(chunk)  # reads of 4 bytes from a pipe are whole or nothing
        start = time.perf_counter()
        jobs[index].draw()
        longest = max(longest, time.perf_counter() - start)
        done.add(index)
    return done, longest


def _worker(jobs: Sequence[Job], queue_r: int, results_w: int, parent: int) -> NoReturn:
    """A forked worker: draw jobs from the queue, report each, leave with ``os._exit``.

    It stops at its first error (the process it was forked from draws that job again)."""
    code = 1
    try:
        signal.signal(signal.SIGTERM, _leave)
        _stop_with_parent(parent)
        gc.freeze()  # the parent's objects: never walked, never copied by the collector
        while len(chunk := os.read(queue_r, _INDEX.size)) == _INDEX.size:
            (index,) = _INDEX.unpack(chunk)
            try:
                jobs[index].draw()
            except BaseException:
                os.write(results_w, _RESULT.pack(index, 0))
                raise
            os.write(results_w, _RESULT.pack(index, 1))
        code = 0
    finally:
        os._exit(code)


def _stop_with_parent(parent: int) -> None:
    """Have the kernel stop this worker (SIGTERM) if the process it was forked from is
    killed before it, instead of drawing on into a folder nobody will move."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not glibc/Linux: the worker finishes its jobs
        pass
    if os.getppid() != parent:  # already gone before the request was made
        raise SystemExit(1)


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _leave(signum: int, frame: object) -> None:
    raise SystemExit(1)


def _results(fd: int, *, timeout: float) -> tuple[bytes, bool]:
    """What the workers report, read until they have all left (the end of the pipe); and
    whether reading stopped early because none reported anything for ``timeout`` seconds
    (a worker stuck)."""
    parts: list[bytes] = []
    while True:
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            return b"".join(parts), True
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(parts), False
        parts.append(chunk)


def _reap(pid: int) -> None:
    """Wait for the worker ``pid`` (killed if it has not left within a few seconds)."""
    deadline = time.monotonic() + REAP_SECONDS
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG) != (0, 0):
                return
        except ChildProcessError:
            return
        time.sleep(0.005)
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
