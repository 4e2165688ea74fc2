"""The recorders' writer process: where ``Recorder(background=True)`` writes on Linux.

A writer *thread* shares the interpreter lock with the training loop: after each of its
system calls it must wait for the loop to let go of the lock (up to the interpreter's
5 ms switch interval), so one epoch's write takes many such waits, and the loop then
stalls at the next ``end_epoch`` until it is done. A process has a lock of its own. The
loop copies an epoch's batches straight into shared memory (an anonymous ``memfd``, one
per recorder, grown when an epoch needs more; :mod:`predaudit.record.sharedmem`) and leaves
the job's message (``marshal``) there: the job whole, or, when only the epoch differs from
the last whole job and the process did that one, ``(number, epoch, that job's number)``;
the process, which looks for one every few milliseconds, looks at the folder and writes
the file exactly as the recorder does in-process
(:func:`~predaudit.record.epochfile.write_checked`), then marks the job done in the shared
memory (an error is sent back over a Unix socket first). Neither side makes a system call
to tell the other (waking a process on another CPU cost the loop 50-90 us a time here);
the socket carries a memfd the first time, and the errors. When the recorder needs the
write finished (the next epoch, a flush) and the process has not started it — busy,
starved of CPU, still starting, or gone — the recorder does the job itself under the lock
the process takes for each job: nothing is lost if the process dies, and a write never
waits for more than the one the process is doing.

One process serves every recorder of the interpreter; it is started with the first
background recorder (``sys.executable`` with the parent's ``sys.path``); when the
interpreter exits, the writes not yet waited for are finished, a failed one is printed
on stderr (as the writer thread's are), and the process's socket is closed, which ends
it. Where memfd or file descriptor passing are missing (not Linux), or the process
could not start, the writer thread is used (:func:`~predaudit.record.background.submit`).
"""

from __future__ import annotations

import atexit
import fcntl
import itertools
import json
import marshal
import os
import socket
import subprocess
import sys
import threading
from typing import Any

from predaudit.errors import InputError
from predaudit.record import sharedmem
from predaudit.record.epochfile import EpochExistsError, EpochFiles, EpochJob
from predaudit.record.sharedmem import SharedBuffer
from predaudit.record.writerchild import (
    DONE_BY_RECORDER,
    MSG_BYTES,
    STATUS,
    expand,
    run_job,
)

_PATH_VAR = "PREDAUDIT_WRITER_SYS_PATH"
_CHILD = (
    f"import json, os, sys; sys.path[:] = json.loads(os.environ.pop({_PATH_VAR!r})); "
    "from predaudit.record.writerchild import serve; serve(int(sys.argv[1]))"
)


def available() -> bool:
    """Whether this platform has what the writer process needs."""
    return (
        sys.platform.startswith("linux")
        and hasattr(os, "memfd_create")
        and hasattr(socket, "send_fds")
        and hasattr(socket, "SOCK_SEQPACKET")
        and bool(sys.executable)
    )


# -- errors across the socket --------------------------------------------------------


def rebuild(data: list[Any]) -> Exception:
    kind, *args = data
    if kind == "EpochExistsError":
        return EpochExistsError(args[0], args[1])
    if kind == "InputError":
        return InputError(args[0], args[1])
    if kind == "OSError":
        errno, strerror, filename = args
        if errno is None:
            return OSError(strerror)
        return OSError(errno, strerror) if filename is None else OSError(errno, strerror, filename)
    return RuntimeError(f"predaudit's writer process: {args[0]}")


# -- the parent's side ---------------------------------------------------------------


