"""Chunks of scores as temperature scaling reads them, and per-sample values at a temperature.

A chunk is ``scores`` ``[n, C]`` (float16, float32 or float64) with integer
``labels`` ``[n]`` (``ignore_index``, default -100, marks samples that do not
count). ``kind`` says what the scores are:

* ``"logits"``: ``z``; the model at temperature ``T`` is ``softmax(z / T)``.
* ``"log_probs"``: ``log p``; handled exactly as logits (a row's
  log-normaliser is a per-row shift, which ``softmax(· / T)`` ignores).
  ``-inf`` (``p = 0``) is floored at the log of the dtype's smallest normal.
* ``"probs"``: ``p``; temperature acts on ``log p``, with ``p = 0`` floored at
  the smallest normal of the dtype (``np.finfo(dtype).tiny``). At ``T = 1``
  this is ``p`` renormalised to sum to 1.

A binary model may give one score per sample, ``[n]``: the logit (or
probability, or log-probability) of class 1, read as the two classes
``[0, z]`` (``[1 - p, p]``). All arithmetic is in float64; losses are in nats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from predaudit.report.vocab import IGNORE_INDEX
from predaudit.report.vocab import InputKind as Kind


def _floor_log(dtype: np.dtype) -> float:
    info = np.finfo(dtype if dtype.kind == "f" and dtype.itemsize <= 8 else np.float64)
    return float(np.log(np.float64(info.tiny)))


def base_scores(
    scores: np.ndarray, *, kind: Kind = "logits", class_major: bool = False
) -> np.ndarray:
    """The float64 ``[n, C]`` scores ``z`` with ``softmax(z / T)`` the model at temperature ``T``.

    ``class_major``: the same values as a C-contiguous ``[C, n]`` array (the
    transpose taken in the widening copy). Raises ValueError on NaN, on
    ``+inf``, on ``-inf`` logits and on negative probabilities.
    """
    x = np.asarray(scores)
    if x.ndim not in (1, 2):
        raise ValueError(f"scores must have shape [n, C] or [n], got {x.shape}")
    if x.dtype.kind not in "fiu":
        raise ValueError(f"scores must be numbers, got dtype {x.dtype}")
    floor = _floor_log(x.dtype)
    if class_major:
        z = np.empty(x.shape[::-1])
        z[...] = x.T
    else:
        z = x.astype(np.float64)
    if not np.isfinite(z).all():
        if np.isnan(z).any() or (z == np.inf).any():
            raise ValueError("scores contain NaN or +inf")
        if kind == "logits":
            raise ValueError("logits contain -inf")
    axis = 0 if class_major else 1
    if kind == "logits":
        if z.ndim == 1:
            z = np.stack([np.zeros_like(z), z], axis=axis)
        return z
    if kind == "log_probs":
        if z.ndim == 1:
            with np.errstate(divide="ignore"):
                z = np.stack([np.log(-np.expm1(np.minimum(z, 0.0))), z], axis=axis)
        return np.maximum(z, floor)
    if kind == "probs":
        if (z < 0).any():
            raise ValueError("probabilities must be non-negative")
        if z.ndim == 1:
            if (z > 1).any():
                raise ValueError("binary probabilities must be within [0, 1]")
            z = np.stack([1.0 - z, z], axis=axis)
        with np.errstate(divide="ignore"):
            return np.maximum(np.log(z), floor)
    raise ValueError(f"kind must be 'logits', 'log_probs' or 'probs', got {kind!r}")


def check_labels(labels: np.ndarray, n: int, c: int, ignore_index: int) -> np.ndarray:
    """``[n]`` bool mask of the samples that count; raises ValueError on bad labels."""
    y = np.asarray(labels)
    if y.shape != (n,):
        raise ValueError(f"labels must have shape [{n}], got {y.shape}")
    if y.dtype.kind not in "iub":
        raise ValueError(f"labels must be integers, got dtype {y.dtype}")
    valid = y != ignore_index
    yv = y[valid]
    if yv.size and (yv.min() < 0 or yv.max() >= c):
        raise ValueError(f"labels must be in [0, {c}) or {ignore_index}")
    return valid


def _check_temperature(temperature: float) -> float:
    t = float(temperature)
    if not (t > 0 and np.isfinite(t)):
        raise ValueError(f"temperature must be positive and finite, got {temperature}")
    return t


def scaled_probabilities(
    scores: np.ndarray, *, temperature: float = 1.0, kind: Kind = "logits"
) -> np.ndarray:
    """``softmax(z / T)``, ``[n, C]`` float64 (``[n, 2]`` for one score per sample)."""
    t = _check_temperature(temperature)
    s = base_scores(scores, kind=kind) / t
    e = np.exp(s - s.max(axis=1, keepdims=True))
    e /= e.sum(axis=1, keepdims=True)
    return e


# -- the T-independent parts of a chunk, and its sums at any temperature --------------------

CLASS_MAJOR_MAX = 48
"""Chunks of at most this many classes are kept class-major (``[C, m]``, a row of each class).

