"""Temperature scaling fitted in passes over row chunks (Newton on ``u = log T``).

For a sample with scores ``z`` (see :mod:`predaudit.calibration.scores` for
the kinds) and label ``y``, at temperature ``T`` let ``s = z / T``,
``p = softmax(s)`` and ``ℓ = logsumexp(s) - s_y`` (nats). With ``u = log T``:

* ``dℓ/du = s_y - E_p[s] = sum_k p_k (s_y - s_k)``;
* ``d²ℓ/du² = Var_p(s) - dℓ/du``;
* the predictive entropy is ``H = logsumexp(s) - E_p[s] = ℓ + dℓ/du``.

``ℓ`` is convex in ``1/T``, so the mean NLL has a single minimum along
``u`` (or is flat): ``d mean ℓ / du`` changes sign at most once, from - to +.
The first-order condition ``d mean ℓ / du = 0`` reads ``mean s_y = mean
E_p[s]``, and by the identity above it is the same as ``mean ℓ = mean H``:
at an interior optimum ``T*`` the mean NLL equals the mean predictive entropy.
(At a bound it does not.)

:func:`temperature_sums` returns the sums over one chunk; a fit adds them over
the chunks of a pass, one pass per iteration. The fit: start at ``T = 1``;
Newton steps on ``u``, kept inside a bracket that the sign of the derivative
narrows; a step that leaves the bracket or meets ``d² <= 0`` is replaced by
bisection, or by a look at the bound itself when the step goes past a bound
not yet looked at. It stops when ``|d mean ℓ / du| < tol`` (default 1e-9) or
when the derivative at a bound still points outward. (The epochs of a run are
fitted in stages that end in this fit's test: :mod:`predaudit.calibration.coarse`.)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from predaudit.calibration.scores import (
    IGNORE_INDEX,
    Kind,
    Moments,
    PreparedScores,
    prepare_scores,
    prepared_moments,
)

FitStatus = Literal[
    "converged", "flat", "lower_bound", "upper_bound", "no_samples", "not_converged"
]
Chunks = Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]]

BOUNDS = (1e-3, 1e3)
TOL = 1e-9
MAX_ITER = 100
_ROW_ELEMENTS = 1 << 20  # elements per chunk in fit_temperature_array


@dataclass(frozen=True)
class TemperatureSums:
    """Sums over the counted samples of a chunk (or of a pass) at one temperature.

    ``loss``, ``entropy`` in nats; ``grad`` and ``hess`` the first and second
    derivatives with respect to ``log T``. ``n_wrong`` counts samples whose
    true-class score is below their row's maximum (they make ``ℓ → ∞`` as
    ``T → 0``); ``n_varied`` counts rows whose scores are not all equal.
    ``n_correct`` counts argmax hits (ties to the lower class index).
    """

    temperature: float
    n: int
    loss: float
    grad: float
    hess: float
    entropy: float
    n_correct: int
    n_wrong: int
    n_varied: int

    def __add__(self, other: TemperatureSums) -> TemperatureSums:
        if other.temperature != self.temperature:
            raise ValueError("cannot add sums taken at different temperatures")
        return TemperatureSums(
            temperature=self.temperature,
            n=self.n + other.n,
            loss=self.loss + other.loss,
            grad=self.grad + other.grad,
            hess=self.hess + other.hess,
            entropy=self.entropy + other.entropy,
            n_correct=self.n_correct + other.n_correct,
            n_wrong=self.n_wrong + other.n_wrong,
            n_varied=self.n_varied + other.n_varied,
        )

    @classmethod
    def zero(cls, temperature: float) -> TemperatureSums:
        return cls(float(temperature), 0, 0.0, 0.0, 0.0, 0.0, 0, 0, 0)


@dataclass(frozen=True)
class TemperatureFit:
    """The fitted temperature and the mean NLL (nats) at 1 and at it.

    ``nll_at_one``, ``nll``, ``entropy`` (mean predictive entropy at
    ``temperature``) and ``gradient`` (``d mean NLL / d log T`` there; after a
    last step taken by Taylor's formula, its estimate) are None only when no
    sample counts (``status == "no_samples"``, temperature 1); ``nll_at_one`` also
    when a staged fit that never passed at ``T = 1`` was not given it.
    ``status``: ``"converged"`` (``|gradient| < tol``), ``"flat"`` (every row's
    scores are all equal: the NLL does not depend on T; temperature 1),
    ``"lower_bound"`` / ``"upper_bound"`` (the minimum lies beyond that bound:
    e.g. every sample right, when the NLL keeps falling as ``T → 0``),
    ``"not_converged"`` (iteration limit or rounding; the best point seen).
    ``iterations`` counts steps, ``passes`` the passes over the chunks.
    """

    temperature: float
    status: FitStatus
    n: int
    nll_at_one: float | None
    nll: float | None
    entropy: float | None
    gradient: float | None
    iterations: int
    passes: int

    @property
    def converged(self) -> bool:
        return self.status in ("converged", "flat")

    @property
    def hit_bound(self) -> bool:
        return self.status in ("lower_bound", "upper_bound")


def sums_from(prep: PreparedScores, moments: Moments, temperature: float) -> TemperatureSums:
    """The :class:`TemperatureSums` of a prepared chunk from its moments at ``temperature``."""
    return TemperatureSums(
        temperature=float(temperature),
        n=prep.n,
        loss=moments.loss,
        grad=moments.grad,
        hess=moments.hess,
        entropy=moments.entropy,
        n_correct=prep.n_correct,
        n_wrong=prep.n_wrong,
        n_varied=prep.n_varied,
    )


def temperature_sums(
    scores: np.ndarray,
    labels: np.ndarray,
    *,
    temperature: float,
    kind: Kind = "logits",
    ignore_index: int = IGNORE_INDEX,
) -> TemperatureSums:
    """Sums of ``ℓ``, ``dℓ/dlogT``, ``d²ℓ/dlogT²`` and ``H`` over a chunk ``[n, C]`` at ``T``.

    Stable for any finite scores: shifted by the row maximum, float64
    throughout, the argmax's term kept out of the normaliser's sum
    (:func:`predaudit.calibration.scores.prepared_moments`).
    """
    t = float(temperature)
    if not (t > 0 and math.isfinite(t)):
        raise ValueError(f"temperature must be positive and finite, got {temperature}")
    prep = prepare_scores(scores, labels, kind=kind, ignore_index=ignore_index)
    if prep.n == 0:
        return TemperatureSums.zero(t)
    return sums_from(prep, prepared_moments(prep, t), t)


def _pass(chunks: Chunks, t: float, kind: Kind, ignore_index: int) -> TemperatureSums:
    total = TemperatureSums.zero(t)
    for x, y in chunks():
        total = total + temperature_sums(x, y, temperature=t, kind=kind, ignore_index=ignore_index)
    return total


def _fit(
    sums: TemperatureSums,
    status: FitStatus,
    nll_at_one: float | None,
    iterations: int,
    passes: int,
) -> TemperatureFit:
    n = sums.n
    return TemperatureFit(
        temperature=sums.temperature,
        status=status,
        n=n,
        nll_at_one=nll_at_one,
        nll=sums.loss / n,
        entropy=sums.entropy / n,
        gradient=sums.grad / n,
        iterations=iterations,
        passes=passes,
    )


def fit_temperature(
    chunks: Chunks,
    *,
    kind: Kind = "logits",
    ignore_index: int = IGNORE_INDEX,
    bounds: tuple[float, float] = BOUNDS,
    tol: float = TOL,
    max_iter: int = MAX_ITER,
) -> TemperatureFit:
    """Fit ``T*`` minimising the mean NLL, one pass over ``chunks()`` per iteration.

    ``chunks()`` must yield the same ``(scores [n, C], labels [n])`` pairs each
    time it is called. ``bounds`` (``lo <= 1 <= hi``) limit ``T``.
    """
    return fit_temperature_with(
        lambda t: _pass(chunks, t, kind, ignore_index), bounds=bounds, tol=tol, max_iter=max_iter
    )


def fit_temperature_with(
    evaluate: Callable[[float], TemperatureSums],
    *,
    bounds: tuple[float, float] = BOUNDS,
    tol: float = TOL,
    max_iter: int = MAX_ITER,
    start: float = 1.0,
    first: TemperatureSums | None = None,
    nll_at_one: float | None = None,
) -> TemperatureFit:
    """:func:`fit_temperature` given ``evaluate(T)``, the sums over all samples at ``T``.

    Called once a pass, first at ``start`` (default 1; ``first``, the sums there
    when already taken, saves that pass); the fit ends at the last temperature
    evaluated, or (``"not_converged"``) at the one of least loss (the first such).
    ``nll_at_one`` is reported when ``start`` is not 1 (else it is the first pass').
    A flat objective is evaluated at 1, a fit with every sample right at the lower bound.
    """
    t_lo, t_hi = float(bounds[0]), float(bounds[1])
    if not (0 < t_lo <= 1.0 <= t_hi < math.inf):
        raise ValueError(f"bounds must satisfy 0 < lo <= 1 <= hi < inf, got {bounds}")
    u_lo, u_hi = math.log(t_lo), math.log(t_hi)
    u = min(max(math.log(start), u_lo), u_hi) if start > 0 else 0.0

    def at(u: float) -> TemperatureSums:
        return evaluate(t_lo if u == u_lo else t_hi if u == u_hi else math.exp(u))

    cur = first if first is not None else at(u)
    passes = 0 if first is not None else 1
    n = cur.n
    if n == 0:
        return TemperatureFit(1.0, "no_samples", 0, None, None, None, None, 0, passes)
    nll1 = cur.loss / n if u == 0.0 else nll_at_one
    if cur.n_varied == 0:
        if u != 0.0:
            cur, passes = at(0.0), passes + 1
        return _fit(cur, "flat", cur.loss / n, 0, passes)
    if cur.n_wrong == 0:
        # Every label is among its row's maxima: each loss falls as T -> 0, so the
        # minimum is beyond the lower bound (its derivative underflows to 0 first).
        low = cur if u == u_lo else at(u_lo)
        return _fit(low, "lower_bound", nll1, 0, passes + (u != u_lo))
    lo, hi = u_lo, u_hi
    seen_lo, seen_hi = u_lo == u, u_hi == u
    best = cur
    for it in range(max_iter + 1):
        g, h = cur.grad / n, cur.hess / n
        if cur.loss < best.loss:
            best = cur
        if abs(g) < tol:
            return _fit(cur, "converged", nll1, it, passes)
        if g > 0:
            if u == u_lo:
                return _fit(cur, "lower_bound", nll1, it, passes)
            hi = u
        else:
            if u == u_hi:
                return _fit(cur, "upper_bound", nll1, it, passes)
            lo = u
        if it == max_iter:
            break
        step = u - g / h if h > 0 else math.nan
        if lo < step < hi:
            nxt = step
        elif g > 0 and not seen_lo and lo == u_lo and not step > u_lo:
            nxt, seen_lo = u_lo, True
        elif g < 0 and not seen_hi and hi == u_hi and not step < u_hi:
            nxt, seen_hi = u_hi, True
        else:
            nxt = 0.5 * (lo + hi)
            if not lo < nxt < hi:  # the bracket has shrunk to rounding
                break
        u = nxt
        cur = at(u)
        passes += 1
    return _fit(best, "not_converged", nll1, it, passes)


def fit_temperature_array(
    scores: np.ndarray,
    labels: np.ndarray,
    *,
    kind: Kind = "logits",
    ignore_index: int = IGNORE_INDEX,
    bounds: tuple[float, float] = BOUNDS,
    tol: float = TOL,
    max_iter: int = MAX_ITER,
    chunk_rows: int | None = None,
) -> TemperatureFit:
    """:func:`fit_temperature` over in-memory ``scores`` ``[N, C]`` and ``labels`` ``[N]``."""
    x = np.asarray(scores)
    y = np.asarray(labels)
    c = x.shape[1] if x.ndim == 2 else 2
    rows = chunk_rows if chunk_rows is not None else max(1, _ROW_ELEMENTS // max(c, 1))
    if rows < 1:
        raise ValueError("chunk_rows must be at least 1")

    def chunks() -> Iterable[tuple[np.ndarray, np.ndarray]]:
        for a in range(0, max(x.shape[0], 1), rows):
            yield x[a : a + rows], y[a : a + rows]

    return fit_temperature(
        chunks, kind=kind, ignore_index=ignore_index, bounds=bounds, tol=tol, max_iter=max_iter
    )
