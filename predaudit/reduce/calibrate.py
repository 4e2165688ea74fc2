"""Per-epoch temperature scaling inside the reduction: ``T*``, and per-sample values at it.

Temperature scaling needs the full ``[N, C]`` scores, so it runs here, over row
chunks of the epoch. Each chunk is validated and reduced once to what does not
depend on ``T`` (:func:`predaudit.calibration.scores.prepare_scores`: float64
shifted scores, class-major for few classes, argmax, true-class gap, counts), and
the passes of the fit go over those: no re-reading, no conversion, no per-row
reduction over a short axis.

The fit is staged (:func:`predaudit.calibration.coarse.fit_temperature_staged`):
a start from a subsample of rows (about 2^20 scores, every k-th row), steps on
float32 sums over the whole epoch (Halley's, usually two passes; for many classes
one fifth-order step), then one float64 pass at the temperature they reach, whose
derivative decides convergence (``|d mean NLL / d log T| < 1e-9``, as the plain
fit); its last Newton step is taken by Taylor's formula on the per-sample values
when provably exact to rounding (:meth:`_Epoch.finish`), else by the plain float64
fit (:func:`predaudit.calibration.temperature.fit_temperature_with`), which also
takes over whenever the float32 stage finds no interior optimum (a bound, a flat
or one-sided objective). The per-sample loss comes out of that last pass; the Brier
score (when asked for) out of a pass at ``T = 1``, which also gives
``nll_at_one``. The passes run in the reduction's threads, a chunk each, summed in
chunk order (the result does not depend on the threads).

Memory: the prepared chunks are kept while the fit runs when they take at most
``KEEP_BYTES`` (``8 C + 17`` bytes a counted sample, 1 an ignored one: 97 MB for
``[1 000 000, 10]``); else float16/float32 logits of more than ``CLASS_MAJOR_MAX``
classes are kept as the scores themselves plus 25 bytes a row
(:func:`predaudit.calibration.coarse.prepare_raw`: ``[50000, 1000]`` would take 400
MB prepared), and other chunks are prepared again at each pass. Beside them: the
per-sample loss and two (many classes: three) derivatives in ``log T`` for the last
and the least-loss pass, 48 (64) bytes a sample, 72 (96) while a pass fills the next
one, and per thread one chunk's two float64 and two float32 buffers (4 + 2 MiB).

It is computed only when an analysis asks for it (``calibration``, ``dynamics``,
and ``analyze`` at its two compared epochs); ``confusion`` never pays for it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TypeVar

import numpy as np

from predaudit.calibration.coarse import (
    ORDER_ROWS,
    Higher,
    coarse_newton,
    coarse_sums,
    coarse_workspace,
    fit_temperature_staged,
    prepare_raw,
)
from predaudit.calibration.scores import (
    CLASS_MAJOR_MAX,
    PreparedScores,
    prepare_scores,
    prepared_moments,
    workspace,
)
from predaudit.calibration.temperature import (
    TemperatureFit,
    TemperatureSums,
    fit_temperature_with,
    sums_from,
)
from predaudit.dtypes import BF16, bf16_to_float32
from predaudit.reduce.pool import _run_chunks, _threads
from predaudit.report.vocab import IGNORE_INDEX, InputKind

_CHUNK_ELEMENTS = 1 << 18  # 2 MiB of float64: measured faster than 1 << 20 (bench_temperature)
KEEP_BYTES = 256 << 20
"""The prepared chunks of an epoch are kept for the fit's passes up to this size."""
_NEG_INF_AS = -1e300  # a class at -inf stays impossible at every temperature
FINISH_STEP = 1e-6
"""The longest last Newton step (scaled, see ``_Epoch.finish``) taken without a pass."""
FINISH_STEP3 = 3e-5
"""The same for a pass that kept each row's third derivative (``_Epoch.finish``)."""
_START_STEP = 1e-3  # the subsample's fit: only a start
_SAMPLE_ELEMENTS = 1 << 20
_SAMPLE_MIN_WIDTH = 8
"""A subsample of 2^17 rows for fewer classes: on the binary [100, 1000000] run's first
and last epochs the fit took 3 passes instead of 6 and 4 (0.069 s and 0.057 s instead of
0.134 s and 0.068 s), started from the subsample's T rather than from 1."""
_T = TypeVar("_T")


@dataclass(frozen=True)
class EpochCalibration:
    """One epoch: the temperature used (fitted, or given), the fit, per-sample columns [N].

    ``loss_at_t`` is the cross-entropy (nats) at ``temperature``; ``brier`` the
    Brier score ``sum_k (p_k - onehot_k)^2`` at T = 1. Both NaN where ignored.
    """

    temperature: float
    fit: TemperatureFit | None
    loss_at_t: np.ndarray
    brier: np.ndarray


