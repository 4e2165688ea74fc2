"""The reduction pool's thread count: explicit counts, and the default from the CPUs."""

from __future__ import annotations

import os

import pytest

from predaudit.reduce import pool


def test_explicit_thread_counts() -> None:
    assert pool._threads(3) == 3
    assert pool._threads(7) == 7  # an explicit count is taken as it is
    assert pool._threads(0) == 1  # at least one
    assert pool._threads(-2) == 1


@pytest.mark.parametrize(("cpus", "threads"), [(None, 1), (1, 1), (2, 2), (3, 3), (4, 4), (64, 4)])
def test_the_default_is_one_thread_a_cpu_at_most_four(monkeypatch, cpus, threads) -> None:
    """``os.cpu_count()`` (None when unknown: one thread), capped at four threads."""
    monkeypatch.setattr(os, "cpu_count", lambda: cpus)
    pool._cpus.cache_clear()
    try:
        assert pool._threads(None) == threads
        monkeypatch.setattr(os, "cpu_count", lambda: 1000)  # looked up once: the same after
        assert pool._threads(None) == threads
    finally:
        pool._cpus.cache_clear()  # the real count for the tests after
