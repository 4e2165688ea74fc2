"""The ``predaudit calibration`` report: frozen dataclasses with ``to_dict()``.

Losses in nats; calibration errors and the Brier score are unitless. The
calibration gap of an epoch is ``G = NLL − L_T`` with ``L_T`` the mean loss at
that epoch's temperature; between two epochs ``ΔL = ΔL_T + ΔG`` and the
temperature share is ``ΔG / ΔL`` (None unless the loss rose).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from predaudit.report.protocol import (
    MalformedReport,
    Metric,
    SplitsReport,
    Value,
    get_field,
    metric_table,
    number_field,
)
from predaudit.report.vocab import CALIBRATION_SCHEMA, CellName, FromReason

DIAGNOSIS = "a diagnosis, not a deployable calibration"
"""What a temperature fitted on the analysed split itself is."""


@dataclass(frozen=True)
class EpochCalibration:
    """Calibration of one split at one epoch.

    ``ece``, ``mce``, ``rmsce`` are top-label binned errors; ``positive_class_ece``
    the ECE of ``p(label = 1)`` (binary models only, else None); ``brier`` the mean
    of ``Σ_k (p_k − onehot_k)²`` at T = 1 (in [0, 2]; twice scikit-learn's binary
    ``brier_score_loss`` for a binary model); ``nll`` the mean cross-entropy;
    ``ece_noise_floor`` the mean ECE of a perfectly calibrated model with these
    confidences (200 label draws, seed 0).
    """

    epoch: int
    n_samples: int
    ece: float
    mce: float
    rmsce: float
    smece: float
    positive_class_ece: float | None
    brier: float
    nll: float
    ece_noise_floor: float
    temperature: float
    loss_at_temperature: float
    temperature_iterations: int
    temperature_status: str

    @property
    def calibration_gap(self) -> float:
        return self.nll - self.loss_at_temperature

    def to_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "n_samples": self.n_samples,
            "ece": self.ece,
            "mce": self.mce,
            "rmsce": self.rmsce,
            "smece": self.smece,
            "positive_class_ece": self.positive_class_ece,
            "brier": self.brier,
            "nll": self.nll,
            "ece_noise_floor": self.ece_noise_floor,
            "temperature": self.temperature,
            "loss_at_temperature": self.loss_at_temperature,
            "calibration_gap": self.calibration_gap,
            "temperature_iterations": self.temperature_iterations,
            "temperature_status": self.temperature_status,
        }


@dataclass(frozen=True)
class CellSplit:
    """One transition cell's contributions (each divided by the total N, nats)."""

    n: int
    delta_loss: float
    delta_loss_at_temperature: float
    delta_calibration_gap: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "delta_loss": self.delta_loss,
            "delta_loss_at_temperature": self.delta_loss_at_temperature,
            "delta_calibration_gap": self.delta_calibration_gap,
        }


@dataclass(frozen=True)
class CalibrationComparison:
    """``ΔL = ΔL_T + ΔG`` from ``from_epoch`` to ``to_epoch``, in total and per cell.

    ``cells`` is None for runs whose samples are not aligned (``cells_reason`` says why).
    """

    from_epoch: int
    to_epoch: int
    from_reason: FromReason
    delta_loss: float
    delta_loss_at_temperature: float
    delta_calibration_gap: float
    temperature_share: float | None
    temperature_from: float
    temperature_to: float
    fitted_on: str
    cells: dict[CellName, CellSplit] | None
    cells_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": self.from_epoch,
            "to": self.to_epoch,
            "from_reason": self.from_reason,
            "delta_loss": self.delta_loss,
            "delta_loss_at_temperature": self.delta_loss_at_temperature,
            "delta_calibration_gap": self.delta_calibration_gap,
            "temperature_share": self.temperature_share,
            "temperature_from": self.temperature_from,
            "temperature_to": self.temperature_to,
            "fitted_on": self.fitted_on,
            "cells": (
                None if self.cells is None else {k: c.to_dict() for k, c in self.cells.items()}
            ),
            "cells_reason": self.cells_reason,
        }


@dataclass(frozen=True)
class EpochBins:
    """The reliability table of one epoch, arrays ``[n_bins]`` (``edges`` ``[n_bins + 1]``).

    ``accuracy`` and ``confidence`` are NaN in empty bins.
    """

    epoch: int
    edges: np.ndarray = field(repr=False, compare=False)
    counts: np.ndarray = field(repr=False, compare=False)
    accuracy: np.ndarray = field(repr=False, compare=False)
    confidence: np.ndarray = field(repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "edges": self.edges.tolist(),
            "counts": self.counts.tolist(),
            "accuracy": self.accuracy.tolist(),
            "confidence": self.confidence.tolist(),
        }