class Ticket:
    """One epoch's write sent to the writer process: job ``number``, epoch ``epoch`` of
    ``profile`` (the last job sent whole; ``whole``: this one)."""

    def __init__(
        self,
        writer: Writer,
        number: int,
        epoch: int,
        profile: dict[str, Any],
        whole: bool,
        buf: SharedBuffer,
        files: EpochFiles,
    ) -> None:
        self.writer, self.number, self.epoch, self.profile = writer, number, epoch, profile
        self.whole, self.buf, self.files = whole, buf, files

    @property
    def job(self) -> dict[str, Any]:
        """The job's message whole (:func:`~predaudit.record.writerchild.expand`)."""
        return expand(self.profile, self.number, self.epoch)

    def done(self) -> bool:
        """The write is finished (read in the shared memory: no system call)."""
        return self.buf.status()[0] >= self.number

    def result(self) -> None:
        """Wait for the write; raise its error. A write the process has not started (it is
        busy, starved of CPU, still starting or gone) is done here instead, under the lock
        the process takes for each job, from the shared memory."""
        buf, number = self.buf, self.number
        self.writer.waiting.pop(number, None)
        if buf.status()[0] < number:
            fcntl.lockf(buf.fd, fcntl.LOCK_EX)  # waits while the process writes it
            try:
                if buf.status()[0] < number:
                    self._write_here()
                    return
            finally:
                fcntl.lockf(buf.fd, fcntl.LOCK_UN)
        failed = buf.status()[1]
        if failed != DONE_BY_RECORDER:
            self.writer.served = True
            if self.whole and buf.profile is self.profile:
                buf.profile_known = True  # the process keeps the message of a job it did
        if failed == number:
            raise rebuild(self.writer.error(number))

    def _write_here(self) -> None:
        assert self.buf.map is not None
        gone = self.writer.proc.poll() is not None
        if gone:
            self.writer.ended()
        # a file at its path may be the process's, if it ended after writing it
        job = self.job
        job["overwrite"] = job["overwrite"] or gone
        try:
            run_job(job, self.buf.map, self.files)
        finally:
            STATUS.pack_into(self.buf.map, 0, self.number, DONE_BY_RECORDER)


