"""The chunk kernels: per-sample statistics from rows of probabilities, log-probabilities
or logits (nats)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from predaudit.reduce.pool import _count_bad
from predaudit.report.vocab import IGNORE_INDEX

EPS = 1e-7
LOG_EPS = math.log(EPS)

# float32 rows whose max lies in this range take exp(z) unshifted (see _logits_chunk).
_UNSHIFTED_LO, _UNSHIFTED_HI = -20.0, 88.0
# A shifted float32 row whose true class is the arg-max and whose other classes
# sum (after exp(z - max)) to less than this is recomputed in float64: its loss
# is about that sum, and float32 rounding of large |z - max| could show.
_F64_RECHECK = 1e-5


@dataclass
class _Out:
    """The preallocated per-sample arrays every chunk writes into."""

    loss: np.ndarray
    pred: np.ndarray
    p_true: np.ndarray
    confidence: np.ndarray
    margin: np.ndarray

    @classmethod
    def empty(cls, n: int) -> _Out:
        return cls(
            loss=np.empty(n),
            pred=np.empty(n, dtype=np.int64),
            p_true=np.empty(n),
            confidence=np.empty(n),
            margin=np.empty(n),
        )

    def fill_nan(self, a: int, b: int) -> None:
        for arr in (self.loss, self.p_true, self.confidence, self.margin):
            arr[a:b] = np.nan
        self.pred[a:b] = 0


def _targets(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Class index per sample (0 where ignored), the ignored mask, soft targets or None.

    One-hot rows are turned into indices, so they give exactly the statistics
    of the same labels given as indices.
    """
    if labels.ndim == 2:
        q = np.asarray(labels, dtype=np.float64)
        y = q.argmax(axis=1).astype(np.int64)
        ignored = np.zeros(q.shape[0], dtype=bool)
        if bool(np.all((q == 0.0) | (q == 1.0))) and bool(np.all(q.sum(axis=1) == 1.0)):
            return y, ignored, None
        return y, ignored, q
    lab = np.asarray(labels)
    ignored = lab == IGNORE_INDEX
    y = np.where(ignored, 0, lab).astype(np.int64)
    return y, ignored, None


_Evidence = tuple[float, float, float, float, int]


def _bad_evidence(x: np.ndarray) -> _Evidence:
    return math.inf, -math.inf, math.inf, math.inf, _count_bad(x)


def _soft_dot(q: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Soft targets ``q`` against ``d = z - max``, per row.

    Returns the sum of ``q_k d_k`` over the finite classes, the target mass on
    -inf classes, and how many (row, class) pairs have target mass on -inf.
    """
    pos = q > 0
    masked = pos & (d == -np.inf)
    terms = np.where(pos & ~masked, q * d, 0.0)
    q_masked = np.where(masked, q, 0.0).sum(axis=1)
    return terms.sum(axis=1), q_masked, int(np.count_nonzero(masked))


def _neg_log_clipped(p: np.ndarray) -> np.ndarray:
    """``-log(clip(p, 1e-7, 1 - 1e-7))``, the clipped ends exact."""
    with np.errstate(divide="ignore", invalid="ignore"):
        nl = -np.log(p)
    nl = np.where(p < EPS, -LOG_EPS, nl)
    return np.where(p > 1.0 - EPS, -math.log1p(-EPS), nl)


def _probs_chunk(
    x: np.ndarray,
    y: np.ndarray,
    valid: np.ndarray,
    q: np.ndarray | None,
    d: np.ndarray,
    out: _Out,
    a: int,
    b: int,
    *,
    log_input: bool,
) -> tuple[int, int, int]:
    """Probabilities (``log_input`` False) or log-probabilities kernel.

    Returns n_clipped, the NaN/+inf count and n_dead_rows.
    """
    m = x.shape[0]
    r = np.arange(m)
    am = np.argmax(x, axis=1)
    mx = x[r, am].astype(np.float64)
    if np.isnan(mx).any() or np.any(mx == np.inf):
        out.fill_nan(a, b)
        return 0, _count_bad(x), 0
    n_dead = int(np.count_nonzero(mx == -np.inf)) if log_input else 0
    if n_dead:
        out.fill_nan(a, b)
        return 0, 0, n_dead
    zy = x[r, y].astype(np.float64)
    if log_input:
        bad_y = zy < LOG_EPS
        lp_y = np.maximum(zy, LOG_EPS)
        out.loss[a:b] = -lp_y
        out.p_true[a:b] = np.exp(zy)
        out.confidence[a:b] = np.exp(mx)
    else:
        bad_y = (zy < EPS) | (zy > 1.0 - EPS)
        lp_y = np.log(np.maximum(zy, EPS))
        out.loss[a:b] = _neg_log_clipped(zy)
        out.p_true[a:b] = zy
        out.confidence[a:b] = mx
    # best other class: the max unless the true class is the (first) max
    d = d[:m]
    np.copyto(d, x)
    d[r, y] = -np.inf
    other = d.max(axis=1).astype(np.float64)
    lp_other = np.maximum(other, LOG_EPS) if log_input else np.log(np.maximum(other, EPS))
    out.margin[a:b] = lp_y - lp_other
    out.pred[a:b] = am
    if q is None:
        return int(np.count_nonzero(bad_y & valid)), 0, 0
    pos = q > 0
    if log_input:
        bad = x < LOG_EPS
        logp = np.maximum(x, LOG_EPS)
    else:
        bad = (x < EPS) | (x > 1.0 - EPS)
        logp = -_neg_log_clipped(x)
    out.loss[a:b] = -np.where(pos, q * logp, 0.0).sum(axis=1)
    return int(np.count_nonzero(bad & pos)), 0, 0
