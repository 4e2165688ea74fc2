"""One recorder's shared memory with the writer process (:mod:`predaudit.record.writerproc`):
the status of its jobs, the job posted, then an epoch's arrays, laid out one after the
other (see :mod:`predaudit.record.writerchild`)."""

from __future__ import annotations

import math
import mmap
import os
import sys
import zlib
from typing import Any

import numpy as np

from predaudit.record.buffer import Batches
from predaudit.record.epochfile import take
from predaudit.record.writerchild import ARRAYS_AT, MESSAGE_BYTES, POSTED, POSTED_AT, STATUS

_ALIGN = 64  # bytes: each array starts on a cache line
RELEASE_BYTES = 4 << 20
"""A shared memory of this size or more is given back to the system once its epoch is
written (:func:`~predaudit.record.writerchild.release`): a large epoch is then not held
a second time while the next is collected; a small one stays mapped (taking its pages
again would cost the loop more than they weigh)."""


class SharedBuffer:
    """One recorder's shared memory: the status, the job posted, then an epoch's arrays,
    laid out one after the other (see :mod:`predaudit.record.writerchild`)."""

    def __init__(self) -> None:
        self.fd = -1
        self.size = 0
        self.map: mmap.mmap | None = None
        self.fresh = False  # the writer process has not been sent this memfd yet
        # The last job sent whole (its message: the profile a short message refers to), what
        # it was made of (see Writer.submit), and whether the process has it (it did that job)
        self.profile: dict[str, Any] | None = None
        self.made_of: tuple[Any, ...] = ()
        self.profile_known = False
        self.places: list[list[Any]] = []  # (dtype, shape, offset) of the arrays taken
        self._views: tuple[list[Any], list[np.ndarray]] | None = None  # the last taken
        # (rows, form), the views, the same as torch tensors, and the places of an epoch of
        # torch tensors of one form (Batches.form): the next such epoch is copied there as is
        self._tensor_views: tuple[Any, list[np.ndarray], list[Any], list[list[Any]]] | None = None

    def take(self, batches: Batches) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
        """:func:`~predaudit.record.epochfile.take` of ``batches``, the columns copied
        straight in (their places kept for the job's message).

        An epoch of torch tensors of the form and size of the one before (the usual case)
        is copied straight into the places of that one, with a ``torch.cat`` per column."""
        form, fast = batches.form, self._tensor_views
        if fast is not None and form is not None and fast[0] == (batches.n, form):
            scores, labels, ids = batches.columns()  # error: a batch changed in place
            _, views, tensors, self.places = fast
            cat = sys.modules["torch"].cat
            cat(scores, out=tensors[0])
            cat(labels, out=tensors[1])
            if ids:
                cat(ids, out=tensors[2])
            else:
                views[2][:] = np.arange(batches.n, dtype=np.int64)
            return [views[0]], views[1], views[2]
        n = batches.n
        arrays = take(batches, copy=False, into=self._place)
        if form is not None and self._views is not None:
            views = self._views[1]
            torch = sys.modules["torch"]
            tensors = [torch.from_numpy(v) for v in views]
            self._tensor_views = (n, form), views, tensors, self.places
        return arrays

    def _place(self, specs: list[tuple[np.dtype, tuple[int, ...]]]) -> list[np.ndarray]:
        if self._views is not None and self._views[0] == specs:  # as the epoch before
            return self._views[1]
        places: list[list[Any]] = []
        offset = ARRAYS_AT
        for dtype, shape in specs:
            offset = -(-offset // _ALIGN) * _ALIGN
            places.append([dtype.str, list(shape), offset])
            offset += dtype.itemsize * math.prod(shape)
        self._reserve(offset)
        assert self.map is not None
        self.places = places
        views = [
            np.frombuffer(self.map, dtype, math.prod(shape), start).reshape(shape)
            for (dtype, shape), (_, _, start) in zip(specs, places, strict=True)
        ]
        self._views = specs, views
        return views

    def post(self, number: int, message: bytes) -> bool:
        """Leave job ``number``'s message for the writer process, which looks for one every
        few milliseconds (no system call wakes it: waking a process on another CPU costs
        the loop 50-90 us here); False if it does not fit (then send it).

        Only called when the job posted before is done, so the process is not reading the
        message: it reads one under its lock, for a number above the status, and checks
        its CRC (on a CPU that may show the number before the message, it tries again)."""
        assert self.map is not None
        if len(message) > MESSAGE_BYTES:
            return False
        self.map[POSTED_AT : POSTED_AT + len(message)] = message
        POSTED.pack_into(self.map, STATUS.size, number, len(message), zlib.crc32(message))
        return True

    def _reserve(self, nbytes: int) -> None:
        if nbytes <= self.size and self.map is not None:
            return
        self.close()
        size = max(nbytes, 2 * self.size, mmap.PAGESIZE)
        size = -(-size // mmap.PAGESIZE) * mmap.PAGESIZE
        fd = os.memfd_create("predaudit-recorder", os.MFD_CLOEXEC)
        try:
            os.ftruncate(fd, size)
            self.map = mmap.mmap(fd, size)
        except BaseException:
            os.close(fd)
            raise
        STATUS.pack_into(self.map, 0, -1, -1)
        POSTED.pack_into(self.map, STATUS.size, -1, 0, 0)
        self.fd, self.size, self.fresh = fd, size, True

    def status(self) -> tuple[int, int]:
        """(the last job done, the last job failed) as the writer process left them."""
        assert self.map is not None
        done, failed = STATUS.unpack_from(self.map, 0)
        return done, failed

    def close(self) -> None:
        self._views = self._tensor_views = None  # (the map cannot be closed while they exist)
        if self.map is not None:
            try:
                self.map.close()
            except BufferError:  # views still held (by the traceback of a failed job the
                pass  # recorder did itself): unmapped when the last of them goes
            self.map = None
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        self.size = 0
