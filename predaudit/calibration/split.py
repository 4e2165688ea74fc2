"""Split a loss rise into the part temperature scaling removes and the part it keeps.

With ``L`` the mean loss and ``L_T`` the mean loss at the epoch's own fitted
temperature ``T*`` (nats), the calibration gap is ``G = L - L_T >= 0`` and,
between two epochs ``a -> b``,

    ``ΔL = ΔL_T + ΔG``,

exactly, sample by sample. Over a partition of the samples into cells (e.g.
correct -> wrong), each cell contributes ``(1/N) Σ_{i in cell} Δℓ_i`` (and
likewise for ``ℓ_T`` and the gap), so the cells add up to the totals. The
temperature share ``ΔG / ΔL`` says how much of a rise is miscalibration that a
single temperature would undo; it is None unless ``ΔL`` is a real rise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

MIN_RISE = 1e-12


@dataclass(frozen=True)
class SplitCell:
    """A cell's sample count and its contributions (nats, each divided by the total ``N``)."""

    n: int
    delta_loss: float
    delta_loss_at_temperature: float
    delta_calibration_gap: float


@dataclass(frozen=True)
class TemperatureSplit:
    """Per-cell contributions, their totals and ``temperature_share = ΔG / ΔL`` (or None)."""

    cells: dict[str, SplitCell]
    total: SplitCell
    temperature_share: float | None


def _vec(name: str, x: np.ndarray, n: int | None) -> np.ndarray:
    v = np.asarray(x, dtype=np.float64)
    if v.ndim != 1 or (n is not None and v.shape[0] != n):
        raise ValueError(f"{name} must have shape [N] like the others, got {v.shape}")
    if not np.isfinite(v).all():
        raise ValueError(f"{name} must be finite (select the samples that count first)")
    return v


def temperature_split(
    loss_start: np.ndarray,
    loss_at_temperature_start: np.ndarray,
    loss_end: np.ndarray,
    loss_at_temperature_end: np.ndarray,
    cells: Mapping[str, np.ndarray],
    *,
    min_rise: float = MIN_RISE,
) -> TemperatureSplit:
    """Split ``ΔL`` between two epochs over ``cells``.

    The four loss arrays are per sample, ``[N]`` nats, over the same samples
    in the same order (those that count at both epochs); ``loss_at_temperature``
    is each epoch's per-sample loss at that epoch's fitted temperature.
    ``cells`` maps names to ``[N]`` bool masks that must partition the samples
    (each sample in exactly one cell). ``temperature_share`` is None when
    ``ΔL <= min_rise`` (a fall, no change, or a rise lost in rounding).
    """
    a = _vec("loss_start", loss_start, None)
    n = a.shape[0]
    if n == 0:
        raise ValueError("no samples")
    at = _vec("loss_at_temperature_start", loss_at_temperature_start, n)
    b = _vec("loss_end", loss_end, n)
    bt = _vec("loss_at_temperature_end", loss_at_temperature_end, n)
    dl = b - a
    dlt = bt - at
    dg = dl - dlt
    cover = np.zeros(n, dtype=np.int64)
    out: dict[str, SplitCell] = {}
    for name, mask in cells.items():
        m = np.asarray(mask)
        if m.shape != (n,) or m.dtype != np.bool_:
            raise ValueError(f"cell {name!r} must be a bool mask of shape [{n}]")
        cover += m
        out[name] = SplitCell(
            n=int(m.sum()),
            delta_loss=float(dl[m].sum() / n),
            delta_loss_at_temperature=float(dlt[m].sum() / n),
            delta_calibration_gap=float(dg[m].sum() / n),
        )
    if (cover != 1).any():
        raise ValueError("cells must partition the samples: each in exactly one cell")
    total = SplitCell(
        n=n,
        delta_loss=float(dl.sum() / n),
        delta_loss_at_temperature=float(dlt.sum() / n),
        delta_calibration_gap=float(dg.sum() / n),
    )
    share = total.delta_calibration_gap / total.delta_loss if total.delta_loss > min_rise else None
    return TemperatureSplit(cells=out, total=total, temperature_share=share)
