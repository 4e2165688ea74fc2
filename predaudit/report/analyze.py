"""The ``predaudit analyze`` report: frozen dataclasses with ``to_dict()`` (nats throughout)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from predaudit.report.analyze_temperature import (
    TEMPERATURE_METRICS,
    TemperatureComparison,
    temperature_metrics,
)
from predaudit.report.protocol import (
    MalformedReport,
    Metric,
    SplitsReport,
    Value,
    get_field,
    metric_table,
    number_field,
)
from predaudit.report.vocab import (
    ANALYZE_SCHEMA,
    CELLS,
    HYPOTHESIS_ID,
    VERDICTS,
    CellName,
    EpochUnit,
    FromReason,
    SampleUnit,
    StatsKind,
    Verdict,
)
from predaudit.report.wrong_to_wrong import WW_HARD_FRACTION, WrongToWrongRegions, ww_hard_fraction


@dataclass(frozen=True)
class EpochRow:
    """Mean loss and its split into correct and wrong samples at one epoch."""

    epoch: int
    n_samples: int
    loss: float
    accuracy: float
    n_correct: int
    loss_correct: float | None
    loss_wrong: float | None
    contribution_correct: float
    contribution_wrong: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "loss": self.loss,
            "accuracy": self.accuracy,
            "n_correct": self.n_correct,
            "loss_correct": self.loss_correct,
            "loss_wrong": self.loss_wrong,
            "contribution_correct": self.contribution_correct,
            "contribution_wrong": self.contribution_wrong,
            "n_samples": self.n_samples,
        }


@dataclass(frozen=True)
class Cell:
    """One transition cell: its size, contribution to ΔL (nats) and mean Δℓ (nats)."""

    n: int
    contribution: float
    mean_delta: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "contribution": self.contribution, "mean_delta": self.mean_delta}


@dataclass(frozen=True)
class ShiftShare:
    """``ΔL = composition + correct_severity + wrong_severity`` (nats)."""

    composition: float
    correct_severity: float
    wrong_severity: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "composition": self.composition,
            "correct_severity": self.correct_severity,
            "wrong_severity": self.wrong_severity,
        }


@dataclass(frozen=True)
class Hypothesis:
    """The verdict on "wrong predictions get more wrong" for one comparison.

    ``share`` is contribution(wrong_to_wrong) / ΔL; ``p_value`` the one-sided
    Wilcoxon signed-rank test that the wrong_to_wrong samples' Δℓ are positive;
    ``ci95`` a bootstrap interval of the wrong_to_wrong contribution (nats).
    """

    verdict: Verdict
    share: float | None
    p_value: float | None
    ci95: tuple[float, float] | None
    driver: CellName | None
    statement: str
    reason: str | None = None
    alpha: float = 0.05

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": HYPOTHESIS_ID,
            "verdict": self.verdict,
            "share": self.share,
            "p_value": self.p_value,
            "ci95": list(self.ci95) if self.ci95 is not None else None,
            "driver": self.driver,
            "statement": self.statement,
            "reason": self.reason,
            "alpha": self.alpha,
        }


@dataclass(frozen=True)
class Comparison:
    """The comparison ``from -> to``: ΔL, ΔA, transition cells and shift-share (nats).

    ``transitions`` is None when samples are not aligned (``transitions_reason``
    says why). ``ece_from``/``ece_to``: top-label ECE (15 equal-width bins) at each
    epoch; ``temperature``: T* at both and the share of ΔL it undoes (None when not fitted).
    ``wrong_to_wrong_regions``: the wrong → wrong samples per region of the data map of
    ``predaudit dynamics`` (None when there is none: ``wrong_to_wrong_regions_reason``).
    """

    from_epoch: int
    to_epoch: int
    from_reason: FromReason
    delta_loss: float
    delta_accuracy: float
    transitions: dict[CellName, Cell] | None
    shift_share: ShiftShare
    transitions_reason: str | None = None
    ece_from: float | None = None
    ece_to: float | None = None
    temperature: TemperatureComparison | None = None
    wrong_to_wrong_regions: WrongToWrongRegions | None = None
    wrong_to_wrong_regions_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
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
            "ece_from": self.ece_from,
            "ece_to": self.ece_to,
            "temperature": self.temperature.to_dict() if self.temperature else None,
            "wrong_to_wrong_regions": (
                self.wrong_to_wrong_regions.to_dict() if self.wrong_to_wrong_regions else None
            ),
            "wrong_to_wrong_regions_reason": self.wrong_to_wrong_regions_reason,
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
        names = np.array(["wrong_to_wrong", "wrong_to_correct", "correct_to_wrong", CELLS[0]])
        return names[self.correct_from.astype(int) * 2 + self.correct_to.astype(int)]


@dataclass(frozen=True)
class TopSample:
    """A sample whose loss rose most between the compared epochs."""

    id: int | float | str
    label: int | None
    pred_from: int | None
    pred_to: int | None
    loss_from: float
    loss_to: float
    p_true_from: float
    p_true_to: float
    sequence: int | None = None
    """Token-level runs: the sequence ``s`` and ``position`` ``t`` of the token (id ``s·T + t``)."""
    position: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out = self._fields()
        if self.sequence is not None:
            out["sequence"] = self.sequence
            out["position"] = self.position
        return out

    def _fields(self) -> dict[str, Any]:
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
    """``predaudit analyze`` for one split.

    ``top``: the samples of ``--top`` (only those whose loss rose: empty when none did);
    None without ``--top`` or without a comparison of aligned samples.
    """

    name: str
    n_samples: int
    n_classes: int
    input_kind: StatsKind
    kind_detected: bool
    n_clipped: int
    n_ignored: int
    aligned: bool
    has_ids: bool
    epochs: list[int]
    per_epoch: list[EpochRow]
    comparison: Comparison | None
    hypothesis: Hypothesis | None
    top: list[TopSample] | None
    samples: SampleDeltas | None = field(default=None, repr=False, compare=False)
    note: str | None = None
    n_floored: int = 0
    """True-class probabilities of 0 floored at the input dtype's smallest normal number."""
    clip: float | None = None
    """The ε of ``--clip`` (``n_clipped`` counts the values it clipped), or None."""
    epoch_unit: EpochUnit = "epoch"
    sample_unit: SampleUnit = "sample"

    def row(self, epoch: int) -> EpochRow:
        return self.per_epoch[self.epochs.index(epoch)]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "n_samples": self.n_samples,
            "n_classes": self.n_classes,
            "input_kind": self.input_kind,
            "n_clipped": self.n_clipped,
            "n_floored": self.n_floored,
            "clip": self.clip,
            "aligned": self.aligned,
            "epochs": self.epochs,
            "per_epoch": [r.to_dict() for r in self.per_epoch],
            "comparison": self.comparison.to_dict() if self.comparison else None,
            "hypothesis": self.hypothesis.to_dict() if self.hypothesis else None,
            "kind_detected": self.kind_detected,
            "n_ignored": self.n_ignored,
            "has_ids": self.has_ids,
            "note": self.note,
            "epoch_unit": self.epoch_unit,
            "sample_unit": self.sample_unit,
        }
        if self.top is not None:
            out["top"] = [t.to_dict() for t in self.top]
        return out


