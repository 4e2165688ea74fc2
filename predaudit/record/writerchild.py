"""The writer process's side of :mod:`predaudit.record.writerproc`: its loop, and the
job it runs (which the recorder also runs itself, from the shared memory, when the
process ended before doing it)."""

from __future__ import annotations

import fcntl
import json
import marshal
import math
import mmap
import os
import select
import signal
import socket
import struct
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from predaudit.errors import InputError
from predaudit.io.naming import epoch_file_name
from predaudit.record.epochfile import EpochExistsError, EpochFiles, EpochJob

MSG_BYTES = 1 << 20  # the largest message (a job is about 1 KB)
# The shared memory: first the status, the last job done and how,
STATUS = struct.Struct("<qq")
DONE_HERE = -1  # by the writer process, without error (else: the job's number, failed)
DONE_BY_RECORDER = -2  # by the recorder itself
# then the job posted (its number, its message's length and CRC-32), the message
# (``marshal``),
POSTED = struct.Struct("<qqq")
POSTED_AT = STATUS.size + POSTED.size
MESSAGE_BYTES = 16384 - POSTED_AT
# then the job's arrays.
ARRAYS_AT = POSTED_AT + MESSAGE_BYTES
# How often the process looks for a posted job: every POLL seconds for ACTIVE seconds
# after the last job, then ever less often, down to every MAX_POLL seconds.
POLL, ACTIVE, MAX_POLL = 0.002, 2.0, 0.1


def describe(error: BaseException) -> list[Any]:
    """``error`` as JSON data that :func:`predaudit.record.writerproc.rebuild` turns back
    into an exception."""
    if isinstance(error, InputError):
        kind = "EpochExistsError" if isinstance(error, EpochExistsError) else "InputError"
        return [kind, error.path, error.problem]
    if isinstance(error, OSError):
        if error.errno is None:
            return ["OSError", None, str(error), None]
        return ["OSError", error.errno, error.strerror, error.filename]
    return ["RuntimeError", f"{type(error).__name__}: {error}"]


