"""Confusion matrices, per-class metrics and per-class loss (``predaudit confusion``).

Everything here is a pure function of :class:`predaudit.stats.SplitStats`: no
I/O, no printing. Samples whose label is -100 are left out of every number.

* the confusion matrix: rows = true class, columns = predicted class; equal to
  ``sklearn.metrics.confusion_matrix(y, pred, labels=range(C))``;
* precision, recall, F1 and support per class, and their macro and weighted
  averages, as ``classification_report(..., zero_division=0)`` defines them;
* the mean loss per true class and its contribution to the mean loss,
  ``contribution_k = (1/N) Σ_{i: y_i = k} ℓ_i`` (nats), which sum to the mean loss;
* the most frequent confusions (true -> predicted, off the diagonal);
* between two epochs: the matrix difference, the confusions that grew and shrank
  most, and ``ΔL`` split by true class (``Σ_k Δcontribution_k = ΔL``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from predaudit.analysis.epochs import resolve_epoch
from predaudit.errors import InputError
from predaudit.stats import RunStats, SplitStats

NORMALIZE = ("none", "true", "pred", "all")
SCHEMA = "predaudit.confusion/1"
Label = int | str


# -- pure numerical core -------------------------------------------------------------------


def confusion_counts(
    labels: np.ndarray, pred: np.ndarray, *, n_classes: int, weights: np.ndarray | None = None
) -> np.ndarray:
    """Count (or sum ``weights`` over) the samples of each (true, predicted) pair.

    labels, pred : ndarray of shape (n_samples,), class indices in [0, n_classes)
    weights : ndarray of shape (n_samples,) or None

    Returns an ndarray of shape (n_classes, n_classes): int64 counts, or float64
    sums of ``weights``; rows are the true class, columns the predicted class.

    >>> confusion_counts(np.array([0, 1, 1]), np.array([0, 0, 1]), n_classes=2).tolist()
    [[1, 0], [1, 1]]
    """
    flat = labels.astype(np.int64) * n_classes + pred.astype(np.int64)
    out = np.bincount(flat, weights=weights, minlength=n_classes * n_classes)
    out = out.reshape(n_classes, n_classes)
    return out if weights is not None else out.astype(np.int64)


def normalize_matrix(cm: np.ndarray, how: str) -> np.ndarray:
    """Normalise a count matrix as ``sklearn.metrics.confusion_matrix(normalize=...)`` does.

    cm : ndarray of shape (n_classes, n_classes); how : ``none`` (counts as float),
    ``true`` (each row sums to 1), ``pred`` (each column sums to 1) or ``all``.
    Rows or columns without samples are 0.
    """
    if how not in NORMALIZE:
        raise ValueError(f"normalize must be one of {NORMALIZE}, not {how!r}")
    cm = cm.astype(np.float64)
    with np.errstate(all="ignore"):
        if how == "true":
            cm = cm / cm.sum(axis=1, keepdims=True)
        elif how == "pred":
            cm = cm / cm.sum(axis=0, keepdims=True)
        elif how == "all":
            cm = cm / cm.sum()
    return np.nan_to_num(cm)


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` elementwise, 0 where ``den`` is 0 (``zero_division=0``)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.zeros_like(num)
    np.divide(num, den, out=out, where=den != 0)
    return out


def class_metrics(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and support per class from a count matrix.

    cm : ndarray of shape (n_classes, n_classes), rows = true class.
    Returns arrays of shape (n_classes,) under ``precision``, ``recall``, ``f1``,
    ``support`` (true samples) and ``n_predicted``; a ratio with a zero
    denominator is 0, as in scikit-learn with ``zero_division=0``
    (F1 = 2·tp / (support + n_predicted)).
    """
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1)
    n_pred = cm.sum(axis=0)
    return {
        "precision": _divide(tp, n_pred),
        "recall": _divide(tp, support),
        "f1": _divide(2.0 * tp, support + n_pred),
        "support": support,
        "n_predicted": n_pred,
    }


