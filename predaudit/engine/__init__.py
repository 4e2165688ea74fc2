"""Where the reduction runs: ``local`` (this process) or ``dask`` (tasks on a cluster).

:func:`predaudit.store.build.compute_split` asks :func:`current` for the engine and, per
split, for a :class:`SplitReducer` (``engine.for_split(layout, reader)``); every epoch's
reduction goes through it. Both engines give the same statistics: every per-row result
depends only on its row and the score-kind evidence merges exactly, so cutting an epoch
into row ranges (:mod:`predaudit.engine.rows`) changes nothing. The CLI sets the engine for
one command with :func:`use` (``--engine dask --scheduler ADDRESS``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol

from predaudit.engine.local import LocalEngine
from predaudit.errors import OptionError
from predaudit.io.records import EpochPredictions
from predaudit.reduce import EpochStats, KindEvidence
from predaudit.report.vocab import InputKind

ENGINES = ("local", "dask")
DASK_EXTRA = 'pip install "predaudit[dask]"'


class SplitReducer(Protocol):
    """The per-epoch reductions of one split (see :mod:`predaudit.reduce`)."""

    def detect(
        self, ep: EpochPredictions, *, threads: int | None, clip: float | None
    ) -> tuple[InputKind, EpochStats, KindEvidence]:
        """``reduce_detect(ep.scores, ep.labels, ...)``: kind from this epoch, stats as it."""
        ...

    def scores(
        self, ep: EpochPredictions, *, kind: str, threads: int | None, clip: float | None
    ) -> EpochStats:
        """``reduce_scores(ep.scores, ep.labels, kind=kind, ...)``."""
        ...

    def scan(self, ep: EpochPredictions, *, threads: int | None) -> KindEvidence:
        """``scan_kind(ep.scores, ...)``: the evidence alone."""
        ...


class Engine(Protocol):
    def for_split(self, layout: Any, reader: Any) -> SplitReducer:
        """The reducer of the split ``layout`` read by ``reader`` (a ``SplitReader``)."""
        ...

    def close(self) -> None:
        """Release what the engine started (a local Dask cluster)."""
        ...


LOCAL = LocalEngine()
_CURRENT: ContextVar[Engine] = ContextVar("predaudit_engine", default=LOCAL)


def current() -> Engine:
    """The engine of the running command (:data:`LOCAL` unless :func:`use` set another)."""
    return _CURRENT.get()


@contextmanager
def use(engine: Engine) -> Iterator[Engine]:
    """Run the reductions inside the block on ``engine``; it is closed afterwards."""
    token = _CURRENT.set(engine)
    try:
        yield engine
    finally:
        _CURRENT.reset(token)
        engine.close()


def make_engine(name: str, scheduler: str | None = None, *, debug: bool = False) -> Engine:
    """``local`` or ``dask`` (on the scheduler at ``scheduler``, or a local cluster started
    for the command). Dask is imported here only, and its absence is a usage error
    (:class:`OptionError`, exit 2) naming the ``[dask]`` extra."""
    if name not in ENGINES:
        raise OptionError(f"expected one of {', '.join(ENGINES)}", param="engine", value=name)
    if name == "local":
        if scheduler is not None:
            raise OptionError("--scheduler needs --engine dask")
        return LocalEngine()
    try:
        import distributed  # noqa: F401
    except ImportError as exc:
        raise OptionError(f"--engine dask needs dask[distributed]: {DASK_EXTRA}") from exc
    from predaudit.engine.cluster import DaskEngine

    return DaskEngine(scheduler, debug=debug)
