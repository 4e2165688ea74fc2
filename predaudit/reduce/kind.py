"""Score-kind evidence and the rules that decide logits, probabilities or log-probabilities."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import predaudit.reduce.columns as columns
from predaudit.reduce.pool import (
    _chunk_rows,
    _Converter,
    _count_bad,
    _run_chunks,
    _threads,
    _work_dtype,
)
from predaudit.report.vocab import InputKind


@dataclass(frozen=True)
class KindEvidence:
    """What the score-kind rules of docs/design.md look at, gathered in one pass.

    ``max_rowsum_dev`` is ``inf`` unless every value is >= 0 (rows cannot be
    probabilities otherwise), and ``max_lse_abs`` is ``inf`` unless every value
    is <= 0; both are ``inf`` for a single score per sample.
    """

    min: float
    max: float
    max_rowsum_dev: float
    max_lse_abs: float
    n_nonfinite: int


def scan_kind(
    scores: np.ndarray,
    *,
    dtype: str = "",
    chunk_rows: int | None = None,
    threads: int | None = None,
) -> KindEvidence:
    """Gather the evidence for score-kind detection from ``scores`` (N, C) or (N,).

    Row sums and log-sum-exp only make sense for ``[N, C]`` scores; for a
    single score per sample they are reported as ``inf``. The pass reads the
    data once (min and max per chunk); row sums and log-sum-exp are only
    computed for chunks where they can still matter.
    """
    if isinstance(scores, np.memmap):  # plain views (see reduce.epoch)
        scores = scores.view(np.ndarray)
    n = scores.shape[0]
    c = 1 if scores.ndim == 1 else scores.shape[1]
    work = _work_dtype(scores, dtype)
    by_columns = scores.ndim == 2 and c <= columns.MAX_CLASSES
    if by_columns:
        rows = columns.column_chunk_rows(c, chunk_rows, work.itemsize)
    else:
        rows = _chunk_rows(c, chunk_rows, work.itemsize)

    def make_worker() -> Callable[[int, int], tuple[float, float, float, float, int]]:
        if by_columns:
            blk = columns.ColumnBlock(dtype, work, min(rows, n), c)

            def by_col(a: int, b: int) -> tuple[float, float, float, float, int]:
                with np.errstate(all="ignore"):
                    return columns.scan_columns(blk, scores[a:b])

            return by_col
        conv = _Converter(dtype, work, rows, c)

        def run(a: int, b: int) -> tuple[float, float, float, float, int]:
            x = conv(scores[a:b])
            with np.errstate(all="ignore"):
                lo, hi = float(x.min()), float(x.max())
                if math.isnan(lo) or math.isnan(hi) or hi == math.inf:
                    return math.inf, -math.inf, math.inf, math.inf, _count_bad(x)
                if x.ndim == 1:
                    return lo, hi, math.inf, math.inf, 0
                dev = math.inf
                if lo >= 0:
                    dev = float(np.max(np.abs(x.sum(axis=1, dtype=np.float64) - 1.0)))
                lse_abs = math.inf
                if hi <= 0:
                    lse_abs = _lse_abs(x)
            return lo, hi, dev, lse_abs, 0

        return run

    parts = _run_chunks(n, rows, _threads(threads), make_worker)
    return _merge_evidence(parts)


def _lse_abs(x: np.ndarray) -> float:
    """max |log-sum-exp| over the rows of ``x`` (inf if a row is all -inf)."""
    mx = x.max(axis=1)
    if np.any(mx == -np.inf):
        return math.inf
    s = np.exp(x - mx[:, None]).sum(axis=1, dtype=np.float64)
    return float(np.max(np.abs(mx + np.log(s))))


def _merge_evidence(parts: list) -> KindEvidence:  # type: ignore[type-arg]
    if not parts:
        return KindEvidence(0.0, 0.0, math.inf, math.inf, 0)
    return KindEvidence(
        min=min(p[0] for p in parts),
        max=max(p[1] for p in parts),
        max_rowsum_dev=max(p[2] for p in parts),
        max_lse_abs=max(p[3] for p in parts),
        n_nonfinite=sum(p[4] for p in parts),
    )


def decide_kind(ev: KindEvidence, *, binary: bool) -> InputKind:
    """Apply docs/design.md: probabilities, then log-probabilities, else logits.

    >>> decide_kind(KindEvidence(0.0, 1.0, 1e-6, float("inf"), 0), binary=False)
    'probs'
    >>> decide_kind(KindEvidence(-3.0, 0.0, float("inf"), 1e-5, 0), binary=False)
    'log_probs'
    >>> decide_kind(KindEvidence(0.1, 0.9, 0.4, float("inf"), 0), binary=False)
    'logits'
    """
    if binary:
        return "probs" if ev.min >= 0.0 and ev.max <= 1.0 else "logits"
    if ev.min >= 0.0 and ev.max <= 1.0 and ev.max_rowsum_dev <= 1e-3:
        return "probs"
    if ev.max <= 0.0 and ev.max_lse_abs <= 1e-3:
        return "log_probs"
    return "logits"
