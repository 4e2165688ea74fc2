"""Chunks of rows and the one thread pool the reduction works in.

Every row is computed on its own, so the result never depends on the chunk size
or on the number of threads.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from predaudit.dtypes import BF16

_TARGET_CHUNK_BYTES = 1 << 20  # 1 MiB of working floats per chunk (measured best on 2 cores)
_MAX_THREADS = 4


def _work_dtype(scores: np.ndarray, dtype: str) -> np.dtype:
    """float32 for float16/bfloat16/float32 scores, float64 for everything else."""
    if dtype == BF16 or scores.dtype in (np.float16, np.float32):
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def _chunk_rows(n_classes: int, chunk_rows: int | None, itemsize: int = 4) -> int:
    if chunk_rows is not None:
        return max(1, int(chunk_rows))
    return max(1, _TARGET_CHUNK_BYTES // (itemsize * max(1, n_classes)))


def _threads(threads: int | None) -> int:
    if threads is not None:
        return max(1, int(threads))
    return max(1, min(_MAX_THREADS, _cpus()))


@functools.cache
def _cpus() -> int:
    """``os.cpu_count()``, looked up once (it reads a file under /sys at each call: 7 us,
    and the reduction asks several times an epoch)."""
    return os.cpu_count() or 1


def _run_chunks(
    n: int, rows: int, threads: int, make_worker: Callable[[], Callable[[int, int], object]]
) -> list:  # type: ignore[type-arg]
    """Call a worker on every row range ``[a, b)``; each thread gets its own worker.

    ``make_worker()`` builds a worker with its own scratch buffers. Threads pull
    the next chunk from a shared counter, so a thread slowed down by the rest of
    the machine does not hold the others back. Returns the workers' results in
    chunk order.
    """
    starts = list(range(0, n, rows))
    results: list = [None] * len(starts)
    threads = min(threads, len(starts))
    if threads <= 1:
        work = make_worker()
        for i, a in enumerate(starts):
            results[i] = work(a, min(a + rows, n))
        return results
    lock = threading.Lock()
    next_index = iter(range(len(starts)))

    def loop() -> None:
        work = make_worker()
        while True:
            with lock:
                i = next(next_index, None)
            if i is None:
                return
            a = starts[i]
            results[i] = work(a, min(a + rows, n))

    pool = _pool()
    helpers = [pool.submit(loop) for _ in range(threads - 1)]
    try:
        loop()  # the calling thread works too
    finally:
        for f in helpers:
            f.result()  # waits; re-raises a helper's error
    return results


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """One pool for the process, started on first use (starting threads per call costs)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(
                max_workers=max(_MAX_THREADS, _cpus()),
                thread_name_prefix="predaudit-reduce",
            )
        return _POOL


def _forget_pool() -> None:
    global _POOL, _POOL_LOCK
    _POOL, _POOL_LOCK = None, threading.Lock()  # a forked child has none of the threads


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


class _Converter:
    """Turns a chunk of raw scores into a C-contiguous work-dtype array, reusing a buffer."""

    def __init__(self, dtype: str, work: np.dtype, rows: int, n_classes: int) -> None:
        self.bf16 = dtype == BF16
        self.work = work
        self.shape = (rows, n_classes)
        self.buf: np.ndarray | None = None
        self.bits: np.ndarray | None = None

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        m = raw.shape[0]
        if not self.bf16 and raw.dtype == self.work and raw.flags.c_contiguous:
            return raw
        if self.buf is None:
            self.buf = np.empty(self.shape[:1] + raw.shape[1:], dtype=self.work)
        out = self.buf[:m]
        if self.bf16:
            if self.bits is None:
                self.bits = self.buf.view(np.uint32)
            bits = self.bits[:m]
            np.left_shift(raw, 16, out=bits, dtype=np.uint32)
            return out
        np.copyto(out, raw, casting="unsafe")
        return out


def _count_bad(x: np.ndarray) -> int:
    """Number of NaN and +inf values."""
    return int(np.count_nonzero(np.isnan(x) | (x == np.inf)))
