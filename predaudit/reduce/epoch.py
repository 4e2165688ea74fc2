"""Per-sample statistics of one epoch: ``reduce_scores`` and ``reduce_detect``."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from predaudit.reduce.binary import _reduce_binary
from predaudit.reduce.chunks import (
    LossRule,
    _Out,
    _targets,
    dtype_floor,
)
from predaudit.reduce.kind import KindEvidence, decide_kind, scan_kind
from predaudit.reduce.multiclass import _reduce_multiclass
from predaudit.report.vocab import KINDS, InputKind


@dataclass
class EpochStats:
    """Per-sample statistics of one epoch, each an ndarray of shape (n_samples,).

    ``loss`` is cross-entropy in nats (NaN for ignored samples), ``pred`` the
    arg-max class (ties to the lower index), ``correct`` ``pred == label``
    (False for ignored samples), ``p_true`` the probability of the true class,
    ``confidence`` the largest class probability, ``margin`` the true class's
    score minus the best other one (logits, or log-probabilities with ``p = 0``
    floored). ``n_floored`` counts true-class probabilities of exactly 0 (a -inf
    logit or log-probability) floored at the smallest normal number of the input
    dtype, ``n_clipped`` the values clipped by ``clip``, both among the samples
    that count (with soft targets: the (sample, class) pairs with target mass);
    ``n_nonfinite`` counts NaN and +inf scores; ``n_dead_rows`` rows whose
    every class is -inf. When either of the last two is non-zero the other
    fields are not meaningful (the caller reports an input error).
    ``n_outside`` counts probabilities outside ``[0, 1]`` (log-probabilities above
    ``1e-6``) and ``n_unnormalized`` rows of probabilities not summing to 1 (rows of
    log-probabilities whose log-sum-exp is not 0) within 1e-3, over every row;
    both are 0 for logits. Non-zero, the data are not of the ``kind`` given.
    """

    loss: np.ndarray
    pred: np.ndarray
    correct: np.ndarray
    p_true: np.ndarray
    confidence: np.ndarray
    margin: np.ndarray
    n_clipped: int
    n_nonfinite: int
    n_dead_rows: int
    n_floored: int = 0
    n_outside: int = 0
    n_unnormalized: int = 0


def reduce_scores(
    scores: np.ndarray,
    labels: np.ndarray,
    *,
    kind: str,
    dtype: str = "",
    chunk_rows: int | None = None,
    threads: int | None = None,
    clip: float | None = None,
) -> EpochStats:
    """Compute the per-sample statistics of one epoch.

    Parameters
    ----------
    scores : ndarray of shape (n_samples, n_classes) or (n_samples,)
        Logits, probabilities or log-probabilities (``kind``); a 1-D array is a
        single binary sigmoid output. Any float dtype; ``dtype == "bfloat16"``
        marks ``uint16`` bit patterns.
    labels : ndarray of shape (n_samples,) or (n_samples, n_classes)
        Integer class indices (-100 = ignored) or one-hot / soft targets.
    kind : {"logits", "probs", "log_probs"}
    clip : float, optional
        Clip every probability to ``[clip, 1 - clip]`` before its log (as Keras
        does with ``clip=1e-7``). Without it the loss is the exact ``-log p`` of the
        stored value, ``p = 0`` floored at the input dtype's smallest normal number.
    chunk_rows, threads : int, optional
        Rows per chunk and worker threads (defaults: chunks of about 1 MiB,
        up to 4 threads). They change the speed, never the result.

    Returns
    -------
    EpochStats
        Losses in nats, accumulated in float64.

    Examples
    --------
    >>> st = reduce_scores(np.array([[2.0, 0.0], [1e4, -1e4]]), np.array([0, 1]), kind="logits")
    >>> st.loss.round(6).tolist(), st.pred.tolist(), st.correct.tolist()
    ([0.126928, 20000.0], [0, 0], [True, False])
    >>> p = np.array([[0.0, 1.0]], dtype=np.float32)
    >>> reduce_scores(p, np.array([0]), kind="probs").loss.round(2).tolist()
    [87.34]
    >>> reduce_scores(p, np.array([0]), kind="probs", clip=1e-7).loss.round(2).tolist()
    [16.12]
    """
    stats, _ = _reduce(
        scores, labels, kind=kind, dtype=dtype, chunk_rows=chunk_rows, threads=threads, clip=clip
    )
    return stats


def reduce_detect(
    scores: np.ndarray,
    labels: np.ndarray,
    *,
    kind: str | None = None,
    dtype: str = "",
    chunk_rows: int | None = None,
    threads: int | None = None,
    clip: float | None = None,
) -> tuple[InputKind, EpochStats, KindEvidence]:
    """Reduce one epoch and gather the score-kind evidence in the same pass.

    With ``kind=None`` the kind is decided from this epoch alone
    (:func:`decide_kind`) and the statistics are computed as that kind. Logits,
    the common case, take a single pass over the data; probabilities and
    log-probabilities a second one. For a single score per sample the kind must
    be decided over every epoch (docs/design.md), so pass ``kind`` there.
    ``clip`` is that of :func:`reduce_scores`.

    Returns
    -------
    (kind, stats, evidence)
        ``evidence`` is what :func:`scan_kind` returns on the same scores (``min``,
        ``max`` and ``n_nonfinite`` identical; the row-sum and log-sum-exp
        deviations equal up to rounding), so :func:`decide_kind` applies.
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if scores.ndim == 1:
        ev = scan_kind(scores, dtype=dtype, chunk_rows=chunk_rows, threads=threads)
        chosen = kind or decide_kind(ev, binary=True)
        return chosen, reduce_scores(scores, labels, kind=chosen, dtype=dtype, clip=clip), ev
    reduce = functools.partial(
        _reduce, scores, labels, dtype=dtype, chunk_rows=chunk_rows, threads=threads, clip=clip
    )
    stats, found = reduce(kind="logits")
    assert found is not None
    chosen = kind or decide_kind(found, binary=False)
    if chosen != "logits" and not found.n_nonfinite:
        stats, _ = reduce(kind=chosen)
    return chosen, stats, found