@dataclass(frozen=True)
class SplitCalibration:
    """``predaudit calibration`` for one split.

    ``fitted_on`` names the split the temperatures were fitted on (this split
    itself unless ``--fit-on``); ``bins`` holds the reliability tables of the
    compared epochs (or of the only epoch).
    """

    name: str
    n_samples: int
    n_ignored: int
    n_classes: int
    binary: bool
    aligned: bool
    binning: str
    n_bins: int
    fitted_on: str
    per_epoch: list[EpochCalibration]
    comparison: CalibrationComparison | None
    bins: dict[int, EpochBins]
    note: str | None = None

    @property
    def self_fitted(self) -> bool:
        return self.fitted_on == self.name

    def row(self, epoch: int) -> EpochCalibration:
        return next(r for r in self.per_epoch if r.epoch == epoch)

    def compared_temperatures(self) -> tuple[tuple[float, str], tuple[float, str]]:
        """``(T*, fit status)`` at the compared ``from`` and ``to`` epochs."""
        c = self.comparison
        assert c is not None
        a, b = self.row(c.from_epoch), self.row(c.to_epoch)
        return (c.temperature_from, a.temperature_status), (c.temperature_to, b.temperature_status)

    def to_dict(self) -> dict[str, Any]:
        return {
            "split": self.name,
            "n_samples": self.n_samples,
            "n_ignored": self.n_ignored,
            "n_classes": self.n_classes,
            "binary": self.binary,
            "aligned": self.aligned,
            "binning": self.binning,
            "n_bins": self.n_bins,
            "fitted_on": self.fitted_on,
            "per_epoch": [r.to_dict() for r in self.per_epoch],
            "comparison": None if self.comparison is None else self.comparison.to_dict(),
            "bins": {str(e): b.to_dict() for e, b in self.bins.items()},
            "note": self.note,
        }


METRICS = metric_table(
    Metric("ece", "number", "top-label ECE (0..1) at the compared 'to' epoch"),
    Metric("temperature", "number", "fitted temperature T* at the compared 'to' epoch"),
    Metric(
        "temperature_share",
        "number",
        "share of the loss rise a single temperature would undo (ΔG/ΔL; n/a unless it rose)",
    ),
    Metric(
        "calibration_gap",
        "number",
        "NLL minus the loss at T* (nats) at the compared 'to' epoch",
    ),
)
"""Metrics of ``predaudit calibration`` checks."""


@dataclass(frozen=True)
class CalibrationReport(SplitsReport):
    """``predaudit calibration``: schema ``predaudit.calibration/1``.

    ``{"schema", "run", "splits": {name: {"binning", "n_bins", "fitted_on",
    "per_epoch", "comparison", "bins", ...}}}``.
    """

    run: str
    splits: dict[str, SplitCalibration]

    SCHEMA: ClassVar[str] = CALIBRATION_SCHEMA
    METRICS: ClassVar[Mapping[str, Metric]] = METRICS


def split_metrics(split: Mapping[str, Any], *, where: str = "") -> dict[str, Value]:
    """The :data:`METRICS` of one split: per-epoch values at the compared ``to`` epoch
    (the last epoch when there is no comparison)."""
    dot = f"{where}." if where else ""
    rows = get_field(split, "per_epoch", where)
    if not isinstance(rows, list) or not rows:
        raise MalformedReport(f"{dot}per_epoch is not a non-empty list")
    comparison = get_field(split, "comparison", where)
    share: float | None = None
    if comparison is None:
        i = len(rows) - 1
    else:
        to = get_field(comparison, "to", f"{dot}comparison")
        epochs = [get_field(r, "epoch", f"{dot}per_epoch[{k}]") for k, r in enumerate(rows)]
        if to not in epochs:
            raise MalformedReport(f"{dot}comparison.to is not an epoch of per_epoch")
        i = epochs.index(to)
        share = number_field(
            get_field(comparison, "temperature_share", f"{dot}comparison"),
            f"{dot}comparison.temperature_share",
        )
    w = f"{dot}per_epoch[{i}]"
    row = rows[i]
    return {
        "ece": number_field(get_field(row, "ece", w), f"{w}.ece"),
        "temperature": number_field(get_field(row, "temperature", w), f"{w}.temperature"),
        "temperature_share": share,
        "calibration_gap": number_field(
            get_field(row, "calibration_gap", w), f"{w}.calibration_gap"
        ),
    }


CalibrationReport.SPLIT_METRICS = staticmethod(split_metrics)  # type: ignore[assignment]
