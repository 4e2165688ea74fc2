"""The writer process's side of :mod:`predaudit.record.writerproc`: its loop, and the
job it runs (which the recorder also runs itself, from the shared memory, when the
process ended before doing it)."""

from __future__ import annotations

import fcntl
import json
import math
import mmap
import os
import signal
import socket
import struct
from pathlib import Path
from typing import Any

import numpy as np

from predaudit.errors import InputError
from predaudit.record.epochfile import EpochExistsError, EpochFiles, EpochJob

MSG_BYTES = 1 << 20  # the largest message (a job is about 1 KB)
STATUS = struct.Struct("<qq")  # the buffer's first bytes: the last job done, and how:
DONE_HERE = -1  # by the writer process, without error (else: the job's number, failed)
DONE_BY_RECORDER = -2  # by the recorder itself


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
    """The writer process's loop: one job at a time, until the socket closes.

    Ctrl-C is the training loop's to handle: ignored here (the loop's exit closes the
    socket). The process runs only on a CPU nothing else wants (Linux's SCHED_IDLE): woken
    by the loop's message, it would otherwise often take the loop's own CPU from it. A
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
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(sock, MSG_BYTES, 1)
        except (ConnectionError, OSError):
            return
        if not data:
            return
        job = json.loads(data)
        if "forget" in job:
            _unmap(maps, job["forget"])
            folders.pop(job["forget"], None)
            continue
        key = job["key"]
        if fds:
            _unmap(maps, key)
            maps[key] = mmap.mmap(fds[0], job["size"]), fds[0]
        (buf, lock), number = maps[key], job["id"]
        fcntl.lockf(lock, fcntl.LOCK_EX)
        try:
            if STATUS.unpack_from(buf, 0)[0] >= number:  # the recorder did it itself
                continue
            failed = DONE_HERE
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


def run_job(job: dict[str, Any], buf: mmap.mmap, files: EpochFiles) -> None:
    """Write the epoch ``job`` (a message of the recorder) describes, its arrays in ``buf``."""
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
        tuple(job["date_time"]),
    ).run(files)
