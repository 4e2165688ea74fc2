"""The ``predaudit inspect`` report: what was found in a run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from predaudit.report.protocol import (
    MalformedReport,
    Metric,
    SplitsReport,
    Value,
    get_field,
)
from predaudit.report.vocab import INSPECT_SCHEMA, EpochUnit, LabelFormat, SampleUnit, StatsKind


@dataclass(frozen=True)
class SplitInspection:
    """What ``predaudit inspect`` found for one split."""

    name: str
    epochs: list[int]
    n_samples: int
    n_classes: int
    input_kind: StatsKind
    kind_detected: bool
    label_format: LabelFormat
    dtype: str
    has_ids: bool
    aligned: bool
    n_ignored: int
    n_clipped: int
    files: list[str]
    pattern: str
    binary: bool = False
    n_floored: int = 0
    clip: float | None = None
    epoch_unit: EpochUnit = "epoch"
    sample_unit: SampleUnit = "sample"
    tokens_per_sequence: int | None = None

    def to_dict(self) -> dict[str, Any]:
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
            "n_floored": self.n_floored,
            "clip": self.clip,
            "files": self.files,
            "epoch_unit": self.epoch_unit,
            "sample_unit": self.sample_unit,
        }


@dataclass(frozen=True)
class InspectReport(SplitsReport):
    """``predaudit inspect``: schema ``predaudit.inspect/1``."""

    run: str
    splits: dict[str, SplitInspection]

    SCHEMA: ClassVar[str] = INSPECT_SCHEMA
    METRICS: ClassVar[Mapping[str, Metric]] = {}

    def metrics(self) -> dict[str, dict[str, Value]]:
        """``inspect`` has no metrics to check."""
        return {name: {} for name in self.splits}

    @staticmethod
    def metrics_from_dict(report: Mapping[str, Any]) -> dict[str, dict[str, Value]]:
        """No metrics, per split of a ``predaudit.inspect/1`` dict."""
        splits = get_field(report, "splits", "")
        if not isinstance(splits, Mapping):
            raise MalformedReport("splits is not an object")
        return {str(name): {} for name in splits}
