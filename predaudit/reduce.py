"""Per-sample statistics from one epoch's scores (DESIGN.md §3), in nats.

This is the only module that touches full ``[N, C]`` score arrays. It walks
them in row chunks small enough to stay in cache, on a small thread pool
(numpy releases the GIL), converting each chunk to float64 as it goes
(float16 and bfloat16 included), and writes into preallocated per-sample
arrays.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from predaudit.io.readers import BF16, bf16_to_float32

EPS = 1e-7
LOG_EPS = math.log(EPS)
KINDS = ("logits", "probs", "log_probs")
IGNORE_INDEX = -100
_TARGET_CHUNK_BYTES = 1 << 18  # 256 KiB of float64 per chunk


@dataclass
class EpochStats:
    """Per-sample statistics of one epoch, each an ndarray of shape (n_samples,).

    ``loss`` is cross-entropy in nats (NaN for ignored samples), ``pred`` the
    arg-max class (ties to the lower index), ``correct`` ``pred == label``
    (False for ignored samples), ``p_true`` the probability of the true class,
    ``confidence`` the largest class probability, ``margin`` the true class's
    score minus the best other one (logits, or log-probabilities floored at
    ``log 1e-7``). ``n_clipped`` counts values clipped to ``[1e-7, 1 - 1e-7]``
    (or -inf floored at ``log 1e-7``); ``n_nonfinite`` counts NaN and +inf scores.
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


@dataclass(frozen=True)
class KindEvidence:
    """What the score-kind rules of DESIGN.md §2 look at, gathered in one pass."""

    min: float
    max: float
    max_rowsum_dev: float
    max_lse_abs: float
    n_nonfinite: int


