"""The local engine: today's reduction, in this process (:mod:`predaudit.reduce`)."""

from __future__ import annotations

from typing import Any

from predaudit.io.records import EpochPredictions
from predaudit.reduce import EpochStats, KindEvidence, reduce_detect, reduce_scores, scan_kind
from predaudit.reduce.pool import _threads
from predaudit.report.vocab import InputKind


class LocalReducer:
    """Each epoch reduced here, on ``threads`` threads (None: as many as the reduction
    takes by default, counted once for the split rather than at every epoch)."""

    def __init__(self) -> None:
        self._default_threads: int | None = None

    def _threads(self, threads: int | None) -> int:
        if threads is not None:
            return threads
        if self._default_threads is None:
            self._default_threads = _threads(None)
        return self._default_threads

    def detect(
        self, ep: EpochPredictions, *, threads: int | None, clip: float | None
    ) -> tuple[InputKind, EpochStats, KindEvidence]:
        return reduce_detect(
            ep.scores, ep.labels, dtype=ep.scores_dtype, threads=self._threads(threads), clip=clip
        )

    def scores(
        self, ep: EpochPredictions, *, kind: str, threads: int | None, clip: float | None
    ) -> EpochStats:
        return reduce_scores(
            ep.scores,
            ep.labels,
            kind=kind,
            dtype=ep.scores_dtype,
            threads=self._threads(threads),
            clip=clip,
        )

    def scan(self, ep: EpochPredictions, *, threads: int | None) -> KindEvidence:
        return scan_kind(ep.scores, dtype=ep.scores_dtype, threads=self._threads(threads))


class LocalEngine:
    """The default engine."""

    def for_split(self, layout: Any, reader: Any) -> LocalReducer:
        return LocalReducer()

    def close(self) -> None:
        pass