The per-sample sums over classes are then C elementwise additions of contiguous
rows instead of numpy's ``sum(axis=1)`` over a short axis (which pays a per-row
overhead); above it rows are long enough for ``sum(axis=1)``. Measured by
``benchmarks/bench_temperature.py --crossover`` (CPU ms a pass over 2^20 scores,
class-major / row-major, a 2-core machine): C = 8: 4.4 / 12, 32: 4.6 / 5.7, 48: 5.2 / 5.9,
64: 5.3 / 5.0, 1000: 3.8 / 3.1; the once-an-epoch preparation is cheaper
row-major from C = 64 on.
"""


@dataclass(frozen=True)
class PreparedScores:
    """What does not depend on ``T`` in a chunk's ``m`` counted rows (of its ``n``).

    ``d0``: float64 shifted scores ``z - max z`` (``<= 0``, exactly 0 at the
    maximum), class-major ``[C, m]`` when ``C <= CLASS_MAJOR_MAX``, else
    row-major ``[m, C]``: ``8 C`` bytes a sample; ``class_axis`` (0 or 1) says
    which. ``top``: ``[m]`` flat index into ``d0`` of each row's argmax (the
    first maximum). ``dy0``: ``[m]`` ``z_y - max z``. ``valid``: ``[n]`` bool,
    the rows that count. ``floor``: the smallest ``d0`` (0 when empty). Counts
    as in :class:`predaudit.calibration.TemperatureSums`. In all ``8 C + 17``
    bytes a counted sample, 1 an ignored one.
    """

    d0: np.ndarray
    class_axis: int
    top: np.ndarray
    dy0: np.ndarray
    valid: np.ndarray
    sum_dy0: float
    floor: float
    n_correct: int
    n_wrong: int
    n_varied: int
    shift: np.ndarray | None = None

    @property
    def n(self) -> int:
        return int(self.dy0.size)

    @property
    def nbytes(self) -> int:
        own = self.top.nbytes + self.dy0.nbytes + self.valid.nbytes
        return int(own + (self.d0.nbytes if self.shift is None else self.shift.nbytes))


@dataclass(frozen=True)
class Moments:
    """Sums over a prepared chunk's rows at ``T`` (nats; derivatives in ``log T``).

    ``loss_rows`` (``-log p_y``) and ``brier_rows`` are ``[m]`` when asked for, else None;
    so are ``grad_rows`` and ``hess_rows``, each row's ``dℓ/dlogT`` and ``d²ℓ/dlogT²``,
    and ``third_rows``, its ``d³ℓ/dlogT³``.
    """

    loss: float
    grad: float
    hess: float
    entropy: float
    loss_rows: np.ndarray | None
    brier_rows: np.ndarray | None
    grad_rows: np.ndarray | None = None
    hess_rows: np.ndarray | None = None
    third_rows: np.ndarray | None = None


def prepare_scores(
    scores: np.ndarray,
    labels: np.ndarray,
    *,
    kind: Kind = "logits",
    ignore_index: int = IGNORE_INDEX,
    class_major: bool | None = None,
) -> PreparedScores:
    """Validate a chunk ``[n, C]`` (or ``[n]``) and keep its T-independent parts.

    ``class_major`` None picks the layout by ``C`` (see ``CLASS_MAJOR_MAX``).
    Raises ValueError as :func:`base_scores` and :func:`check_labels` do.
    """
    x = np.asarray(scores)
    c = 2 if x.ndim == 1 else int(x.shape[-1]) if x.ndim == 2 else 0
    cm = c <= CLASS_MAJOR_MAX if class_major is None else bool(class_major)
    z = base_scores(x, kind=kind, class_major=cm)
    n = z.shape[1] if cm else z.shape[0]
    valid = check_labels(labels, n, c, ignore_index)
    y = np.asarray(labels)[valid].astype(np.intp)
    if not valid.all():
        z = z[:, valid] if cm else z[valid]
    m = int(y.size)
    r = np.arange(m)
    if m == 0:
        d0 = np.zeros((c, 0) if cm else (0, c))
        empty = np.zeros(0, dtype=np.intp)
        return PreparedScores(d0, 0 if cm else 1, empty, np.zeros(0), valid, 0.0, 0.0, 0, 0, 0)
    if cm:
        d0 = z  # [C, m], base_scores' own copy: shifted in place
        top_value = np.maximum.reduce(d0, axis=0)
        am = np.full(m, c - 1, dtype=np.intp)
        for k in range(c - 2, -1, -1):  # the first maximum: lower classes overwrite
            np.putmask(am, d0[k] == top_value, k)
        dy0 = d0.reshape(-1)[y * m + r] - top_value
        d0 -= top_value
        lowest = np.minimum.reduce(d0, axis=0)
        top = am * m + r
    else:
        d0 = z if z.base is None else z.copy()  # base_scores' own copy, shifted in place
        am = np.argmax(d0, axis=1)
        top_value = d0[r, am]
        dy0 = d0[r, y] - top_value
        d0 -= top_value[:, None]
        lowest = d0.min(axis=1)
        top = r * c + am
    return PreparedScores(
        d0=d0,
        class_axis=0 if cm else 1,
        top=top,
        dy0=dy0,
        valid=valid,
        sum_dy0=float(dy0.sum()),
        floor=float(lowest.min()),
        n_correct=int(np.count_nonzero(am == y)),
        n_wrong=int(np.count_nonzero(dy0 < 0)),
        n_varied=int(np.count_nonzero(lowest < 0)),
    )


def workspace(elements: int) -> tuple[np.ndarray, np.ndarray]:
    """Two float64 buffers for :func:`prepared_moments` over chunks of up to ``elements``.

    Reusing them from chunk to chunk and pass to pass saves the page faults of two
    fresh chunk-sized arrays each call (as much time as the arithmetic, measured).
    """
    return np.empty(elements), np.empty(elements)


def class_sums(e: np.ndarray, axis: int) -> np.ndarray:
    """Each row's sum over the classes of a chunk ``e`` (classes along ``axis``); along a
    row-major chunk's classes by ``einsum`` (numpy's wide accumulators: 0.65 of the time
    of ``add.reduce`` in float64, 0.45 in float32, measured on [262, 1000])."""
    return np.einsum("mk->m", e) if axis == 1 else np.add.reduce(e, axis=0)


def prepared_moments(
    prep: PreparedScores,
    temperature: float,
    *,
    loss_rows: bool = False,
    brier_rows: bool = False,
    derivative_rows: bool = False,
    third_rows: bool = False,
    work: tuple[np.ndarray, np.ndarray] | None = None,
) -> Moments:
    """The sums of ``ℓ``, ``dℓ/dlogT``, ``d²ℓ/dlogT²`` and ``H`` over ``prep``'s rows at ``T``.

    With ``d = d0 / T``, ``e = exp(d)`` and the argmax left out (``rest = sum e``,
    ``S1 = sum e d``, ``S2 = sum e d²``, over ``k != argmax``): ``ℓ = log1p(rest)
    - d_y``, ``E_p[d] = S1 / (1 + rest)``, ``dℓ/dlogT = d_y - E_p[d]``, ``H =
    log1p(rest) - E_p[d]`` and ``d²ℓ/dlogT² = Var_p(d) - dℓ/dlogT`` with ``Var_p(d)
    = S2 / (1 + rest) - E_p[d]²`` (the argmax holds at least ``1/C`` of ``p`` at
    ``d = 0``, so that difference loses at most a factor ``C + 1`` of relative
    precision). Seven elementwise passes over ``[C, m]``: no per-row reduction over
    a short axis. Brier: ``(1 - p_y)² + sum_{k != y} p_k²`` from two non-negative
    terms each (``1 - p_y = (rest - expm1(d_y)) / (1 + rest)``). ``third_rows``
    (with ``derivative_rows``): ``d³ℓ/dlogT³ = dℓ/dlogT - 3 Var_p(d) - κ₃``, ``κ₃``
    the third central moment of ``d`` (from ``S3 = sum e d³``, one more pass).
    """
    t = _check_temperature(temperature)
    m = prep.n
    if m == 0:
        wanted = (loss_rows, brier_rows, derivative_rows, derivative_rows, third_rows)
        rows = [
            np.zeros(0) if w and (k < 4 or derivative_rows) else None for k, w in enumerate(wanted)
        ]
        return Moments(0.0, 0.0, 0.0, 0.0, *rows)
    inv = 1.0 / t
    ax = prep.class_axis
    size = prep.d0.size
    if work is None or work[0].size < size or work[1].size < size:
        work = workspace(size)
    d = work[0][:size].reshape(prep.d0.shape)
    if prep.shift is None:
        np.multiply(prep.d0, inv, out=d)
    else:  # the same float64 d0, from the scores themselves (widened exactly, then shifted:
        np.copyto(d, prep.d0)  # half the time of a subtraction of mixed dtypes)
        d -= prep.shift[:, None]
        d *= inv
    if not math.isfinite(prep.floor * inv):  # e d would be 0 * -inf: p_k = 0 exactly anyway
        np.maximum(d, -np.finfo(np.float64).max, out=d)
    e = np.exp(d, out=work[1][:size].reshape(prep.d0.shape))
    e.reshape(-1)[prep.top] = 0.0  # the argmax: exp(0) = 1, kept out of rest
    rest = class_sums(e, ax)
    q = np.einsum("km,km->m" if ax == 0 else "mk,mk->m", e, e) if brier_rows else None
    e *= d
    s1 = class_sums(e, ax)
    e *= d
    s2 = class_sums(e, ax)
    want_third = third_rows and derivative_rows
    s3 = None
    if want_third:
        e *= d
        s3 = class_sums(e, ax)
    del e, d
    if prep.shift is not None and prep.n != prep.valid.size:  # every row was computed
        rest, s1, s2 = rest[prep.valid], s1[prep.valid], s2[prep.valid]
        q = q[prep.valid] if q is not None else None
        s3 = s3[prep.valid] if s3 is not None else None
    log_norm = np.log1p(rest)
    w = 1.0 / (1.0 + rest)
    mean_d = s1 * w
    sum_ln, sum_md = float(log_norm.sum()), float(mean_d.sum())
    # (not np.dot: a threaded BLAS call costs a hundred times these sums on a busy machine)
    var = s2 * w - mean_d * mean_d if derivative_rows else None
    sum_var = float((s2 * w).sum()) - float((mean_d * mean_d).sum())
    sum_dy = prep.sum_dy0 * inv
    grad = sum_dy - sum_md
    dy = prep.dy0 * inv if (loss_rows or brier_rows or derivative_rows) else None
    g_rows = dy - mean_d if derivative_rows and dy is not None else None
    brier = None
    if q is not None and dy is not None:
        a = (rest - np.expm1(dy)) * w
        brier = a * a + (q - np.expm1(2.0 * dy)) * (w * w)
    third = None
    if s3 is not None and g_rows is not None and var is not None:
        m2 = s2 * w
        third = g_rows - 3.0 * var - (s3 * w - mean_d * (3.0 * m2 - 2.0 * mean_d * mean_d))
    return Moments(
        loss=sum_ln - sum_dy,
        grad=grad,
        hess=sum_var - grad,
        entropy=sum_ln - sum_md,
        loss_rows=log_norm - dy if loss_rows and dy is not None else None,
        brier_rows=brier,
        grad_rows=g_rows,
        hess_rows=var - g_rows if var is not None and g_rows is not None else None,
        third_rows=third,
    )


def _per_sample(valid: np.ndarray, values: np.ndarray | None) -> np.ndarray:
    out = np.full(valid.shape[0], np.nan)
    if values is not None and values.size:
        out[valid] = values
    return out


def loss_at_temperature(
    scores: np.ndarray,
    labels: np.ndarray,
    *,
    temperature: float,
    kind: Kind = "logits",
    ignore_index: int = IGNORE_INDEX,
) -> np.ndarray:
    """Per-sample NLL ``-log softmax(z / T)_y``, ``[n]`` float64 nats; NaN where ignored.

    Computed as ``(M - s_y) + log1p(sum_{k != argmax} exp(s_k - M))`` with
    ``s = z / T`` and ``M = max s``: two non-negative terms, so a tiny loss
    keeps its relative precision.
    """
    t = _check_temperature(temperature)
    prep = prepare_scores(scores, labels, kind=kind, ignore_index=ignore_index)
    return _per_sample(prep.valid, prepared_moments(prep, t, loss_rows=True).loss_rows)


def brier_score(
    scores: np.ndarray,
    labels: np.ndarray,
    *,
    temperature: float = 1.0,
    kind: Kind = "logits",
    ignore_index: int = IGNORE_INDEX,
) -> np.ndarray:
    """Per-sample Brier score ``sum_k (p_k - onehot(y)_k)^2`` in ``[0, 2]``; NaN where ignored.

    ``p = softmax(z / T)``. (For one score per sample, the two classes count:
    this is twice the binary ``(p_1 - y)^2``.)
    """
    t = _check_temperature(temperature)
    prep = prepare_scores(scores, labels, kind=kind, ignore_index=ignore_index)
    return _per_sample(prep.valid, prepared_moments(prep, t, brier_rows=True).brier_rows)
