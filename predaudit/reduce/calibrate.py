"""Per-epoch temperature scaling inside the reduction: ``T*``, and per-sample values at it.

Temperature scaling needs the full ``[N, C]`` scores, so it runs here, over row
chunks of the epoch while the epoch is read (one pass per Newton step of
:func:`predaudit.calibration.fit_temperature`, then one pass for the per-sample
columns). It is computed only when an analysis asks for it (``calibration``,
``dynamics``): ``analyze`` and ``confusion`` never pay for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from predaudit.calibration.scores import brier_score, loss_at_temperature
from predaudit.calibration.temperature import TemperatureFit, fit_temperature
from predaudit.dtypes import BF16, bf16_to_float32
from predaudit.report.vocab import IGNORE_INDEX, InputKind

_CHUNK_ELEMENTS = 1 << 20
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


def _chunks(
    scores: np.ndarray, labels: np.ndarray, dtype: str
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    n = scores.shape[0]
    width = 1 if scores.ndim == 1 else scores.shape[1]
    rows = max(1, _CHUNK_ELEMENTS // max(1, width))
    y = labels.argmax(axis=1) if labels.ndim == 2 else labels
    for a in range(0, n, rows):
        raw = scores[a : a + rows]
        x = bf16_to_float32(raw) if dtype == BF16 else np.asarray(raw)
        if x.dtype.kind == "f" and np.isneginf(x).any():
            x = np.where(np.isneginf(x), _NEG_INF_AS, x.astype(np.float64))
        yield x, np.asarray(y[a : a + rows])


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
    # A -inf logit was replaced above; for logits base_scores needs finite values, while
    # log-probabilities and probabilities keep their own floor.
    fit = None
    if temperature is None:
        fit = fit_temperature(lambda: _chunks(scores, labels, dtype), kind=kind)
        temperature = fit.temperature
    loss_parts, brier_parts = [], []
    for x, y in _chunks(scores, labels, dtype):
        loss_parts.append(
            loss_at_temperature(x, y, temperature=temperature, kind=kind, ignore_index=IGNORE_INDEX)
        )
        brier_parts.append(brier_score(x, y, kind=kind, ignore_index=IGNORE_INDEX))
    return EpochCalibration(
        temperature=float(temperature),
        fit=fit,
        loss_at_t=np.concatenate(loss_parts) if loss_parts else np.empty(0),
        brier=np.concatenate(brier_parts) if brier_parts else np.empty(0),
    )