def serve(fd: int) -> None:
    """The writer process's loop: one job at a time, until told to end or the socket
    closes.

    A job comes over the socket (with the memfd, the first time a shared memory is used;
    or a message too long for it) or is posted in the shared memory, where the process
    looks for one every :data:`POLL` seconds while jobs come, less often when none has
    for a while (a message would cost the loop the wake-up of a process on another CPU),
    and not at all while no recorder's memory is mapped (it then waits on the socket).
    Ctrl-C is the training loop's to handle: ignored here (the loop's exit closes the
    socket). The process runs only on a CPU nothing else wants (Linux's SCHED_IDLE). A
    job is done under a lock on its memfd: a recorder that needs the write finished
    before the process has started it takes the lock and does the job itself (the status
    then says done, and the process passes over it)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        os.nice(10)
    sock = socket.socket(fileno=fd)
    maps: dict[int, tuple[mmap.mmap, int]] = {}  # key -> the shared memory and its memfd
    folders: dict[int, EpochFiles] = {}
    profiles: dict[int, dict[str, Any]] = {}  # key -> the last whole job it did
    last, wait = time.monotonic(), POLL
    while True:
        # with no shared memory to look in (no recorder yet, or all closed): the socket only
        if select.select([sock], [], [], wait if maps else None)[0]:
            try:
                data, fds, _, _ = socket.recv_fds(sock, MSG_BYTES, 1)
            except (ConnectionError, OSError):
                return
            if not data:
                return
            job = marshal.loads(data)  # the recorder's own messages
            if "exit" in job:  # (the socket may stay open: a forked child holds it too)
                return
            if "forget" in job:
                _unmap(maps, job["forget"])
                folders.pop(job["forget"], None)
                profiles.pop(job["forget"], None)
                continue
            key = job["key"]
            if fds:
                _unmap(maps, key)
                maps[key] = mmap.mmap(fds[0], job["size"]), fds[0]
            _serve_job(sock, key, job, maps[key], folders, profiles)
            last = time.monotonic()
        else:
            for key, shared in list(maps.items()):
                if POSTED.unpack_from(shared[0], STATUS.size)[0] > STATUS.unpack_from(shared[0])[0]:
                    _serve_job(sock, key, None, shared, folders, profiles)
                    last = time.monotonic()
        wait = POLL if time.monotonic() - last < ACTIVE else min(2 * wait, MAX_POLL)


def _serve_job(
    sock: socket.socket,
    key: int,
    message: dict[str, Any] | tuple[int, int, int] | None,
    shared: tuple[mmap.mmap, int],
    folders: dict[int, EpochFiles],
    profiles: dict[int, dict[str, Any]],
) -> None:
    """Do the job of ``message`` (the job whole, or ``(number, epoch, of)``: whole job ``of``,
    the last whole job done for this ``key``, which ``profiles`` keeps, for another epoch;
    None: the one posted in the shared memory) unless it is done."""
    buf, lock = shared
    fcntl.lockf(lock, fcntl.LOCK_EX)
    try:
        if message is None:
            posted, length, crc = POSTED.unpack_from(buf, STATUS.size)
            data = buf[POSTED_AT : POSTED_AT + length]
            if zlib.crc32(data) != crc:  # not all of it seen yet: next time
                return
            message = marshal.loads(data)
            if (message[0] if isinstance(message, tuple) else message["id"]) != posted:
                return
        if isinstance(message, tuple):
            number, epoch, of = message
            profile = profiles.get(key)
            if profile is None or profile["id"] != of:  # not seen: the recorder does it itself
                return
            job: dict[str, Any] = expand(profile, number, epoch)
        else:
            job = message
        number = job["id"]
        if STATUS.unpack_from(buf, 0)[0] >= number:  # the recorder did it itself
            return
        if job is message:
            profiles[key] = job  # the recorder counts on it once this job is done
        failed = DONE_HERE
        if job["source_date_epoch"] is None:  # the recorder's, for the zip timestamps
            os.environ.pop("SOURCE_DATE_EPOCH", None)
        else:
            os.environ["SOURCE_DATE_EPOCH"] = job["source_date_epoch"]
        try:
            files = folders.setdefault(key, EpochFiles(Path(job["folder"])))
            run_job(job, buf, files)
        except Exception as error:
            sock.send(json.dumps({"id": number, "error": describe(error)}).encode())
            failed = number
        STATUS.pack_into(buf, 0, number, failed)  # done (the error was sent first)
    finally:
        fcntl.lockf(lock, fcntl.LOCK_UN)


def _unmap(maps: dict[int, tuple[mmap.mmap, int]], key: int) -> None:
    old = maps.pop(key, None)
    if old is not None:
        old[0].close()
        os.close(old[1])


def _view(buf: mmap.mmap, place: list[Any]) -> np.ndarray:
    dtype, shape, offset = place
    return np.frombuffer(buf, np.dtype(dtype), math.prod(shape), offset).reshape(shape)


def expand(profile: dict[str, Any], number: int, epoch: int) -> dict[str, Any]:
    """Job ``number``: the job ``profile`` (a message, whole) for ``epoch`` instead."""
    name = epoch_file_name(epoch, profile["rank"])
    return {
        **profile,
        "id": number,
        "epoch": epoch,
        "path": os.path.join(profile["folder"], name),
        "meta": {**profile["meta"], "epoch": epoch},
    }


def run_job(job: dict[str, Any], buf: mmap.mmap, files: EpochFiles) -> None:
    """Write the epoch ``job`` (a message of the recorder) describes, its arrays in ``buf``;
    then, if the job says ``release``, give the arrays' memory back (see :func:`release`)."""
    try:
        _write(job, buf, files)
    finally:
        if job.get("release"):
            release(buf)


def release(buf: mmap.mmap) -> None:
    """Give the pages of the arrays in ``buf`` back to the system (``MADV_REMOVE``: they
    read as zeros, and the recorder's next join into them takes them again, about 1 µs a
    page), so that between epochs only the batches being collected are held. Done before
    the job is marked done, so never while the recorder joins the next epoch."""
    start = -(-ARRAYS_AT // mmap.PAGESIZE) * mmap.PAGESIZE  # not the status and message
    if hasattr(mmap, "MADV_REMOVE") and len(buf) > start:
        buf.madvise(mmap.MADV_REMOVE, start, len(buf) - start)


def _write(job: dict[str, Any], buf: mmap.mmap, files: EpochFiles) -> None:
    scores, labels, ids = (_view(buf, p) for p in job["places"])
    EpochJob(
        Path(job["path"]),
        ([scores], labels, ids),
        job["meta"],
        job["epoch"],
        job["rank"],
        job["split"],
        job["overwrite"],
        job["compress"],
        job["fsync"],
        None if job["date_time"] is None else tuple(job["date_time"]),
    ).run(files)
