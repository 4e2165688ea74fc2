"""The reduction pool's thread count: explicit counts, and the default from the CPUs."""

from __future__ import annotations

import os

from predaudit.reduce import pool


def test_thread_counts() -> None:
    assert pool._threads(3) == 3
    assert pool._threads(0) == 1  # at least one
    expected = max(1, min(pool._MAX_THREADS, os.cpu_count() or 1))
    assert pool._threads(None) == expected
    assert pool._threads(None) == expected  # the CPU count looked up once, the same after
    assert pool._CPUS == [os.cpu_count() or 1]