def _rows(width: int) -> int:
    """Rows of a chunk: about ``_CHUNK_ELEMENTS`` scores."""
    return max(1, _CHUNK_ELEMENTS // max(1, width))


def _chunks(
    scores: np.ndarray,
    labels: np.ndarray,
    dtype: str,
    a0: int = 0,
    stop: int | None = None,
    *,
    convert: bool = True,
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """``(first row, scores, labels)`` of the chunks of rows ``a0`` to ``stop`` (default: all).

    ``convert``: bfloat16 to float32, ``-inf`` to ``_NEG_INF_AS`` (float64); else the
    stored rows as they are."""
    n = scores.shape[0] if stop is None else stop
    rows = _rows(1 if scores.ndim == 1 else scores.shape[1])
    y = labels.argmax(axis=1) if labels.ndim == 2 else labels
    for a in range(a0, n, rows):
        raw = scores[a : a + rows]
        x = bf16_to_float32(raw) if dtype == BF16 and convert else np.asarray(raw)
        if convert and x.dtype.kind == "f" and np.isneginf(x).any():
            x = np.where(np.isneginf(x), _NEG_INF_AS, x.astype(np.float64))
        yield a, x, np.asarray(y[a : a + rows])


def _sample_rows(scores: np.ndarray) -> int:
    """Rows of the subsample the fit starts from: about ``_SAMPLE_ELEMENTS`` scores, and
    at most ``_SAMPLE_ELEMENTS / _SAMPLE_MIN_WIDTH`` rows (for a single logit, or a few
    classes, the epoch itself would be the subsample: 2^20 rows)."""
    width = 1 if scores.ndim == 1 else max(1, int(scores.shape[1]))
    return max(1, _SAMPLE_ELEMENTS // max(width, _SAMPLE_MIN_WIDTH))


def _subsample(scores: np.ndarray, labels: np.ndarray, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """Every k-th row, about ``_SAMPLE_ELEMENTS`` scores."""
    k = max(1, -(-int(scores.shape[0]) // _sample_rows(scores)))
    raw = np.ascontiguousarray(scores[::k])
    x = bf16_to_float32(raw) if dtype == BF16 else raw
    if x.dtype.kind == "f" and np.isneginf(x).any():
        x = np.where(np.isneginf(x), _NEG_INF_AS, x.astype(np.float64))
    y = labels.argmax(axis=1) if labels.ndim == 2 else labels
    return x, np.asarray(y[::k])


class _Epoch:
    """The evaluator of one epoch's fit: the sums at ``T``, the per-sample loss kept.

    Its chunks are prepared once (``keep``), or kept as the scores themselves (logits
    of many classes: ``prepare_raw``), or else prepared again at each pass."""

    def __init__(
        self, scores: np.ndarray, labels: np.ndarray, kind: InputKind, dtype: str, keep: bool
    ) -> None:
        self.scores, self.labels, self.kind, self.dtype = scores, labels, kind, dtype
        self.n = int(scores.shape[0])
        self.width = width = 1 if scores.ndim == 1 else int(scores.shape[1])
        self.size = _rows(width) * max(width, 2)
        self.local = threading.local()  # each thread's buffers, kept from pass to pass
        self.works: list[_Work] = []
        self.threads = _threads(None)
        self.kept = self._keep_chunks(keep)
        self.floor = min((p.floor for _, p in self.kept if p is not None), default=0.0)
        self.brier: np.ndarray | None = None
        self.last: _Pass | None = None
        self.best: _Pass | None = None

    def _prepare(self, x: np.ndarray, y: np.ndarray) -> PreparedScores:
        return prepare_scores(x, y, kind=self.kind, ignore_index=IGNORE_INDEX)

    def _keep_chunks(self, keep: bool) -> list[tuple[int, PreparedScores | None]]:
        """Each chunk prepared (``keep``), or kept as the scores, or None (prepared again at
        each pass). In this thread: in the reduction's threads it took more CPU and more
        time on a busy machine (bench_temperature, [1000000, 10] and the [20, 50000, 1000]
        run's epochs)."""
        as_scores = not keep and self.kind == "logits" and self.dtype != BF16
        if not (keep or as_scores):
            return [(a, None) for a in range(0, self.n, _rows(self.width))]
        kept: list[tuple[int, PreparedScores | None]] = []
        for a, x, y in _chunks(self.scores, self.labels, self.dtype, convert=not as_scores):
            raw = prepare_raw(x, y, ignore_index=IGNORE_INDEX) if as_scores else None
            if raw is not None:  # (not for -inf: those chunks are converted at each pass)
                kept.append((a, raw))
            else:
                kept.append((a, self._prepare(x, y) if keep else None))
        return kept

    def _map(self, fn: Callable[[int, PreparedScores, _Work], _T]) -> list[_T]:
        """``fn(first row, prepared chunk, workspace)`` on every chunk, in the reduction's
        threads (each with its own workspace, kept from pass to pass); in chunk order."""
        kept = self.kept
        local = self.local

        def make_worker() -> Callable[[int, int], _T]:
            work = getattr(local, "work", None)
            if work is None:
                work = local.work = _Work(workspace(self.size), coarse_workspace(self.size))
                self.works.append(work)

            def run(i: int, _: int) -> _T:
                a, prep = kept[i]
                if prep is None:  # prepared again, and dropped after
                    _, x, y = next(_chunks(self.scores, self.labels, self.dtype, a, a + 1))
                    prep = self._prepare(x, y)
                    work.floor = min(work.floor, prep.floor)
                return fn(a, prep, work)

            return run

        out = _run_chunks(len(kept), 1, self.threads, make_worker)
        self.floor = min([self.floor] + [w.floor for w in self.works])
        return out

    def coarse(self, t: float) -> tuple[TemperatureSums, Higher]:
        """The float32 sums at ``t`` (loss and entropy NaN, at the temperature used) and
        the sums of the higher derivatives of ``ℓ`` in ``log T``: to the fifth for many
        classes (``ORDER_ROWS``), else the third."""
        order = ORDER_ROWS if self.width > CLASS_MAJOR_MAX else 3
        parts = self._map(lambda a, prep, work: coarse_sums(prep, t, work.f32, order))
        total: TemperatureSums | None = None
        higher = [0.0] * (order - 2)
        for part, h in parts:
            total = part if total is None else total + part
            higher = [x + v for x, v in zip(higher, h, strict=True)]
        return (total if total is not None else TemperatureSums.zero(t)), tuple(higher)

    def __call__(self, t: float, *, brier: bool = False) -> TemperatureSums:
        loss = np.full(self.n, np.nan)
        grad, hess = np.full(self.n, np.nan), np.full(self.n, np.nan)
        want_third = self.width > CLASS_MAJOR_MAX  # (see finish)
        third = np.full(self.n, np.nan) if want_third else None
        want_brier = brier or (self.brier is None and t == 1.0)
        out_brier = np.full(self.n, np.nan) if want_brier else None

        def chunk(a: int, prep: PreparedScores, work: _Work) -> TemperatureSums:
            mo = prepared_moments(
                prep, t, loss_rows=True, brier_rows=want_brier, derivative_rows=True,
                third_rows=want_third, work=work.f64,
            )  # fmt: skip
            rows = slice(a, a + prep.valid.shape[0])
            if mo.loss_rows is not None and mo.loss_rows.size:
                loss[rows][prep.valid] = mo.loss_rows
                grad[rows][prep.valid] = mo.grad_rows
                hess[rows][prep.valid] = mo.hess_rows
                if third is not None:
                    third[rows][prep.valid] = mo.third_rows
            if out_brier is not None and mo.brier_rows is not None and mo.brier_rows.size:
                out_brier[rows][prep.valid] = mo.brier_rows
            return sums_from(prep, mo, t)

        total = TemperatureSums.zero(t)
        for part in self._map(chunk):
            total = total + part
        if out_brier is not None and t == 1.0:
            self.brier = out_brier
        self._keep(_Pass(t, total.loss, loss, grad, hess, third))
        return total

    def _keep(self, p: _Pass) -> None:
        self.last = p
        if self.best is None or p.loss < self.best.loss:
            self.best = p

    def finish(self, sums: TemperatureSums, du: float) -> TemperatureSums | None:
        """The sums and per-sample loss at ``sums.temperature * e^du`` from the last pass.

        Taylor in ``log T`` (``R``: the largest spread ``max z - min z`` of a row, up to
        ``750 T``: a class further down has ``exp() = 0`` at both temperatures). Second
        order when ``(1 + R / T)^1.5 |du| <= FINISH_STEP``: the remainder, below about
        ``((1 + R / T) |du|)^3`` of each loss and ``(1 + R / T)^3 du^2`` of the mean
        derivative, is below 1e-18 and 1e-12. Third order (the pass kept each row's
        third derivative) when ``(1 + R / T) |du| <= FINISH_STEP3`` and ``(1 + R / T)^4
        |du|^3 <= 1e-12``: the remainder, below about ``((1 + R / T) |du|)^4`` and ``(1 +
        R / T)^4 |du|^3``, is below the same (a step 30 times longer at ``R / T = 45``).
        """
        last = self.last
        if last is None or last.t != sums.temperature:
            return None
        spread = 1.0 + min(-self.floor / sums.temperature, 750.0)  # beyond, exp() is 0 at both T
        t = sums.temperature * math.exp(du)
        if last.third_rows is not None:
            if spread * abs(du) > FINISH_STEP3 or spread**4 * abs(du) ** 3 > 1e-12:
                return None
            h3 = float(np.nansum(last.third_rows))
            rows = last.grad_rows + (0.5 * du) * (last.hess_rows + (du / 3.0) * last.third_rows)
            loss = last.loss_rows + du * rows
            total_loss = sums.loss + du * (sums.grad + 0.5 * du * (sums.hess + du / 3.0 * h3))
            grad = sums.grad + du * (sums.hess + 0.5 * du * h3)
        else:
            if spread**1.5 * abs(du) > FINISH_STEP:
                return None
            loss = last.loss_rows + du * (last.grad_rows + (0.5 * du) * last.hess_rows)
            total_loss = sums.loss + du * (sums.grad + 0.5 * du * sums.hess)
            grad = sums.grad + du * sums.hess
        self._keep(_Pass(t, total_loss, loss, last.grad_rows, last.hess_rows))
        return replace(sums, temperature=t, loss=total_loss, grad=grad, entropy=total_loss + grad)

    def reach(self, t: float) -> float:
        """Half the longest step near ``t`` of the third-order finish: ``poly_tol``."""
        spread = 1.0 + min(-self.floor / t, 750.0)
        return 0.5 * min(FINISH_STEP3 / spread, (1e-12 / spread**4) ** (1 / 3))

    def start(self) -> float | None:
        """Where the staged fit starts: the coarse fit of a subsample of rows (1 for a
        small epoch); None when that fails (a minimum at a bound, say)."""
        if self.n <= _sample_rows(self.scores):
            return 1.0
        x, y = _subsample(self.scores, self.labels, self.dtype)
        prep = self._prepare(x, y)
        work = coarse_workspace(prep.d0.size)
        t, _ = coarse_newton(lambda t: coarse_sums(prep, t, work), 1.0, step_tol=_START_STEP)
        return t

    def loss_at(self, t: float) -> np.ndarray:
        """The per-sample loss of a pass at ``t``: the last or the best one, else a new pass."""
        for kept in (self.last, self.best):
            if kept is not None and kept.t == t:
                return kept.loss_rows
        self(t)
        assert self.last is not None
        return self.last.loss_rows

    def brier_at_one(self) -> np.ndarray:
        if self.brier is None:
            self(1.0, brier=True)
        assert self.brier is not None
        return self.brier


@dataclass
class _Work:
    """One thread's float64 and float32 buffers, and the least ``floor`` of the chunks it
    prepared again."""

    f64: tuple[np.ndarray, np.ndarray]
    f32: tuple[np.ndarray, np.ndarray]
    floor: float = 0.0


@dataclass(frozen=True)
class _Pass:
    """One float64 pass (or its Taylor step): ``T``, the loss sum, per-sample ``[N]`` rows."""

    t: float
    loss: float
    loss_rows: np.ndarray
    grad_rows: np.ndarray
    hess_rows: np.ndarray
    third_rows: np.ndarray | None = None


def calibrate_epoch(
    scores: np.ndarray,
    labels: np.ndarray,
    *,
    kind: InputKind,
    dtype: str = "",
    temperature: float | None = None,
    brier: bool = True,
) -> EpochCalibration:
    """Fit ``T*`` on this epoch (or use ``temperature``) and compute the per-sample columns.

    scores : ndarray of shape (n_samples, n_classes) or (n_samples,), as stored
    labels : class indices (n_samples,) with -100 ignored, or targets (n_samples, n_classes)
    """
    # (-inf logits are replaced in _chunks: base_scores needs finite logits, not log-probs)
    width = 1 if scores.ndim == 1 else int(scores.shape[1])
    keep = int(scores.shape[0]) * (8 * max(width, 2) + 17) <= KEEP_BYTES
    epoch = _Epoch(scores, labels, kind, dtype, keep)
    fit = None
    if temperature is None:
        nll_at_one = None
        at_one = epoch(1.0, brier=True) if brier else None  # the Brier score's pass
        start = epoch.start()
        if start is None:  # as the plain fit, from T = 1
            fit = fit_temperature_with(epoch, first=at_one)
            fit = replace(fit, passes=fit.passes + (at_one is not None))
        else:
            nll_at_one = at_one.loss / at_one.n if at_one is not None and at_one.n else None
            fit = fit_temperature_staged(
                epoch, epoch.coarse, start=start, finish=epoch.finish, nll_at_one=nll_at_one,
                poly_tol=epoch.reach(start),
            )  # fmt: skip
        temperature = fit.temperature
    loss = epoch.loss_at(float(temperature))
    out = epoch.brier_at_one() if brier else np.full(int(scores.shape[0]), np.nan)
    del epoch
    return EpochCalibration(temperature=float(temperature), fit=fit, loss_at_t=loss, brier=out)
