"""Writes into a run that are still under way in this process: a background
:class:`~predaudit.Recorder`'s (``background=True``, the default).

:func:`~predaudit.io.discover.discover` lets them finish first (:func:`settle`), so a run
read by the process that records it holds every epoch ended so far, as it would after
``rec.flush()`` (for the recorders made in the reading thread: another thread's may be
waiting for its write itself). The recorders register the waiting (:func:`register`);
this module imports nothing of theirs, and costs nothing when no recorder was made.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

_WAITERS: list[Callable[[Path], None]] = []


def register(wait: Callable[[Path], None]) -> None:
    """Call ``wait(path)`` before a run at ``path`` is discovered: it finishes the writes
    into ``path`` (a folder or file) or into a folder within it."""
    if wait not in _WAITERS:
        _WAITERS.append(wait)


def settle(path: Path) -> None:
    """Finish this process's writes into ``path`` (see :func:`register`)."""
    for wait in list(_WAITERS):
        wait(path)
