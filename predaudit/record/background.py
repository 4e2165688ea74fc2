"""One recorder's writes in the background (``Recorder(background=True)``).

In the writer process where there is one (:mod:`predaudit.record.writerproc`: Linux),
else in a writer thread: one thread shared by all recorders, which finishes its queue
before the interpreter exits. At most one epoch of a recorder is being written at a
time: :meth:`Background.wait` comes before the next. Reading a run in the process that
records it (:func:`~predaudit.io.discover.discover`) first lets the writes into it finish
(:meth:`Background.settle`).
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np

from predaudit.io import pending
from predaudit.record import writerproc
from predaudit.record.buffer import Batches
from predaudit.record.epochfile import EpochFiles, EpochJob, take
from predaudit.record.sharedmem import SharedBuffer


class Background:
    """The write under way of one recorder (whose folder's epochs ``files`` holds)."""

    def __init__(self, files: EpochFiles) -> None:
        self.files = files
        self._writing: tuple[Future[None] | writerproc.Ticket, int, Path] | None = None
        # (the writer process, the key, the shared memory) once taken: in a list the
        # finalizer holds (it cannot hold self), for a recorder dropped without close()
        self._memory: list[tuple[writerproc.Writer, int, SharedBuffer] | None] = [None]
        weakref.finalize(self, _dropped, self._memory).atexit = False
        self._taken: tuple[writerproc.Writer, int, SharedBuffer] | None = None
        self._failed: Exception | None = None  # a write's error settle() kept for wait()
        self._thread = threading.get_ident()  # the one that settles it (settle_under)
        _LIVE.add(self)
        writerproc.shared()  # started now: it is ready by the end of the first epoch

    @property
    def _shm(self) -> tuple[writerproc.Writer, int, SharedBuffer] | None:
        """(the writer process, the key, the shared memory), once taken."""
        return self._memory[0]

    def take(self, batches: Batches) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
        """The epoch's arrays for :meth:`submit` (:func:`~predaudit.record.epochfile.take`):
        copied straight into the writer process's shared memory, or for the writer thread
        copies that are not a caller's (the thread reads them later)."""
        process = writerproc.shared()
        if process is None:
            self._taken = None
            return take(batches, copy=True)
        shm = self._memory[0]
        if shm is None or shm[0] is not process:
            self.release()
            shm = self._memory[0] = process, process.key(), SharedBuffer()
        self._taken = shm
        return shm[2].take(batches)

    def submit(self, job: EpochJob) -> None:
        """Start ``job`` (:meth:`~predaudit.record.epochfile.EpochJob.run`), whose arrays
        :meth:`take` made."""
        taken, self._taken = self._taken, None
        if taken is None:
            handle: Future[None] | writerproc.Ticket = submit(
                job.path, partial(job.run, self.files)
            )
        else:  # the process that has the arrays (if it has ended, the ticket writes them)
            process, key, buf = taken
            handle = process.submit(key, buf, job, self.files)
        self._writing = handle, job.epoch, job.path

    def done(self) -> bool:
        """The write under way, if any, has finished (so :meth:`wait` would not block and
        may raise its error)."""
        if self._writing is None:
            return self._failed is not None
        return self._writing[0].done()

    def wait(self) -> None:
        """Wait for the write under way; raise its error (or the one :meth:`settle` kept)."""
        if self._failed is not None:
            failed, self._failed = self._failed, None
            raise failed
        if self._writing is None:
            return
        (writing, epoch, path), self._writing = self._writing, None
        try:
            writing.result()
        finally:
            if isinstance(writing, Future):
                reported(writing)
        self.files.add(epoch, path)  # already noted by the thread; not by the process

    def settle(self) -> None:
        """Wait for the write under way, keeping its error for the recorder's next call
        (:meth:`wait`): a reader of the run does not take it from the recorder."""
        if self._writing is None:
            return
        try:
            self.wait()
        except Exception as error:
            self._failed = error

    def release(self) -> None:
        """Give back the shared memory (the writer process unmaps it too)."""
        if self._memory[0] is not None:
            process, key, buf = self._memory[0]
            self._memory[0] = None
            buf.close()
            process.forget(key)


_LIVE: weakref.WeakSet[Background] = weakref.WeakSet()


def _dropped(memory: list[tuple[writerproc.Writer, int, SharedBuffer] | None]) -> None:
    """A recorder dropped without ``close()`` (a notebook cell run again, say): its shared
    memory goes to the writer's :meth:`~predaudit.record.writerproc.Writer.sweep`, which
    gives it back at the next job sent (not here: a collection may run under the
    writer's lock)."""
    shm = memory[0]
    if shm is not None:
        memory[0] = None
        shm[0].dropped.append((shm[1], shm[2]))


def settle_under(path: os.PathLike[str]) -> None:
    """Finish the writes under way into ``path`` (a run, split folder or epoch file) or a
    folder within it (:mod:`predaudit.io.pending`: before the run is read), of the
    recorders made in this thread (another thread's recorder may be in its own wait)."""
    target = os.path.realpath(path)
    me = threading.get_ident()
    for bg in list(_LIVE):
        if bg._writing is None or bg._thread != me:
            continue
        folder = os.path.realpath(bg.files.folder)
        if os.path.commonpath([folder, target]) in (folder, target):  # one inside the other
            bg.settle()


pending.register(settle_under)


# -- the writer thread ------------------------------------------------------------------

_EXECUTOR: list[ThreadPoolExecutor] = []
_LOCK = threading.Lock()
_UNREPORTED: dict[Future[None], Path] = {}  # failed writes no recorder has raised yet


def submit(path: Path, job: Callable[[], None]) -> Future[None]:
    """Run ``job`` (writing ``path``) in the writer thread; its error is reported by the
    recorder at its next call, or on stderr at exit if it never is."""
    with _LOCK:
        if not _EXECUTOR:
            _EXECUTOR.append(ThreadPoolExecutor(1, thread_name_prefix="predaudit-recorder"))
        future = _EXECUTOR[0].submit(job)
        _UNREPORTED[future] = path
    future.add_done_callback(_forget_success)
    return future


def _forget_success(future: Future[None]) -> None:
    if not future.cancelled() and future.exception() is None:
        reported(future)


def reported(future: Future[None]) -> None:
    """The recorder has raised (or seen the success of) ``future``."""
    with _LOCK:
        _UNREPORTED.pop(future, None)


@atexit.register
def _report_at_exit() -> None:  # runs after the writer thread has finished its queue
    with _LOCK:
        left = list(_UNREPORTED.items())
    for future, path in left:
        if future.done() and future.exception() is not None:
            sys.stderr.write(f"predaudit: writing {path} failed: {future.exception()}\n")
