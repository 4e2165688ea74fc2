"""Report objects: frozen dataclasses with ``to_dict()``; renderers read them."""

from __future__ import annotations

from dataclasses import dataclass

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
