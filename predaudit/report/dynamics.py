"""The ``predaudit dynamics`` report: per-sample training dynamics over the epochs.

Confidence and variability are the mean and the population standard deviation
(ddof 0) of the true-class probability over the epochs (Dataset Cartography);
correctness the fraction of correct epochs; forgetting events the correct ->
wrong changes between consecutive epochs (Toneva et al.); AUM the mean logit
margin (Pleiss et al., logits only); EL2N ``sqrt(Brier)`` at one epoch (Paul et
al.). Definitions in :mod:`predaudit.dynamics.accumulate`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from predaudit.report.protocol import (
    Metric,
    SplitsReport,
    Value,
    get_field,
    metric_table,
    number_field,
)
from predaudit.report.vocab import DYNAMICS_SCHEMA
from predaudit.report.wrong_to_wrong import WrongToWrongSamples

PER_SAMPLE_MAX = 10_000
"""Up to this many samples the JSON lists every sample; above, they go to ``dynamics.csv``."""
PER_SAMPLE_CSV = "dynamics.csv"
LABEL_PROBLEM_NOTE = (
    "These samples are predicted as one other class at most epochs: they may be "
    "mislabeled or genuinely hard — inspect them."
)
CSV_COLUMNS = (
    "id",
    "label",
    "confidence",
    "variability",
    "correctness",
    "correct_epochs",
    "forgetting_events",
    "first_learned",
    "aum",
    "el2n",
    "region",
)
"""The columns of ``dynamics.csv`` and of ``--format csv``."""

SampleId = int | float | str


@dataclass(frozen=True)
class SampleArrays:
    """Every included sample, arrays of shape (n,) in canonical row order (sorted ids).

    ``first_learned`` is -1 where ``never_learned``; ``aum`` and ``el2n`` are None
    when not available; ``region`` holds region names.
    """

    ids: list[SampleId]
    labels: np.ndarray
    confidence: np.ndarray
    variability: np.ndarray
    correctness: np.ndarray
    correct_epochs: np.ndarray
    forgetting_events: np.ndarray
    never_learned: np.ndarray
    first_learned: np.ndarray
    aum: np.ndarray | None
    el2n: np.ndarray | None
    region: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def row(self, i: int) -> dict[str, Any]:
        """Sample ``i`` (a position in these arrays) as a JSON object."""
        return {
            "id": self.ids[i],
            "label": int(self.labels[i]),
            "confidence": float(self.confidence[i]),
            "variability": float(self.variability[i]),
            "correctness": float(self.correctness[i]),
            "correct_epochs": int(self.correct_epochs[i]),
            "forgetting_events": int(self.forgetting_events[i]),
            "first_learned": None if self.never_learned[i] else int(self.first_learned[i]),
            "aum": None if self.aum is None else float(self.aum[i]),
            "el2n": None if self.el2n is None else float(self.el2n[i]),
            "region": str(self.region[i]),
        }


@dataclass(frozen=True)
class Thresholds:
    """The data-map region boundaries (probabilities) and how they were chosen."""

    easy_confidence: float
    hard_confidence: float
    ambiguous_variability: float
    method: str
    fraction: float | None
    description: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "easy_confidence": self.easy_confidence,
            "hard_confidence": self.hard_confidence,
            "ambiguous_variability": self.ambiguous_variability,
            "method": self.method,
            "fraction": self.fraction,
            "description": self.description,
        }


@dataclass(frozen=True)
class LabelProblem:
    """A sample the model keeps predicting as ``suspect_class`` instead of its label."""

    position: int
    id: SampleId
    label: int
    suspect_class: int
    wrong_fraction: float
    consistency: float
    confidence: float
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "suspect_class": self.suspect_class,
            "wrong_fraction": self.wrong_fraction,
            "consistency": self.consistency,
            "confidence": self.confidence,
            "score": self.score,
        }


@dataclass(frozen=True)
class LabelProblems:
    """Likely label problems, best first (at most ``top``), and the criteria used."""

    n_candidates: int
    min_wrong_fraction: float
    min_consistency: float
    samples: list[LabelProblem]

    def to_dict(self) -> dict[str, Any]:
        return {
            "note": LABEL_PROBLEM_NOTE,
            "n_candidates": self.n_candidates,
            "min_wrong_fraction": self.min_wrong_fraction,
            "min_consistency": self.min_consistency,
            "samples": [s.to_dict() for s in self.samples],
        }


@dataclass(frozen=True)
class LossRisers:
    """The samples whose loss rose most between the first and the last epoch of the range.

    ``rows`` are positions in :class:`SampleArrays` (largest rise first); ``losses``
    has shape ``(len(rows), len(epochs))``, the per-sample loss of the store at each
    epoch; ``wrong_last`` is True for the rows wrong at the last epoch.
    """

    epochs: list[int]
    rows: list[int]
    losses: np.ndarray
    wrong_last: np.ndarray


@dataclass(frozen=True)
class SplitDynamics:
    """``predaudit dynamics`` for one split.

    ``most_ambiguous`` and ``hardest`` are positions in ``samples`` (highest
    variability first; lowest confidence first). ``aum_note`` / ``el2n_note`` say
    why AUM / EL2N are missing (None when present). ``wrong_to_wrong``: the samples
    wrong at both epochs ``predaudit analyze`` compares by default, with their region;
    ``top``: how many rows of each list the table and Markdown show.
    """

    name: str
    n_samples: int
    n_ignored: int
    n_classes: int
    input_kind: str
    has_ids: bool
    epochs: list[int]
    region_counts: dict[str, int]
    never_learned: int
    forgotten_at_least_once: int
    thresholds: Thresholds
    most_ambiguous: list[int]
    hardest: list[int]
    label_problems: LabelProblems
    el2n_epoch: int | None
    aum_note: str | None
    el2n_note: str | None
    samples: SampleArrays = field(repr=False, compare=False)
    risers: LossRisers | None = field(default=None, repr=False, compare=False)
    wrong_to_wrong: WrongToWrongSamples | None = field(default=None, repr=False, compare=False)
    top: int = 10

    @property
    def hard_fraction(self) -> float:
        return self.region_counts["hard-to-learn"] / self.n_samples

    @property
    def lists_samples(self) -> bool:
        """True when the JSON lists every sample (``per_sample``), else it points to the CSV."""
        return self.n_samples <= PER_SAMPLE_MAX

    def to_dict(self) -> dict[str, Any]:
        rows = self.samples.row
        return {
            "split": self.name,
            "n_samples": self.n_samples,
            "n_ignored": self.n_ignored,
            "n_classes": self.n_classes,
            "input_kind": self.input_kind,
            "has_ids": self.has_ids,
            "epochs": list(self.epochs),
            "n_epochs": len(self.epochs),
            "variability_ddof": 0,
            "summary": {
                "regions": dict(self.region_counts),
                "never_learned": self.never_learned,
                "forgotten_at_least_once": self.forgotten_at_least_once,
                "hard_fraction": self.hard_fraction,
            },
            "thresholds": self.thresholds.to_dict(),
            "aum": {"available": self.aum_note is None, "note": self.aum_note},
            "el2n": {"epoch": self.el2n_epoch, "note": self.el2n_note},
            "most_ambiguous": [rows(i) for i in self.most_ambiguous],
            "hardest": [rows(i) for i in self.hardest],
            "label_problems": self.label_problems.to_dict(),
            "wrong_to_wrong": self.wrong_to_wrong.to_dict() if self.wrong_to_wrong else None,
            "per_sample": [rows(i) for i in range(len(self.samples))]
            if self.lists_samples
            else None,
            "per_sample_csv": None if self.lists_samples else PER_SAMPLE_CSV,
        }


METRICS = metric_table(
    Metric("n_never_learned", "number", "samples correct at no epoch of the range"),
    Metric("n_forgotten", "number", "samples with at least one correct → wrong change"),
    Metric("n_label_problems", "number", "samples flagged as likely label problems"),
    Metric("hard_fraction", "number", "fraction of samples in the hard-to-learn region"),
)
"""Metrics of ``predaudit dynamics`` checks."""


@dataclass(frozen=True)
class DynamicsReport(SplitsReport):
    """``predaudit dynamics``: schema ``predaudit.dynamics/1``, ``{"schema", "run", "splits"}``."""

    run: str
    splits: dict[str, SplitDynamics]

    SCHEMA: ClassVar[str] = DYNAMICS_SCHEMA
    METRICS: ClassVar[Mapping[str, Metric]] = METRICS


def split_metrics(split: Mapping[str, Any], *, where: str = "") -> dict[str, Value]:
    """The values of :data:`METRICS` for one split of a ``predaudit.dynamics/1`` dict."""
    dot = f"{where}." if where else ""
    summary = get_field(split, "summary", where)
    problems = get_field(split, "label_problems", where)
    s, p = f"{dot}summary", f"{dot}label_problems"
    return {
        "n_never_learned": number_field(
            get_field(summary, "never_learned", s), f"{s}.never_learned"
        ),
        "n_forgotten": number_field(
            get_field(summary, "forgotten_at_least_once", s), f"{s}.forgotten_at_least_once"
        ),
        "n_label_problems": number_field(
            get_field(problems, "n_candidates", p), f"{p}.n_candidates"
        ),
        "hard_fraction": number_field(get_field(summary, "hard_fraction", s), f"{s}.hard_fraction"),
    }


DynamicsReport.SPLIT_METRICS = staticmethod(split_metrics)  # type: ignore[assignment]