METRICS = metric_table(
    Metric("loss", "number", "mean loss (nats) at the compared `to` epoch"),
    Metric("accuracy", "number", "accuracy (0..1) at the compared `to` epoch"),
    Metric("best_loss", "number", "lowest mean loss over all epochs"),
    Metric("best_accuracy", "number", "highest accuracy over all epochs"),
    Metric("delta_loss", "number", "ΔL = loss(to) − loss(from); n/a with one epoch"),
    Metric("delta_accuracy", "number", "accuracy(to) − accuracy(from); n/a with one epoch"),
    Metric(
        "ww_share",
        "number",
        "share of ΔL from samples wrong at both epochs (1.0 = all of it); "
        "n/a when the hypothesis is not_applicable",
    ),
    WW_HARD_FRACTION,
    *TEMPERATURE_METRICS,
    Metric(
        "hypothesis",
        "verdict",
        "verdict on 'wrong predictions get more wrong': supported, rejected or not_applicable",
    ),
)
"""Metrics of ``predaudit analyze`` checks, in the order of the README table."""


@dataclass(frozen=True)
class AnalyzeReport(SplitsReport):
    """``predaudit analyze``: schema ``predaudit.analyze/1``."""

    run: str
    splits: dict[str, SplitAnalysis]

    SCHEMA: ClassVar[str] = ANALYZE_SCHEMA
    METRICS: ClassVar[Mapping[str, Metric]] = METRICS


