"""Per-epoch temperature scaling inside the reduction: ``T*``, and per-sample values at it.

Temperature scaling needs the full ``[N, C]`` scores, so it runs here, over row
chunks of the epoch. Each chunk is validated and reduced once to what does not
depend on ``T`` (:func:`predaudit.calibration.scores.prepare_scores`: float64
shifted scores, class-major for few classes, argmax, true-class gap, counts),
and the Newton steps of :func:`predaudit.calibration.temperature.fit_temperature_with` pass
over those: no re-reading, no conversion, no per-row reduction over a short axis.
The per-sample loss comes out of the pass at the returned temperature and the
Brier score out of the first pass (at ``T = 1``): no extra pass for them.

Memory: the prepared chunks are kept while the fit runs when they take at most
``KEEP_BYTES`` (``8 C + 17`` bytes a counted sample, 1 an ignored one: 97 MB
for ``[1 000 000, 10]``), else each pass prepares the chunks again from the
scores (``[50000, 1000]`` would take 400 MB: it streams). Beside them: the two
per-sample output columns and the loss column of the least-loss point (for a
fit that does not converge), 24 bytes a sample (32 while a pass fills the next
one), and one chunk's two float64 buffers (``2 x 8 MiB``), reused.

It is computed only when an analysis asks for it (``calibration``, ``dynamics``,
and ``analyze`` at its two compared epochs); ``confusion`` never pays for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from predaudit.calibration.scores import (
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
from predaudit.report.vocab import IGNORE_INDEX, InputKind

_CHUNK_ELEMENTS = 1 << 20
KEEP_BYTES = 256 << 20
"""The prepared chunks of an epoch are kept for the fit's passes up to this size."""
_NEG_INF_AS = -1e300  # a class at -inf stays impossible at every temperature


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
    scores: np.ndarray, labels: np.ndarray, dtype: str
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    n = scores.shape[0]
    rows = _rows(1 if scores.ndim == 1 else scores.shape[1])
    y = labels.argmax(axis=1) if labels.ndim == 2 else labels
    for a in range(0, n, rows):
        raw = scores[a : a + rows]
        x = bf16_to_float32(raw) if dtype == BF16 else np.asarray(raw)
        if x.dtype.kind == "f" and np.isneginf(x).any():
            x = np.where(np.isneginf(x), _NEG_INF_AS, x.astype(np.float64))
        yield x, np.asarray(y[a : a + rows])


class _Epoch:
    """The evaluator of one epoch's fit: the sums at ``T``, the per-sample loss kept."""

    def __init__(
        self, scores: np.ndarray, labels: np.ndarray, kind: InputKind, dtype: str, keep: bool
    ) -> None:
        self.scores, self.labels, self.kind, self.dtype = scores, labels, kind, dtype
        self.n = int(scores.shape[0])
        width = 1 if scores.ndim == 1 else int(scores.shape[1])
        self.work = workspace(_rows(width) * max(width, 2))
        self.kept: list[tuple[int, PreparedScores]] | None = None
        if keep:
            self.kept = list(self._prepare())
        self.brier: np.ndarray | None = None
        self.last: tuple[float, float, np.ndarray] | None = None  # (T, loss sum, per-sample)
        self.best: tuple[float, float, np.ndarray] | None = None

    def _prepare(self) -> Iterator[tuple[int, PreparedScores]]:
        a = 0
        for x, y in _chunks(self.scores, self.labels, self.dtype):
            yield a, prepare_scores(x, y, kind=self.kind, ignore_index=IGNORE_INDEX)
            a += int(np.shape(y)[0])

    def __call__(self, t: float, *, brier: bool = False) -> TemperatureSums:
        loss = np.full(self.n, np.nan)
        want_brier = brier or (self.brier is None and t == 1.0)
        out_brier = np.full(self.n, np.nan) if want_brier else None
        total = TemperatureSums.zero(t)
        for a, prep in self.kept if self.kept is not None else self._prepare():
            mo = prepared_moments(prep, t, loss_rows=True, brier_rows=want_brier, work=self.work)
            total = total + sums_from(prep, mo, t)
            rows = slice(a, a + prep.valid.shape[0])
            if mo.loss_rows is not None and mo.loss_rows.size:
                loss[rows][prep.valid] = mo.loss_rows
            if out_brier is not None and mo.brier_rows is not None and mo.brier_rows.size:
                out_brier[rows][prep.valid] = mo.brier_rows
        if out_brier is not None and t == 1.0:
            self.brier = out_brier
        self.last = (t, total.loss, loss)
        if self.best is None or total.loss < self.best[1]:
            self.best = self.last
        return total

    def loss_at(self, t: float) -> np.ndarray:
        """The per-sample loss of a pass at ``t``: the last or the best one, else a new pass."""
        for kept in (self.last, self.best):
            if kept is not None and kept[0] == t:
                return kept[2]
        self(t)
        assert self.last is not None
        return self.last[2]

    def brier_at_one(self) -> np.ndarray:
        if self.brier is None:
            self(1.0, brier=True)
        assert self.brier is not None
        return self.brier


def calibrate_epoch(
    scores: np.ndarray,
    labels: np.ndarray,
    *,
    kind: InputKind,
    dtype: str = "",
    temperature: float | None = None,
) -> EpochCalibration:
    """Fit ``T*`` on this epoch (or use ``temperature``) and compute the per-sample columns.

    scores : ndarray of shape (n_samples, n_classes) or (n_samples,), as stored
    labels : class indices (n_samples,) with -100 ignored, or targets (n_samples, n_classes)
    """
    # A -inf logit was replaced in _chunks; for logits base_scores needs finite values,
    # while log-probabilities and probabilities keep their own floor.
    width = 1 if scores.ndim == 1 else int(scores.shape[1])
    keep = int(scores.shape[0]) * (8 * max(width, 2) + 17) <= KEEP_BYTES
    epoch = _Epoch(scores, labels, kind, dtype, keep)
    fit = None
    if temperature is None:
        fit = fit_temperature_with(epoch)
        temperature = fit.temperature
    loss = epoch.loss_at(float(temperature))
    brier = epoch.brier_at_one()
    del epoch
    return EpochCalibration(temperature=float(temperature), fit=fit, loss_at_t=loss, brier=brier)