# -- report objects ------------------------------------------------------------------------


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

    def to_dict(self) -> dict:
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

    def to_dict(self) -> dict:
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

    def to_dict(self) -> dict:
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

    ``matrix`` holds counts, shape (n_classes, n_classes), rows = true class;
    ``loss`` is the mean loss (nats) and the ``contribution`` of every class sums to it.
    """

    epoch: int
    labels: list[Label]
    matrix: np.ndarray = field(repr=False, compare=False)
    per_class: list[ClassRow]
    accuracy: float
    macro: Average
    weighted: Average
    loss: float
    n_samples: int
    top_confusions: list[Confusion]
    pair_loss: np.ndarray = field(repr=False, compare=False)
    """Sum of the loss over the samples of each (true, pred) cell, shape (C, C)."""

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

    def to_dict(self) -> dict:
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

    def to_dict(self) -> dict:
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

    ``matrix`` is the count difference (to − from), shape (C, C); ``grew`` and
    ``shrank`` the confusions whose count rose or fell most; ``per_class`` splits
    ``delta_loss`` by true class.
    """

    from_epoch: int
    to_epoch: int
    loss_from: float
    loss_to: float
    accuracy_from: float
    accuracy_to: float
    matrix: np.ndarray = field(repr=False, compare=False)
    grew: list[PairChange]
    shrank: list[PairChange]
    per_class: list[ClassChange]

    @property
    def delta_loss(self) -> float:
        return self.loss_to - self.loss_from

    @property
    def delta_accuracy(self) -> float:
        return self.accuracy_to - self.accuracy_from

    def to_dict(self) -> dict:
        return {
            "from": self.from_epoch,
            "to": self.to_epoch,
            "loss_from": self.loss_from,
            "loss_to": self.loss_to,
            "delta_loss": self.delta_loss,
            "accuracy_from": self.accuracy_from,
            "accuracy_to": self.accuracy_to,
            "delta_accuracy": self.delta_accuracy,
            "matrix": self.matrix.tolist(),
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

    def to_dict(self) -> dict:
        e = self.epoch
        out: dict[str, Any] = {
            "split": self.name,
            "epoch": e.epoch,
            "labels": list(e.labels),
            "matrix": e.matrix.tolist(),
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
        }
        if self.normalize != "none":
            out["matrix_normalized"] = e.normalized(self.normalize).tolist()
        if self.diff is not None:
            out["diff"] = self.diff.to_dict()
        return out


@dataclass(frozen=True)
class ConfusionReport:
    """``predaudit confusion``: schema ``predaudit.confusion/1``.

    One split: ``{"schema", "run", "split", "epoch", "labels", "matrix", ...}``
    (DESIGN.md §6). Several splits: ``{"schema", "run", "splits": {name: {"split",
    "epoch", ...}}}`` with the same per-split object under each name.
    """

    run: str
    splits: dict[str, SplitConfusion]

    SCHEMA = SCHEMA

    def to_dict(self) -> dict:
        if len(self.splits) == 1:
            (only,) = self.splits.values()
            return {"schema": self.SCHEMA, "run": self.run, **only.to_dict()}
        return {
            "schema": self.SCHEMA,
            "run": self.run,
            "splits": {k: v.to_dict() for k, v in self.splits.items()},
        }


# -- analyses ------------------------------------------------------------------------------


def _labels_for(stats: SplitStats, class_names: list[str] | None) -> list[Label]:
    if class_names is None:
        return list(range(stats.n_classes))
    if len(class_names) != stats.n_classes:
        raise ValueError(
            f"{len(class_names)} class names for {stats.n_classes} classes in split {stats.name}"
        )
    return list(class_names)


def _epoch_arrays(stats: SplitStats, epoch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, predictions and losses at ``epoch`` of the samples that count, shape (n,)."""
    i = stats.epoch_index(epoch)
    valid = stats.valid[i]
    return stats.labels[i][valid], stats.pred[i][valid], stats.loss[i][valid]


def top_confusions(
    cm: np.ndarray, pair_loss: np.ndarray, labels: list[Label], *, top: int
) -> list[Confusion]:
    """The ``top`` most frequent off-diagonal cells of ``cm``, most frequent first.

    cm, pair_loss : ndarray of shape (n_classes, n_classes), counts and loss sums.
    Ties go to the lower true class, then the lower predicted class.
    """
    off = cm.copy()
    np.fill_diagonal(off, 0)
    t, p = np.nonzero(off)
    order = np.lexsort((p, t, -off[t, p]))[: max(top, 0)]
    support = cm.sum(axis=1)
    return [
        Confusion(
            true_index=int(t[j]),
            pred_index=int(p[j]),
            true=labels[t[j]],
            pred=labels[p[j]],
            count=int(off[t[j], p[j]]),
            share_of_true=float(off[t[j], p[j]] / support[t[j]]),
            mean_loss=float(pair_loss[t[j], p[j]] / off[t[j], p[j]]),
        )
        for j in order
    ]


def epoch_confusion(
    stats: SplitStats, epoch: int, *, class_names: list[str] | None = None, top: int = 10
) -> EpochConfusion:
    """Confusion matrix, per-class metrics and per-class loss of ``stats`` at epoch ``epoch``."""
    labels = _labels_for(stats, class_names)
    c = stats.n_classes
    y, pred, loss = _epoch_arrays(stats, epoch)
    n = int(y.size)
    cm = confusion_counts(y, pred, n_classes=c)
    pair_loss = confusion_counts(y, pred, n_classes=c, weights=loss)
    m = class_metrics(cm)
    loss_sum = pair_loss.sum(axis=1)
    support = m["support"]
    rows = [
        ClassRow(
            index=k,
            label=labels[k],
            support=int(support[k]),
            n_predicted=int(m["n_predicted"][k]),
            precision=float(m["precision"][k]),
            recall=float(m["recall"][k]),
            f1=float(m["f1"][k]),
            mean_loss=float(loss_sum[k] / support[k]) if support[k] else None,
            contribution=float(loss_sum[k] / n),
        )
        for k in range(c)
    ]
    weights = support.astype(np.float64)

    def avg(w: np.ndarray | None) -> Average:
        return Average(
            *(float(np.average(m[key], weights=w)) for key in ("precision", "recall", "f1"))
        )

    return EpochConfusion(
        epoch=epoch,
        labels=labels,
        matrix=cm,
        per_class=rows,
        accuracy=float(np.trace(cm) / n),
        macro=avg(None),
        weighted=avg(weights),
        loss=float(loss.sum() / n),
        n_samples=n,
        top_confusions=top_confusions(cm, pair_loss, labels, top=top),
        pair_loss=pair_loss,
    )


def confusion_diff(a: EpochConfusion, b: EpochConfusion, *, top: int = 10) -> ConfusionDiff:
    """The change from ``a`` to ``b`` (two epochs of the same split).

    ``per_class[k].delta_contribution`` sums over k to ``b.loss − a.loss``: each
    epoch's contributions sum to its mean loss, whatever samples count at each epoch.
    """
    delta = b.matrix - a.matrix
    off = delta.copy()
    np.fill_diagonal(off, 0)

    def changes(sign: int) -> list[PairChange]:
        t, p = np.nonzero(sign * off > 0)
        order = np.lexsort((p, t, -sign * off[t, p]))[: max(top, 0)]
        return [
            PairChange(
                true_index=int(t[j]),
                pred_index=int(p[j]),
                true=b.labels[t[j]],
                pred=b.labels[p[j]],
                count_from=int(a.matrix[t[j], p[j]]),
                count_to=int(b.matrix[t[j], p[j]]),
            )
            for j in order
        ]

    per_class = [
        ClassChange(
            index=ra.index,
            label=rb.label,
            support_from=ra.support,
            support_to=rb.support,
            recall_from=ra.recall,
            recall_to=rb.recall,
            f1_from=ra.f1,
            f1_to=rb.f1,
            mean_loss_from=ra.mean_loss,
            mean_loss_to=rb.mean_loss,
            contribution_from=ra.contribution,
            contribution_to=rb.contribution,
            delta_contribution=rb.contribution - ra.contribution,
        )
        for ra, rb in zip(a.per_class, b.per_class, strict=True)
    ]
    return ConfusionDiff(
        from_epoch=a.epoch,
        to_epoch=b.epoch,
        loss_from=a.loss,
        loss_to=b.loss,
        accuracy_from=a.accuracy,
        accuracy_to=b.accuracy,
        matrix=delta,
        grew=changes(+1),
        shrank=changes(-1),
        per_class=per_class,
    )


def split_confusion(
    stats: SplitStats,
    *,
    epoch: str | int = "last",
    diff: tuple[str | int, str | int] | None = None,
    normalize: str = "none",
    class_names: list[str] | None = None,
    top: int = 10,
) -> SplitConfusion:
    """``predaudit confusion`` for one split.

    ``epoch`` and the two ``diff`` epochs are labels or ``first``/``best``/``last``
    (an unknown one raises :class:`~predaudit.errors.OptionError`). With ``diff``
    the report is at its ``to`` epoch and ``epoch`` is not used.
    """
    if normalize not in NORMALIZE:
        raise ValueError(f"normalize must be one of {NORMALIZE}, not {normalize!r}")
    d = None
    if diff is not None:
        e_from = resolve_epoch(stats, diff[0], option="--diff")
        e_to = resolve_epoch(stats, diff[1], option="--diff")
        a = epoch_confusion(stats, e_from, class_names=class_names, top=top)
        b = epoch_confusion(stats, e_to, class_names=class_names, top=top)
        d = confusion_diff(a, b, top=top)
    else:
        b = epoch_confusion(stats, resolve_epoch(stats, epoch), class_names=class_names, top=top)
    return SplitConfusion(
        name=stats.name,
        n_classes=stats.n_classes,
        n_ignored=stats.n_ignored,
        input_kind=stats.input_kind,
        normalize=normalize,
        epoch=b,
        diff=d,
    )


def confusion_report(run: RunStats, **options: Any) -> ConfusionReport:
    """:func:`split_confusion` for every split of ``run`` (same keyword options)."""
    return ConfusionReport(
        run=run.path,
        splits={name: split_confusion(s, **options) for name, s in run.splits.items()},
    )


def parse_class_names(text: str, *, source: str) -> list[str]:
    """Class names from the text of a file: a JSON list of strings, or one name per line.

    Blank lines at the end are dropped; an empty name in the middle, a repeated
    name or a JSON value that is not a list of strings raises :class:`InputError`
    naming ``source``.

    >>> parse_class_names('["cat", "dog"]', source="names.json")
    ['cat', 'dog']
    >>> parse_class_names("cat\\ndog\\n", source="names.txt")
    ['cat', 'dog']
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    if text.lstrip().startswith("["):
        try:
            names = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(source, f"not valid JSON ({exc.msg} at line {exc.lineno})") from None
        if not isinstance(names, list) or not all(isinstance(x, str) for x in names):
            raise InputError(source, "expected a JSON list of strings (class names)")
        names = [x.strip() for x in names]
        empty = [i + 1 for i, x in enumerate(names) if not x]
        if empty:
            raise InputError(source, f"class name {empty[0]} of the JSON list is empty")
    else:
        names = [line.strip() for line in text.splitlines()]
        while names and not names[-1]:
            names.pop()
        empty = [i + 1 for i, x in enumerate(names) if not x]
        if empty:
            raise InputError(source, f"line {empty[0]} is empty: expected one class name a line")
    if not names:
        raise InputError(source, "no class names")
    seen: set[str] = set()
    for x in names:
        if x in seen:
            raise InputError(source, f"class name {x!r} appears more than once")
        seen.add(x)
    return names


def check_class_names(names: list[str], run: RunStats, *, source: str) -> None:
    """Raise :class:`InputError` naming ``source`` when the count differs from a split's."""
    for s in run.splits.values():
        if len(names) != s.n_classes:
            where = f"split '{s.name}' has" if len(run.splits) > 1 else "the run has"
            raise InputError(source, f"{len(names)} class names but {where} {s.n_classes} classes")