def split_metrics(split: Mapping[str, Any], *, where: str = "split") -> dict[str, Value]:
    """The values of :data:`METRICS` for one split of a ``predaudit.analyze/1`` dict.

    ``split`` is ``report.to_dict()["splits"][name]``. ``loss`` and ``accuracy``
    are taken at the compared ``to`` epoch (the last epoch when there is no
    comparison); ``best_*`` over every epoch; ``hypothesis`` is ``not_applicable``
    when there is nothing to compare. Raises ``MalformedReport`` naming a bad field.
    """
    rows = get_field(split, "per_epoch", where)
    if not isinstance(rows, list) or not rows:
        raise MalformedReport(f"{where}.per_epoch is not a non-empty list")
    losses: dict[int, float | None] = {}
    accs: dict[int, float | None] = {}
    for i, row in enumerate(rows):
        w = f"{where}.per_epoch[{i}]"
        epoch = get_field(row, "epoch", w)
        losses[epoch] = number_field(get_field(row, "loss", w), f"{w}.loss")
        accs[epoch] = number_field(get_field(row, "accuracy", w), f"{w}.accuracy")
    comparison = get_field(split, "comparison", where)
    hypothesis = get_field(split, "hypothesis", where)
    to = list(losses)[-1]
    delta_loss = delta_accuracy = share = None
    verdict = "not_applicable"
    if comparison is not None:
        w = f"{where}.comparison"
        to = get_field(comparison, "to", w)
        if to not in losses:
            raise MalformedReport(f"{w}.to is {to!r}, not an epoch of per_epoch")
        delta_loss = number_field(get_field(comparison, "delta_loss", w), f"{w}.delta_loss")
        delta_accuracy = number_field(
            get_field(comparison, "delta_accuracy", w), f"{w}.delta_accuracy"
        )
    if hypothesis is not None:
        w = f"{where}.hypothesis"
        verdict = get_field(hypothesis, "verdict", w)
        if verdict not in VERDICTS:
            raise MalformedReport(f"{w}.verdict is {verdict!r}, not one of {', '.join(VERDICTS)}")
        share = number_field(get_field(hypothesis, "share", w), f"{w}.share")
        if verdict == "not_applicable":
            share = None
    finite_l = [x for x in losses.values() if x is not None]
    finite_a = [x for x in accs.values() if x is not None]
    return {
        "loss": losses[to],
        "accuracy": accs[to],
        "best_loss": min(finite_l) if finite_l else None,
        "best_accuracy": max(finite_a) if finite_a else None,
        "delta_loss": delta_loss,
        "delta_accuracy": delta_accuracy,
        "ww_share": share,
        "ww_hard_fraction": ww_hard_fraction(comparison, f"{where}.comparison"),
        **temperature_metrics(comparison, f"{where}.comparison"),
        "hypothesis": verdict,
    }


AnalyzeReport.SPLIT_METRICS = staticmethod(split_metrics)  # type: ignore[assignment]