def _reduce(
    scores: np.ndarray,
    labels: np.ndarray,
    *,
    kind: str,
    dtype: str,
    chunk_rows: int | None,
    threads: int | None,
    clip: float | None = None,
) -> tuple[EpochStats, KindEvidence | None]:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if clip is not None and not 0.0 < clip < 0.5:
        raise ValueError(f"clip must lie in (0, 0.5), got {clip!r}")
    rule = LossRule(dtype_floor(scores.dtype, dtype), clip)
    if isinstance(scores, np.memmap):  # plain views: slicing a memmap runs Python code per chunk
        scores = scores.view(np.ndarray)
    n = scores.shape[0]
    y, ignored, q = _targets(labels)
    valid = ~ignored
    out = _Out.empty(n)
    ev = None
    if scores.ndim == 1:
        counts = _reduce_binary(
            scores, y, valid, q, out, kind=kind, dtype=dtype, rule=rule, chunk_rows=chunk_rows,
            threads=threads,
        )  # fmt: skip
    else:
        counts, ev = _reduce_multiclass(
            scores,
            y,
            valid,
            q,
            out,
            kind=kind,
            dtype=dtype,
            chunk_rows=chunk_rows,
            threads=threads,
            rule=rule,
        )
    correct = (out.pred == y) & valid
    if ignored.any():
        out.loss[ignored] = np.nan
        out.p_true[ignored] = np.nan
        out.margin[ignored] = np.nan
    stats = EpochStats(
        loss=out.loss,
        pred=out.pred,
        correct=correct,
        p_true=out.p_true,
        confidence=out.confidence,
        margin=out.margin,
        n_clipped=counts.n_clipped,
        n_nonfinite=counts.n_bad,
        n_dead_rows=counts.n_dead,
        n_floored=counts.n_floored,
        n_outside=counts.n_outside,
        n_unnormalized=counts.n_unnormalized,
    )
    return stats, ev
