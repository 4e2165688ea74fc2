"""The chunk kernels: per-sample statistics from rows of probabilities, log-probabilities
or logits (nats)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from predaudit.dtypes import BF16
from predaudit.reduce.pool import _count_bad
from predaudit.report.vocab import IGNORE_INDEX

EPS = 1e-7
"""The clip of Keras (and of predaudit before exact losses), now only a choice: ``clip=1e-7``."""
LOG_EPS = math.log(EPS)
PROB_TOL = 1e-3
"""Rows of probabilities sum to 1, and rows of log-probabilities have log-sum-exp 0, within this."""
LOG_PROB_TOL = 1e-6
"""A log-probability may exceed 0 by this much (rounding); such a value counts as 0."""

# float32 rows whose max lies in this range take exp(z) unshifted (see _logits_chunk).
_UNSHIFTED_LO, _UNSHIFTED_HI = -20.0, 88.0
# A shifted float32 row whose true class is the arg-max and whose other classes
# sum (after exp(z - max)) to less than this is recomputed in float64: its loss
# is about that sum, and float32 rounding of large |z - max| could show.
_F64_RECHECK = 1e-5


def dtype_floor(scores_dtype: np.dtype, dtype: str = "") -> float:
    """The smallest positive normal number of the input dtype: what ``p = 0`` is floored at.

    float16 6.1e-5, bfloat16 and float32 1.18e-38, float64 (and every other dtype,
    which is worked on in float64) 2.2e-308.

    >>> round(-math.log(dtype_floor(np.dtype(np.float32))), 2)
    87.34
    """
    if dtype == BF16:
        return float(np.finfo(np.float32).tiny)
    dt = np.dtype(scores_dtype)
    if dt in (np.float16, np.float32):
        return float(np.finfo(dt).tiny)
    return float(np.finfo(np.float64).tiny)


@dataclass(frozen=True)
class LossRule:
    """How ``-log p`` is formed from a float64 ``log p`` (``-inf`` for ``p = 0``).

    Without ``clip``, ``p = 0`` is floored at ``floor`` (the input dtype's smallest
    normal number) and every other value is exact; with ``clip`` (0 < ε < 0.5), ``p``
    is clipped to ``[ε, 1 − ε]`` as Keras does, ``-log(clip(p, ε, 1 − ε))``.
    """

    floor: float
    clip: float | None = None

    @property
    def log_floor(self) -> float:
        return math.log(self.floor)

    def apply(self, lp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(log p as used, where it was floored or clipped)``, float64."""
        if self.clip is None:
            hit = lp == -np.inf
            return np.where(hit, self.log_floor, lp), hit
        lo, hi = float(np.log(self.clip)), float(np.log(1.0 - self.clip))
        hit = (lp < lo) | (lp > hi)
        return np.clip(lp, lo, hi), hit

    def log_p(self, lp: np.ndarray) -> np.ndarray:
        """``log p`` with only the floor (margins are never clipped)."""
        return np.where(lp == -np.inf, self.log_floor, lp)


@dataclass
class Counts:
    """What a kernel counts: floored and clipped values (samples that count), NaN/+inf
    scores, rows with every class at -inf, values outside the kind's range and rows
    that are not normalised (probabilities and log-probabilities only)."""

    n_clipped: int = 0
    n_floored: int = 0
    n_bad: int = 0
    n_dead: int = 0
    n_outside: int = 0
    n_unnormalized: int = 0

    def hits(self, rule: LossRule, n: int) -> Counts:
        """``n`` values floored (no clip) or clipped (with one)."""
        if rule.clip is None:
            self.n_floored += n
        else:
            self.n_clipped += n
        return self

    @classmethod
    def total(cls, parts: list[Counts]) -> Counts:
        names = [f.name for f in dataclasses.fields(cls)]
        return cls(**{k: sum(getattr(p, k) for p in parts) for k in names})


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
    if lab.dtype == np.int64 and not ignored.any():
        return lab, ignored, None  # only read: no copy
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


