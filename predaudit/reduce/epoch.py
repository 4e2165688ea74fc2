"""Per-sample statistics of one epoch: ``reduce_scores`` and ``reduce_detect``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from predaudit.dtypes import BF16, bf16_to_float32
from predaudit.reduce.chunks import EPS, LOG_EPS, _neg_log_clipped, _Out, _targets
from predaudit.reduce.kind import KindEvidence, decide_kind, scan_kind
from predaudit.reduce.multiclass import _reduce_multiclass
from predaudit.reduce.pool import _count_bad
from predaudit.report.vocab import KINDS, InputKind


@dataclass
class EpochStats:
    """Per-sample statistics of one epoch, each an ndarray of shape (n_samples,).

    ``loss`` is cross-entropy in nats (NaN for ignored samples), ``pred`` the
    arg-max class (ties to the lower index), ``correct`` ``pred == label``
    (False for ignored samples), ``p_true`` the probability of the true class,
    ``confidence`` the largest class probability, ``margin`` the true class's
    score minus the best other one (logits, or log-probabilities floored at
    ``log 1e-7``). ``n_clipped`` counts values clipped to ``[1e-7, 1 - 1e-7]``
    (or -inf floored at ``log 1e-7``) among the samples that count;
    ``n_nonfinite`` counts NaN and +inf scores; ``n_dead_rows`` rows whose
    every class is -inf. When either of the last two is non-zero the other
    fields are not meaningful (the caller reports an input error).
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


def _reduce_binary(
    scores: np.ndarray,
    y: np.ndarray,
    valid: np.ndarray,
    q: np.ndarray | None,
    out: _Out,
    *,
    kind: str,
    dtype: str,
) -> tuple[int, int]:
    """A single sigmoid output per sample; returns n_clipped and the NaN/+inf count."""
    n = scores.shape[0]
    s = bf16_to_float32(scores) if dtype == BF16 else scores
    s = np.asarray(s, dtype=np.float64)
    n_bad = _count_bad(s)
    if n_bad:
        out.fill_nan(0, n)
        return 0, n_bad
    pos = y == 1
    with np.errstate(all="ignore"):
        if kind == "logits":
            out.pred[:] = s > 0
            masked = s == -np.inf  # class 1 is impossible
            log_p1 = np.where(masked, LOG_EPS, -np.logaddexp(0.0, -s))  # log sigmoid(s), floored
            log_p0 = -np.logaddexp(0.0, s)  # log (1 - sigmoid(s))
            out.confidence[:] = np.exp(-np.logaddexp(0.0, -np.abs(s)))
            out.p_true[:] = np.where(pos, np.exp(-np.logaddexp(0.0, -s)), np.exp(log_p0))
            # the margin of z = [0, s] as for several classes: -inf is floored at the
            # log-sum-exp (0 when s == -inf) plus log 1e-7
            margin = np.where(pos, s, -s)
            out.margin[:] = np.where(masked, np.where(pos, LOG_EPS, -LOG_EPS), margin)
            if q is None:
                clipped = int(np.count_nonzero(masked & pos & valid))
            else:
                clipped = int(np.count_nonzero(masked & (q[:, 1] > 0)))
        else:
            p = s if kind == "probs" else np.exp(s)
            out.pred[:] = p > 0.5
            log_p1, log_p0 = -_neg_log_clipped(p), -_neg_log_clipped(1.0 - p)
            out.confidence[:] = np.maximum(p, 1.0 - p)
            out.p_true[:] = np.where(pos, p, 1.0 - p)
            lp1, lp0 = np.log(np.maximum(p, EPS)), np.log(np.maximum(1.0 - p, EPS))
            out.margin[:] = np.where(pos, lp1 - lp0, lp0 - lp1)
            clipped = int(np.count_nonzero(((p < EPS) | (p > 1.0 - EPS)) & valid))
        if q is None:
            out.loss[:] = -np.where(pos, log_p1, log_p0)
        else:
            out.loss[:] = -(q[:, 1] * log_p1 + q[:, 0] * log_p0)
    return clipped, 0


def reduce_scores(
    scores: np.ndarray,
    labels: np.ndarray,
    *,
    kind: str,
    dtype: str = "",
    chunk_rows: int | None = None,
    threads: int | None = None,
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
    """
    stats, _ = _reduce(
        scores, labels, kind=kind, dtype=dtype, chunk_rows=chunk_rows, threads=threads
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
) -> tuple[InputKind, EpochStats, KindEvidence]:
    """Reduce one epoch and gather the score-kind evidence in the same pass.

    With ``kind=None`` the kind is decided from this epoch alone
    (:func:`decide_kind`) and the statistics are computed as that kind. Logits,
    the common case, take a single pass over the data; probabilities and
    log-probabilities a second one. For a single score per sample the kind must
    be decided over every epoch (docs/design.md), so pass ``kind`` there.

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
        return chosen, reduce_scores(scores, labels, kind=chosen, dtype=dtype), ev
    stats, found = _reduce(
        scores, labels, kind="logits", dtype=dtype, chunk_rows=chunk_rows, threads=threads
    )
    assert found is not None
    chosen = kind or decide_kind(found, binary=False)
    if chosen != "logits" and not found.n_nonfinite:
        stats, _ = _reduce(
            scores, labels, kind=chosen, dtype=dtype, chunk_rows=chunk_rows, threads=threads
        )
    return chosen, stats, found


def _reduce(
    scores: np.ndarray,
    labels: np.ndarray,
    *,
    kind: str,
    dtype: str,
    chunk_rows: int | None,
    threads: int | None,
) -> tuple[EpochStats, KindEvidence | None]:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    n = scores.shape[0]
    y, ignored, q = _targets(labels)
    valid = ~ignored
    out = _Out.empty(n)
    ev = None
    if scores.ndim == 1:
        n_clipped, n_bad = _reduce_binary(scores, y, valid, q, out, kind=kind, dtype=dtype)
        n_dead = 0
    else:
        n_clipped, n_bad, n_dead, ev = _reduce_multiclass(
            scores,
            y,
            valid,
            q,
            out,
            kind=kind,
            dtype=dtype,
            chunk_rows=chunk_rows,
            threads=threads,
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
        n_clipped=n_clipped,
        n_nonfinite=n_bad,
        n_dead_rows=n_dead,
    )
    return stats, ev