def _as_float(chunk: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == BF16:
        return bf16_to_float32(chunk).astype(np.float64)
    return np.asarray(chunk, dtype=np.float64)


def _chunk_rows(n_classes: int, chunk_rows: int | None) -> int:
    if chunk_rows is not None:
        return max(1, int(chunk_rows))
    return max(64, _TARGET_CHUNK_BYTES // (8 * max(1, n_classes)))


def _threads(threads: int | None) -> int:
    if threads is not None:
        return max(1, int(threads))
    return max(1, min(4, os.cpu_count() or 1))


def _run_chunks(n: int, rows: int, threads: int, fn) -> list:  # type: ignore[no-untyped-def]
    starts = list(range(0, n, rows))
    if threads == 1 or len(starts) <= 1:
        return [fn(s, min(s + rows, n)) for s in starts]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(lambda s: fn(s, min(s + rows, n)), starts))


def scan_kind(
    scores: np.ndarray,
    *,
    dtype: str = "",
    chunk_rows: int | None = None,
    threads: int | None = None,
) -> KindEvidence:
    """Gather the evidence for score-kind detection from ``scores`` (N, C) or (N,).

    Row sums and log-sum-exp only make sense for ``[N, C]`` scores; for a
    single score per sample they are reported as ``inf``.
    """
    n = scores.shape[0]
    c = 1 if scores.ndim == 1 else scores.shape[1]
    rows = _chunk_rows(c, chunk_rows)

    def work(a: int, b: int) -> tuple[float, float, float, float, int]:
        x = _as_float(scores[a:b], dtype)
        bad = int(np.count_nonzero(np.isnan(x) | (x == np.inf)))
        if bad:
            return math.inf, -math.inf, math.inf, math.inf, bad
        lo, hi = float(x.min()), float(x.max())
        if x.ndim == 1:
            return lo, hi, math.inf, math.inf, 0
        dev = float(np.max(np.abs(x.sum(axis=1) - 1.0))) if lo >= 0 else math.inf
        lse_abs = math.inf
        if hi <= 0:
            mx = x.max(axis=1, keepdims=True)
            with np.errstate(invalid="ignore", divide="ignore"):
                lse = mx[:, 0] + np.log(np.exp(x - mx).sum(axis=1))
            lse_abs = float(np.max(np.abs(lse))) if np.all(np.isfinite(lse)) else math.inf
        return lo, hi, dev, lse_abs, 0

    parts = _run_chunks(n, rows, _threads(threads), work)
    if not parts:
        return KindEvidence(0.0, 0.0, math.inf, math.inf, 0)
    return KindEvidence(
        min=min(p[0] for p in parts),
        max=max(p[1] for p in parts),
        max_rowsum_dev=max(p[2] for p in parts),
        max_lse_abs=max(p[3] for p in parts),
        n_nonfinite=sum(p[4] for p in parts),
    )


def decide_kind(ev: KindEvidence, *, binary: bool) -> str:
    """Apply DESIGN.md §2: probabilities, then log-probabilities, else logits.

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


def _softplus(t: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, t)


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

    Returns
    -------
    EpochStats
        Losses in nats, accumulated in float64.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    n = scores.shape[0]
    binary = scores.ndim == 1
    c = 2 if binary else scores.shape[1]
    soft = labels.ndim == 2
    loss = np.empty(n, dtype=np.float64)
    pred = np.empty(n, dtype=np.int64)
    p_true = np.empty(n, dtype=np.float64)
    confidence = np.empty(n, dtype=np.float64)
    margin = np.empty(n, dtype=np.float64)
    y_all = labels.argmax(axis=1) if soft else labels
    ignored = np.zeros(n, dtype=bool) if soft else (labels == IGNORE_INDEX)
    y_all = np.where(ignored, 0, y_all).astype(np.int64)

    def work(a: int, b: int) -> tuple[int, int, int]:
        x = _as_float(scores[a:b], dtype)
        y = y_all[a:b]
        bad = np.isnan(x) | (x == np.inf)
        if bad.any():
            return 0, int(np.count_nonzero(bad)), 0
        if binary:
            return _binary(x, y, labels[a:b] if soft else None, a, b)
        return _multiclass(x, y, labels[a:b] if soft else None, a, b)

    def _multiclass(x: np.ndarray, y: np.ndarray, q: np.ndarray | None, a: int, b: int):  # type: ignore[no-untyped-def]
        m = x.shape[0]
        r = np.arange(m)
        clipped = 0
        mx = x.max(axis=1)
        dead = int(np.count_nonzero(mx == -np.inf))
        if dead:
            return 0, 0, dead
        pred[a:b] = x.argmax(axis=1)
        if kind == "logits":
            with np.errstate(under="ignore"):
                s = np.exp(x - mx[:, None]).sum(axis=1)
            lse = mx + np.log(s)
            logp = x - lse[:, None] if q is not None else None
            zy = x[r, y] - lse  # log-probability of the true class, exact
            confidence[a:b] = 1.0 / s
        elif kind == "probs":
            clipped_mask = (x < EPS) | (x > 1.0 - EPS)
            logp_full = np.log(np.clip(x, EPS, 1.0 - EPS))
            logp = logp_full if q is not None else None
            zy = logp_full[r, y]
            clipped += int(np.count_nonzero(clipped_mask[r, y])) if q is None else int(
                np.count_nonzero(clipped_mask & (q > 0))
            )
            confidence[a:b] = x.max(axis=1)
        else:  # log_probs
            floor_mask = x < LOG_EPS
            logp_full = np.maximum(x, LOG_EPS)
            logp = logp_full if q is not None else None
            zy = logp_full[r, y]
            clipped += int(np.count_nonzero(floor_mask[r, y])) if q is None else int(
                np.count_nonzero(floor_mask & (q > 0))
            )
            confidence[a:b] = np.exp(mx)
        if kind == "logits":
            neg_inf = zy == -np.inf
            if neg_inf.any():
                clipped += int(np.count_nonzero(neg_inf))
                zy = np.where(neg_inf, LOG_EPS, zy)
        # margin: log p_y - max_{k != y} log p_k, both floored at log 1e-7 when -inf/clipped
        other = x.copy() if kind == "logits" else np.maximum(
            np.log(np.clip(x, EPS, 1.0 - EPS)) if kind == "probs" else x, LOG_EPS
        )
        if kind == "logits":
            other = other - lse[:, None]
        other[r, y] = -np.inf
        best_other = np.maximum(other.max(axis=1), LOG_EPS)
        margin[a:b] = zy - best_other
        p_true[a:b] = np.exp(zy) if kind != "probs" else x[r, y]
        if kind == "logits":
            with np.errstate(under="ignore"):
                p_true[a:b] = np.exp(x[r, y] - lse)
        if q is not None:
            assert logp is not None
            with np.errstate(invalid="ignore"):
                terms = np.where(q > 0, q * logp, 0.0)
            if kind == "logits" and np.any((q > 0) & (logp == -np.inf)):
                masked = (q > 0) & (logp == -np.inf)
                clipped += int(np.count_nonzero(masked))
                terms = np.where(masked, q * LOG_EPS, terms)
            loss[a:b] = -terms.sum(axis=1)
        else:
            loss[a:b] = -zy
        return clipped, 0, 0

    def _binary(x: np.ndarray, y: np.ndarray, q: np.ndarray | None, a: int, b: int):  # type: ignore[no-untyped-def]
        clipped = 0
        if kind == "logits":
            pred[a:b] = (x > 0).astype(np.int64)
            log_p1 = -_softplus(-x)  # log sigmoid(s)
            log_p0 = -_softplus(x)  # log (1 - sigmoid(s))
            neg_inf = x == -np.inf
            if neg_inf.any():
                log_p1 = np.where(neg_inf, LOG_EPS, log_p1)
            confidence[a:b] = np.exp(-_softplus(-np.abs(x)))
            sign = np.where(y == 1, x, -x)
            margin[a:b] = np.where(np.isfinite(sign), sign, np.sign(sign) * -LOG_EPS * 2)
            with np.errstate(under="ignore"):
                p_true[a:b] = np.exp(np.where(y == 1, log_p1, log_p0))
        else:
            p = x if kind == "probs" else np.exp(x)
            pred[a:b] = (p > 0.5).astype(np.int64)
            pc = np.clip(p, EPS, 1.0 - EPS)
            log_p1, log_p0 = np.log(pc), np.log1p(-pc)
            confidence[a:b] = np.maximum(p, 1.0 - p)
            py = np.where(y == 1, p, 1.0 - p)
            p_true[a:b] = py
            margin[a:b] = np.where(y == 1, log_p1 - log_p0, log_p0 - log_p1)
            clip_mask = (p < EPS) | (p > 1.0 - EPS)
            clipped += int(np.count_nonzero(clip_mask))
        if q is not None:
            loss[a:b] = -(q[:, 1] * log_p1 + q[:, 0] * log_p0)
        else:
            loss[a:b] = -np.where(y == 1, log_p1, log_p0)
        return clipped, 0, 0

    rows = _chunk_rows(c, chunk_rows)
    parts = _run_chunks(n, rows, _threads(threads), work)
    n_clipped = sum(p[0] for p in parts)
    n_nonfinite = sum(p[1] for p in parts)
    n_dead = sum(p[2] for p in parts)
    correct = pred == y_all
    if ignored.any():
        loss[ignored] = np.nan
        p_true[ignored] = np.nan
        margin[ignored] = np.nan
        correct &= ~ignored
    return EpochStats(
        loss=loss,
        pred=pred,
        correct=correct,
        p_true=p_true,
        confidence=confidence,
        margin=margin,
        n_clipped=n_clipped,
        n_nonfinite=n_nonfinite,
        n_dead_rows=n_dead,
    )
