"""Report objects: frozen dataclasses with ``to_dict()``; renderers read them."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from predaudit.analysis.decomposition import Cell, EpochRow, ShiftShare
from predaudit.analysis.hypothesis import Hypothesis
from predaudit.stats import RunStats, SplitStats


@dataclass(frozen=True)
class SplitInspection:
    """What ``predaudit inspect`` found for one split."""

    name: str
    epochs: list[int]
    n_samples: int
    n_classes: int
    input_kind: str
    kind_detected: bool
    label_format: str
    dtype: str
    has_ids: bool
    aligned: bool
    n_ignored: int
    n_clipped: int
    files: list[str]
    pattern: str
    binary: bool = False

    @classmethod
    def from_stats(cls, s: SplitStats) -> SplitInspection:
        return cls(
            name=s.name,
            epochs=list(s.epochs),
            n_samples=s.n_samples,
            n_classes=s.n_classes,
            input_kind=s.input_kind,
            kind_detected=s.kind_detected,
            label_format=s.label_format,
            dtype=s.dtype,
            has_ids=s.has_ids,
            aligned=s.aligned,
            n_ignored=s.n_ignored,
            n_clipped=s.n_clipped,
            files=list(s.files),
            pattern=s.pattern,
            binary=s.binary,
        )

    def to_dict(self) -> dict:
        return {
            "epochs": self.epochs,
            "n_samples": self.n_samples,
            "n_classes": self.n_classes,
            "input_kind": self.input_kind,
            "kind_detected": self.kind_detected,
            "label_format": self.label_format,
            "dtype": self.dtype,
            "has_ids": self.has_ids,
            "aligned": self.aligned,
            "n_ignored": self.n_ignored,
            "n_clipped": self.n_clipped,
            "files": self.files,
        }


@dataclass(frozen=True)
class InspectReport:
    """``predaudit inspect``: schema ``predaudit.inspect/1``."""

    run: str
    splits: dict[str, SplitInspection]

    SCHEMA = "predaudit.inspect/1"

    @classmethod
    def from_run(cls, run: RunStats) -> InspectReport:
        return cls(
            run=run.path,
            splits={k: SplitInspection.from_stats(v) for k, v in run.splits.items()},
        )

    def to_dict(self) -> dict:
        return {
            "schema": self.SCHEMA,
            "run": self.run,
            "splits": {k: v.to_dict() for k, v in self.splits.items()},
        }


# -- predaudit analyze -------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """The comparison ``from -> to``: ΔL, ΔA, transition cells and shift-share (nats).

    ``transitions`` is None when samples are not aligned (``transitions_reason``
    says why).
    """

    from_epoch: int
    to_epoch: int
    from_reason: str
    delta_loss: float
    delta_accuracy: float
    transitions: dict[str, Cell] | None
    shift_share: ShiftShare
    transitions_reason: str | None = None

    def to_dict(self) -> dict:
        return {
            "from": self.from_epoch,
            "to": self.to_epoch,
            "from_reason": self.from_reason,
            "delta_loss": self.delta_loss,
            "delta_accuracy": self.delta_accuracy,
            "transitions": (
                {k: v.to_dict() for k, v in self.transitions.items()}
                if self.transitions is not None
                else None
            ),
            "shift_share": self.shift_share.to_dict(),
            "transitions_reason": self.transitions_reason,
        }


@dataclass(frozen=True)
class SampleDeltas:
    """Per-sample values at the two compared epochs, arrays of shape (n,) (aligned runs).

    Only the samples that count (label not -100). Not part of the JSON report;
    used by ``--top``, ``per_sample.csv`` and the plots.
    """

    ids: np.ndarray
    labels: np.ndarray
    loss_from: np.ndarray
    loss_to: np.ndarray
    pred_from: np.ndarray
    pred_to: np.ndarray
    correct_from: np.ndarray
    correct_to: np.ndarray
    p_true_from: np.ndarray
    p_true_to: np.ndarray

    @property
    def delta(self) -> np.ndarray:
        return self.loss_to - self.loss_from

    @property
    def cell(self) -> np.ndarray:
        """Cell name per sample."""
        names = np.array(
            ["wrong_to_wrong", "wrong_to_correct", "correct_to_wrong", "correct_to_correct"]
        )
        return names[self.correct_from.astype(int) * 2 + self.correct_to.astype(int)]


@dataclass(frozen=True)
class TopSample:
    """A sample whose loss rose most between the compared epochs."""

    id: object
    label: int
    pred_from: int
    pred_to: int
    loss_from: float
    loss_to: float
    p_true_from: float
    p_true_to: float

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "label": self.label,
            "pred_from": self.pred_from,
            "pred_to": self.pred_to,
            "loss_from": self.loss_from,
            "loss_to": self.loss_to,
            "p_true_from": self.p_true_from,
            "p_true_to": self.p_true_to,
        }


@dataclass(frozen=True)
class SplitAnalysis:
    """``predaudit analyze`` for one split."""

    name: str
    n_samples: int
    n_classes: int
    input_kind: str
    kind_detected: bool
    n_clipped: int
    n_ignored: int
    aligned: bool
    has_ids: bool
    epochs: list[int]
    per_epoch: list[EpochRow]
    comparison: Comparison | None
    hypothesis: Hypothesis | None
    top: list[TopSample]
    samples: SampleDeltas | None = field(default=None, repr=False, compare=False)
    note: str | None = None

    def row(self, epoch: int) -> EpochRow:
        return self.per_epoch[self.epochs.index(epoch)]

    def to_dict(self) -> dict:
        out: dict = {
            "n_samples": self.n_samples,
            "n_classes": self.n_classes,
            "input_kind": self.input_kind,
            "n_clipped": self.n_clipped,
            "aligned": self.aligned,
            "epochs": self.epochs,
            "per_epoch": [r.to_dict() for r in self.per_epoch],
            "comparison": self.comparison.to_dict() if self.comparison else None,
            "hypothesis": self.hypothesis.to_dict() if self.hypothesis else None,
            "kind_detected": self.kind_detected,
            "n_ignored": self.n_ignored,
            "has_ids": self.has_ids,
            "note": self.note,
        }
        if self.top:
            out["top"] = [t.to_dict() for t in self.top]
        return out


@dataclass(frozen=True)
class AnalyzeReport:
    """``predaudit analyze``: schema ``predaudit.analyze/1``."""

    run: str
    splits: dict[str, SplitAnalysis]

    SCHEMA = "predaudit.analyze/1"

    def to_dict(self) -> dict:
        return {
            "schema": self.SCHEMA,
            "run": self.run,
            "splits": {k: v.to_dict() for k, v in self.splits.items()},
        }