def _kind_counts(x: np.ndarray, mx: np.ndarray, *, log_input: bool) -> tuple[int, int]:
    """Values outside the kind's range and rows not normalised (docs/design.md)."""
    if not log_input:
        n_out = int(np.count_nonzero((x < 0) | (x > 1)))
        dev = np.abs(x.sum(axis=1, dtype=np.float64) - 1.0)
        return n_out, int(np.count_nonzero(~(dev <= PROB_TOL)))
    n_out = int(np.count_nonzero(x > LOG_PROB_TOL))
    s = np.exp(x - x.max(axis=1, keepdims=True)).sum(axis=1, dtype=np.float64)
    lse = mx + np.log(s)
    return n_out, int(np.count_nonzero(~(np.abs(lse) <= PROB_TOL)))


def _true_class(
    zy: np.ndarray,
    mx: np.ndarray,
    out: _Out,
    a: int,
    b: int,
    rule: LossRule,
    *,
    log_input: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``a:b`` of probabilities (or log-probabilities): p_true, confidence and the loss
    from the true-class score ``zy`` and the row max ``mx`` (float64); returns
    ``(log p_y, where the floor or clip hit)``."""
    if log_input:
        lp_y = np.minimum(zy, 0.0)
        out.p_true[a:b] = np.exp(lp_y)
        out.confidence[a:b] = np.exp(np.minimum(mx, 0.0))
    else:
        lp_y = np.log(zy)  # -inf at 0; NaN below 0 (counted as outside [0, 1])
        out.p_true[a:b] = zy
        out.confidence[a:b] = mx
    used, hit = rule.apply(lp_y)
    out.loss[a:b] = 0.0 - used
    return lp_y, hit


def _margin(
    lp_y: np.ndarray,
    other: np.ndarray,
    out: _Out,
    a: int,
    b: int,
    rule: LossRule,
    *,
    log_input: bool,
) -> None:
    """Rows ``a:b`` of the margin ``log p_y - log p_other`` from the best other class's score."""
    lp_other = np.minimum(other, 0.0) if log_input else np.log(np.maximum(other, 0.0))
    out.margin[a:b] = rule.log_p(lp_y) - rule.log_p(lp_other)


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
    rule: LossRule,
) -> Counts:
    """Probabilities (``log_input`` False) or log-probabilities kernel.

    ``log p`` is taken in float64 from the stored value (``log p`` itself for
    log-probabilities, capped at 0), exact but for ``p = 0`` (floored) or a clip.
    """
    m = x.shape[0]
    r = np.arange(m)
    am = np.argmax(x, axis=1)
    mx = x[r, am].astype(np.float64)
    if np.isnan(mx).any() or np.any(mx == np.inf):
        out.fill_nan(a, b)
        return Counts(n_bad=_count_bad(x))
    n_dead = int(np.count_nonzero(mx == -np.inf)) if log_input else 0
    if n_dead:
        out.fill_nan(a, b)
        return Counts(n_dead=n_dead)
    n_out, n_rows = _kind_counts(x, mx, log_input=log_input)
    counts = Counts(n_outside=n_out, n_unnormalized=n_rows)
    zy = x[r, y].astype(np.float64)
    lp_y, hit = _true_class(zy, mx, out, a, b, rule, log_input=log_input)
    # best other class: the max unless the true class is the (first) max
    d = d[:m]
    np.copyto(d, x)
    d[r, y] = -np.inf
    other = d.max(axis=1).astype(np.float64)
    _margin(lp_y, other, out, a, b, rule, log_input=log_input)
    out.pred[a:b] = am
    if q is None:
        return counts.hits(rule, int(np.count_nonzero(hit & valid)))
    pos = q > 0
    x64 = x.astype(np.float64)
    logp, hit = rule.apply(np.minimum(x64, 0.0) if log_input else np.log(x64))
    out.loss[a:b] = 0.0 - np.where(pos, q * logp, 0.0).sum(axis=1)
    return counts.hits(rule, int(np.count_nonzero(hit & pos)))
