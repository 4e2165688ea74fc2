"""The ``predaudit confusion`` report: frozen dataclasses with ``to_dict()`` (losses in nats)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar

import numpy as np

from predaudit.report.confusion_cells import NORMALIZE as NORMALIZE
from predaudit.report.confusion_cells import (
    CellChanges,
    Cells,
    cells_json,
    changes_json,
    dense_allowed,
)
from predaudit.report.confusion_cells import Normalize as Normalize
from predaudit.report.confusion_cells import normalize_matrix as normalize_matrix
from predaudit.report.protocol import (
    MalformedReport,
    Metric,
    SplitsReport,
    Value,
    get_field,
    metric_table,
    number_field,
)
from predaudit.report.vocab import CONFUSION_SCHEMA, EpochUnit, SampleUnit

Label = int | str


@dataclass(frozen=True)
class ClassRow:
    """One class at one epoch (losses in nats; ``mean_loss`` None when support is 0)."""

    index: int
    label: Label
    support: int
    n_predicted: int
    precision: float
    recall: float
    f1: float
    mean_loss: float | None
    contribution: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "support": self.support,
            "index": self.index,
            "n_predicted": self.n_predicted,
            "mean_loss": self.mean_loss,
            "contribution": self.contribution,
        }


@dataclass(frozen=True)
class Average:
    """Macro or support-weighted average of the per-class precision, recall and F1."""

    precision: float
    recall: float
    f1: float

    def to_dict(self) -> dict[str, Any]:
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1}


@dataclass(frozen=True)
class Confusion:
    """A confusion off the diagonal: ``count`` samples of class ``true`` predicted as ``pred``.

    ``share_of_true`` is ``count / support(true)``; ``mean_loss`` the mean loss of
    those samples (nats).
    """

    true_index: int
    pred_index: int
    true: Label
    pred: Label
    count: int
    share_of_true: float
    mean_loss: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "true": self.true,
            "pred": self.pred,
            "count": self.count,
            "share_of_true": self.share_of_true,
            "mean_loss": self.mean_loss,
            "true_index": self.true_index,
            "pred_index": self.pred_index,
        }


@dataclass(frozen=True)
class EpochConfusion:
    """The confusion matrix and per-class figures of one split at one epoch.

    ``cells`` are the nonzero cells of the matrix (counts and loss sums); ``matrix``
    the dense counts, shape (n_classes, n_classes), rows = true class, built from them
    only up to :data:`~predaudit.report.confusion_cells.DENSE_MAX_CLASSES` classes
    (``ValueError`` above); ``loss`` is the mean loss (nats) and the ``contribution``
    of every class sums to it.
    """

    epoch: int
    labels: list[Label]
    cells: Cells = field(repr=False, compare=False)
    per_class: list[ClassRow]
    accuracy: float
    macro: Average
    weighted: Average
    loss: float
    n_samples: int
    top_confusions: list[Confusion]

    @cached_property
    def matrix(self) -> np.ndarray:
        """Counts, int64 (C, C), rows = true class (only up to ``DENSE_MAX_CLASSES``)."""
        return self.cells.dense()

    @cached_property
    def pair_loss(self) -> np.ndarray:
        """Sum of the loss over the samples of each (true, pred) cell, float64 (C, C)."""
        return self.cells.dense_loss()

    @property
    def n_correct(self) -> int:
        """Samples on the diagonal."""
        return self.cells.n_correct

    def normalized(self, how: str) -> np.ndarray:
        """The matrix normalised by ``true`` (rows), ``pred`` (columns), ``all`` or ``none``."""
        return normalize_matrix(self.matrix, how)


@dataclass(frozen=True)
class PairChange:
    """How the count of one confusion (true -> pred, off the diagonal) changed."""

    true_index: int
    pred_index: int
    true: Label
    pred: Label
    count_from: int
    count_to: int

    @property
    def change(self) -> int:
        return self.count_to - self.count_from

    def to_dict(self) -> dict[str, Any]:
        return {
            "true": self.true,
            "pred": self.pred,
            "count_from": self.count_from,
            "count_to": self.count_to,
            "change": self.change,
            "true_index": self.true_index,
            "pred_index": self.pred_index,
        }


@dataclass(frozen=True)
class ClassChange:
    """One true class between two epochs.

    ``delta_contribution = contribution_to − contribution_from`` (nats); summed over
    the classes it equals ``ΔL``.
    """

    index: int
    label: Label
    support_from: int
    support_to: int
    recall_from: float
    recall_to: float
    f1_from: float
    f1_to: float
    mean_loss_from: float | None
    mean_loss_to: float | None
    contribution_from: float
    contribution_to: float
    delta_contribution: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "index": self.index,
            "support_from": self.support_from,
            "support_to": self.support_to,
            "recall_from": self.recall_from,
            "recall_to": self.recall_to,
            "f1_from": self.f1_from,
            "f1_to": self.f1_to,
            "mean_loss_from": self.mean_loss_from,
            "mean_loss_to": self.mean_loss_to,
            "contribution_from": self.contribution_from,
            "contribution_to": self.contribution_to,
            "delta_contribution": self.delta_contribution,
        }


@dataclass(frozen=True)
class ConfusionDiff:
    """The change from epoch ``from_epoch`` to ``to_epoch``.

    ``cells`` are the cells whose count changed; ``matrix`` the count difference
    (to − from), shape (C, C), built from them up to ``DENSE_MAX_CLASSES`` classes;
    ``grew`` and ``shrank`` the confusions whose count rose or fell most;
    ``per_class`` splits ``delta_loss`` by true class.
    """

    from_epoch: int
    to_epoch: int
    loss_from: float
    loss_to: float
    accuracy_from: float
    accuracy_to: float
    cells: CellChanges = field(repr=False, compare=False)
    grew: list[PairChange]
    shrank: list[PairChange]
    per_class: list[ClassChange]

    @cached_property
    def matrix(self) -> np.ndarray:
        """The count difference to − from, int64 (C, C) (only up to ``DENSE_MAX_CLASSES``)."""
        return self.cells.dense()

    @property
    def delta_loss(self) -> float:
        return self.loss_to - self.loss_from

    @property
    def delta_accuracy(self) -> float:
        return self.accuracy_to - self.accuracy_from

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": self.from_epoch,
            "to": self.to_epoch,
            "loss_from": self.loss_from,
            "loss_to": self.loss_to,
            "delta_loss": self.delta_loss,
            "accuracy_from": self.accuracy_from,
            "accuracy_to": self.accuracy_to,
            "delta_accuracy": self.delta_accuracy,
            **changes_json(self.cells),
            "grew": [p.to_dict() for p in self.grew],
            "shrank": [p.to_dict() for p in self.shrank],
            "per_class": [c.to_dict() for c in self.per_class],
        }


@dataclass(frozen=True)
class SplitConfusion:
    """``predaudit confusion`` for one split: the report at ``epoch`` and an optional diff.

    With a diff, ``epoch`` is the diff's ``to`` epoch.
    """

    name: str
    n_classes: int
    n_ignored: int
    input_kind: str
    normalize: str
    epoch: EpochConfusion
    diff: ConfusionDiff | None = None
    n_clipped: int = 0
    """Values clipped by ``--clip`` (over every epoch), as in ``analyze``."""
    n_floored: int = 0
    """True-class probabilities of 0 floored (over every epoch), as in ``analyze``."""
    clip: float | None = None
    epoch_unit: EpochUnit = "epoch"
    sample_unit: SampleUnit = "sample"

    def to_dict(self) -> dict[str, Any]:
        e = self.epoch
        out: dict[str, Any] = {
            "split": self.name,
            "epoch": e.epoch,
            "labels": list(e.labels),
            **cells_json(e.cells, self.normalize),
            "per_class": [c.to_dict() for c in e.per_class],
            "accuracy": e.accuracy,
            "macro": e.macro.to_dict(),
            "weighted": e.weighted.to_dict(),
            "top_confusions": [c.to_dict() for c in e.top_confusions],
            "n_samples": e.n_samples,
            "n_ignored": self.n_ignored,
            "n_classes": self.n_classes,
            "input_kind": self.input_kind,
            "loss": e.loss,
            "normalize": self.normalize,
            "n_clipped": self.n_clipped,
            "n_floored": self.n_floored,
            "clip": self.clip,
            "epoch_unit": self.epoch_unit,
            "sample_unit": self.sample_unit,
        }
        if self.normalize != "none" and dense_allowed(self.n_classes):
            out["matrix_normalized"] = e.normalized(self.normalize).tolist()
        if self.diff is not None:
            out["diff"] = self.diff.to_dict()
        return out


METRICS = metric_table(
    Metric("accuracy", "number", "accuracy (0..1) at the chosen epoch"),
    Metric("macro_f1", "number", "unweighted mean of the per-class F1 scores"),
    Metric("min_recall", "number", "lowest per-class recall among classes with samples"),
)
"""Metrics of ``predaudit confusion`` checks."""


@dataclass(frozen=True)
class ConfusionReport(SplitsReport):
    """``predaudit confusion``: schema ``predaudit.confusion/1``.

    ``{"schema", "run", "splits": {name: {"split", "epoch", "labels", "matrix", ...}}}``,
    the same shape for one split or several.
    """

    run: str
    splits: dict[str, SplitConfusion]

    SCHEMA: ClassVar[str] = CONFUSION_SCHEMA
    METRICS: ClassVar[Mapping[str, Metric]] = METRICS


def split_metrics(split: Mapping[str, Any], *, where: str = "") -> dict[str, Value]:
    """The values of :data:`METRICS` for one split of a ``predaudit.confusion/1`` dict.

    ``min_recall`` is over the classes with at least one true sample (a class
    that never occurs has no recall to speak of); n/a when there is none.
    """
    dot = f"{where}." if where else ""
    macro = get_field(split, "macro", where)
    per_class = get_field(split, "per_class", where)
    if not isinstance(per_class, list):
        raise MalformedReport(f"{dot}per_class is not a list")
    recalls: list[float] = []
    for i, row in enumerate(per_class):
        w = f"{dot}per_class[{i}]"
        if number_field(get_field(row, "support", w), f"{w}.support", nullable=False):
            recall = number_field(get_field(row, "recall", w), f"{w}.recall", nullable=False)
            if recall is not None:
                recalls.append(recall)
    return {
        "accuracy": number_field(get_field(split, "accuracy", where), f"{dot}accuracy"),
        "macro_f1": number_field(get_field(macro, "f1", f"{dot}macro"), f"{dot}macro.f1"),
        "min_recall": min(recalls) if recalls else None,
    }


ConfusionReport.SPLIT_METRICS = staticmethod(split_metrics)  # type: ignore[assignment]