class Writer:
    """The writer process and the socket to it."""

    def __init__(self) -> None:
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {**os.environ, _PATH_VAR: json.dumps(sys.path)}
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _CHILD, str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                env=env,
            )
        except BaseException:
            mine.close()
            raise
        finally:
            theirs.close()
        self.sock = mine
        self.pid = os.getpid()
        self.dead = False  # the process ended before its time
        self.served = False  # it has written a file
        self.replies: dict[int, dict[str, Any]] = {}
        self.waiting: dict[int, Ticket] = {}  # the writes not waited for yet
        self.dropped: list[tuple[int, SharedBuffer]] = []  # of recorders dropped (sweep)
        self._numbers = itertools.count()
        self._keys = itertools.count()
        self._lock = threading.Lock()

    def key(self) -> int:
        """A number for a new recorder's shared memory."""
        return next(self._keys)

    def submit(self, key: int, buf: SharedBuffer, job: EpochJob, files: EpochFiles) -> Ticket:
        """Send ``job`` (``files``: the recorder's, for a job it ends up doing itself).

        The message is the whole job the first time, and whenever anything but the epoch
        differs from the last job sent whole (or the process did not do that one, so does
        not have it); otherwise only ``(number, epoch, the whole job's number)`` (tens of
        microseconds less of the loop's time at each epoch)."""
        if self.dropped:
            self.sweep()
        made_of = (
            buf.places,  # of job.arrays, which buf.take put there
            buf.size,
            job.rank,
            job.split,
            job.overwrite,
            job.compress,
            job.fsync,
            job.date_time,  # None: the time of writing, or the parent's
            os.environ.get("SOURCE_DATE_EPOCH"),
        )
        with self._lock:
            number = next(self._numbers)
            profile = buf.profile
            whole = (
                buf.fresh
                or not buf.profile_known
                or profile is None
                or made_of != buf.made_of
                or job.meta != {**profile["meta"], "epoch": job.epoch}
            )
            if whole:
                places, size, rank, split, overwrite, compress, fsync, date_time, sde = made_of
                profile = {
                    "id": number,
                    "key": key,
                    "size": size,
                    "folder": os.fspath(files.folder),
                    "path": os.fspath(job.path),
                    "places": places,
                    "meta": job.meta,
                    "epoch": job.epoch,
                    "rank": rank,
                    "split": split,
                    "overwrite": overwrite,
                    "compress": compress,
                    "fsync": fsync,
                    "date_time": date_time,
                    "source_date_epoch": sde,
                    "release": size >= sharedmem.RELEASE_BYTES,
                }
                buf.profile, buf.made_of, buf.profile_known = profile, made_of, False
                data = marshal.dumps(profile)  # a few times quicker than JSON
            else:
                assert profile is not None
                data = marshal.dumps((number, job.epoch, profile["id"]))
            ticket = Ticket(self, number, job.epoch, profile, whole, buf, files)
            self.waiting[number] = ticket
            if buf.fresh or not buf.post(number, data):
                try:  # with the memfd the first time
                    socket.send_fds(self.sock, [data], [buf.fd] if buf.fresh else [])
                except OSError:  # the process is gone: the ticket's result() writes it here
                    self.ended()
                buf.fresh = False
        return ticket

    def sweep(self) -> None:
        """Give back the shared memory of recorders dropped without ``close()`` whose
        writes are done (a failed one is printed on stderr, as at exit); one with a write
        still under way waits for the next sweep."""
        kept = []
        while self.dropped:
            key, buf = self.dropped.pop()
            mine = [t for t in list(self.waiting.values()) if t.buf is buf]
            if not all(t.done() for t in mine):
                kept.append((key, buf))
                continue
            for ticket in mine:
                try:
                    ticket.result()
                except Exception as error:
                    sys.stderr.write(f"predaudit: writing {ticket.job['path']} failed: {error}\n")
            buf.close()
            self.forget(key)
        self.dropped.extend(kept)

    def ended(self) -> None:
        """The process is gone: the next :func:`shared` starts another; if it never wrote
        a file (it could not start), the writer thread is used from now on."""
        self.dead = True
        self.proc.poll()  # reaped
        if not self.served:
            _STATE["failed"] = True

    def forget(self, key: int) -> None:
        """A recorder's shared memory is no longer used: the process unmaps it."""
        with self._lock:
            if self.dead:
                return
            try:
                self.sock.send(marshal.dumps({"forget": key}))
            except OSError:
                pass

    def error(self, number: int) -> list[Any]:
        """The error of job ``number``, which the process sent before marking it done."""
        with self._lock:
            while number not in self.replies:
                try:
                    data = self.sock.recv(MSG_BYTES)
                except OSError:
                    data = b""
                if not data:
                    return ["OSError", None, "predaudit's writer process: no error sent", None]
                reply = json.loads(data)
                self.replies[reply["id"]] = reply
            return list(self.replies.pop(number)["error"])

    def close(self) -> None:
        """Wait for every write sent; print the failures nobody was told of; end the process
        (told so: a process forked from this one, a ``DataLoader`` worker say, may hold the
        socket open)."""
        for _, ticket in sorted(self.waiting.items()):
            try:
                ticket.result()
            except Exception as error:
                sys.stderr.write(f"predaudit: writing {ticket.job['path']} failed: {error}\n")
        try:
            self.sock.send(marshal.dumps({"exit": True}))
        except OSError:
            pass
        self.sock.close()
        if self.dead:
            return
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()


_WRITER: list[Writer] = []
_STATE = {"failed": False}  # the process could not be started: use the thread


def shared() -> Writer | None:
    """The interpreter's writer process, started if need be; None where there is none."""
    if _WRITER and _WRITER[0].pid == os.getpid() and not _WRITER[0].dead:
        return _WRITER[0]
    if _STATE["failed"] or not available():
        return None
    if _WRITER and _WRITER[0].pid == os.getpid():  # it died: its writes were reported
        _WRITER[0].sock.close()
    _WRITER.clear()  # (or a forked child: the parent's process is not ours)
    try:
        _WRITER.append(Writer())
    except OSError:
        _STATE["failed"] = True
        return None
    return _WRITER[0]


def _forget_in_forked_child() -> None:
    """A forked child (a ``DataLoader`` worker, say) closes its copy of the socket to the
    parent's writer process, which then ends when the parent's copy closes, whatever the
    child does; the child starts its own process if it records."""
    if _WRITER and _WRITER[0].pid != os.getpid():
        try:
            _WRITER[0].sock.close()
        except OSError:
            pass


os.register_at_fork(after_in_child=_forget_in_forked_child)


@atexit.register
def _close_at_exit() -> None:
    if _WRITER and _WRITER[0].pid == os.getpid():
        _WRITER.pop().close()
