"""Confusion matrices, per-class metrics and per-class loss (``predaudit confusion``).

Everything here is a pure function of :class:`predaudit.stats.SplitStats`: no
I/O, no printing. Samples whose label is -100 are left out of every number.

* the confusion matrix: rows = true class, columns = predicted class; equal to
  ``sklearn.metrics.confusion_matrix(y, pred, labels=range(C))``, counted as its
  nonzero cells (memory O(N + C), whatever C; the dense C×C matrix is built from
  them only up to ``DENSE_MAX_CLASSES`` classes, see
  :mod:`predaudit.report.confusion_cells`);
* precision, recall, F1 and support per class, and their macro and weighted
  averages, as ``classification_report(..., zero_division=0)`` defines them;
* the mean loss per true class and its contribution to the mean loss,
  ``contribution_k = (1/N) Σ_{i: y_i = k} ℓ_i`` (nats), which sum to the mean loss;
* the most frequent confusions (true -> predicted, off the diagonal);
* between two epochs: the matrix difference, the confusions that grew and shrank
  most, and ``ΔL`` split by true class (``Σ_k Δcontribution_k = ΔL``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from predaudit.analysis.epochs import resolve_epoch, resolve_pair
from predaudit.errors import InputError
from predaudit.report.confusion import (
    NORMALIZE,
    Average,
    ClassChange,
    ClassRow,
    Confusion,
    ConfusionDiff,
    ConfusionReport,
    EpochConfusion,
    Label,
    PairChange,
    SplitConfusion,
)
from predaudit.report.confusion_cells import Cells, cell_changes, count_cells
from predaudit.report.vocab import REDUCED
from predaudit.store import RunStats, SplitStats

# -- pure numerical core -------------------------------------------------------------------


def confusion_counts(
    labels: np.ndarray, pred: np.ndarray, *, n_classes: int, weights: np.ndarray | None = None
) -> np.ndarray:
    """Count (or sum ``weights`` over) the samples of each (true, predicted) pair.

    labels, pred : ndarray of shape (n_samples,), class indices in [0, n_classes)
    weights : ndarray of shape (n_samples,) or None

    Returns an ndarray of shape (n_classes, n_classes): int64 counts, or float64
    sums of ``weights``; rows are the true class, columns the predicted class.
    Dense, C² memory: the analyses count sparsely (:func:`count_cells`).

    >>> confusion_counts(np.array([0, 1, 1]), np.array([0, 0, 1]), n_classes=2).tolist()
    [[1, 0], [1, 1]]
    """
    flat = labels.astype(np.int64) * n_classes + pred.astype(np.int64)
    out = np.bincount(flat, weights=weights, minlength=n_classes * n_classes)
    out = out.reshape(n_classes, n_classes)
    return out if weights is not None else out.astype(np.int64)


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` elementwise, 0 where ``den`` is 0 (``zero_division=0``)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.zeros_like(num)
    np.divide(num, den, out=out, where=den != 0)
    return out


def class_metrics(cm: np.ndarray | Cells) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and support per class from a count matrix or its cells.

    cm : ndarray of shape (n_classes, n_classes), rows = true class, or the
    :class:`~predaudit.report.confusion_cells.Cells` of one (O(n_classes) memory).
    Returns arrays of shape (n_classes,) under ``precision``, ``recall``, ``f1``,
    ``support`` (true samples) and ``n_predicted``; a ratio with a zero
    denominator is 0, as in scikit-learn with ``zero_division=0``
    (F1 = 2·tp / (support + n_predicted)).
    """
    if isinstance(cm, Cells):
        tp, support, n_pred = cm.diagonal().astype(np.float64), cm.support(), cm.n_predicted()
    else:
        tp, support, n_pred = np.diag(cm).astype(np.float64), cm.sum(axis=1), cm.sum(axis=0)
    return {
        "precision": _divide(tp, n_pred),
        "recall": _divide(tp, support),
        "f1": _divide(2.0 * tp, support + n_pred),
        "support": support,
        "n_predicted": n_pred,
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


def top_confusions(cells: Cells, labels: list[Label], *, top: int) -> list[Confusion]:
    """The ``top`` most frequent off-diagonal cells, most frequent first.

    cells : the nonzero cells (counts and loss sums) of one epoch's matrix.
    Ties go to the lower true class, then the lower predicted class.
    """
    off = np.flatnonzero(cells.true != cells.pred)
    t, p, n = cells.true[off], cells.pred[off], cells.count[off]
    order = off[np.lexsort((p, t, -n))[: max(top, 0)]]
    support = cells.support()
    return [
        Confusion(
            true_index=int(cells.true[j]),
            pred_index=int(cells.pred[j]),
            true=labels[cells.true[j]],
            pred=labels[cells.pred[j]],
            count=int(cells.count[j]),
            share_of_true=float(cells.count[j] / support[cells.true[j]]),
            mean_loss=float(cells.loss[j] / cells.count[j]),
        )
        for j in order
    ]


def epoch_confusion(
    stats: SplitStats, epoch: int, *, class_names: list[str] | None = None, top: int = 10
) -> EpochConfusion:
    """Confusion matrix, per-class metrics and per-class loss of ``stats`` at epoch ``epoch``.

    Memory O(n_samples + n_classes): the matrix is kept as its nonzero cells.
    """
    labels = _labels_for(stats, class_names)
    c = stats.n_classes
    y, pred, loss = _epoch_arrays(stats, epoch)
    n = int(y.size)
    cells = count_cells(y, pred, loss, n_classes=c)
    m = class_metrics(cells)
    loss_sum = cells.per_true(cells.loss)
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
        cells=cells,
        per_class=rows,
        accuracy=float(cells.n_correct / n),
        macro=avg(None),
        weighted=avg(weights),
        loss=float(loss.sum() / n),
        n_samples=n,
        top_confusions=top_confusions(cells, labels, top=top),
    )


def confusion_diff(a: EpochConfusion, b: EpochConfusion, *, top: int = 10) -> ConfusionDiff:
    """The change from ``a`` to ``b`` (two epochs of the same split).

    ``per_class[k].delta_contribution`` sums over k to ``b.loss − a.loss``: each
    epoch's contributions sum to its mean loss, whatever samples count at each epoch.
    Only the cells that changed are compared (memory O(cells), not C²).
    """
    moved = cell_changes(a.cells, b.cells)
    off = np.flatnonzero(moved.true != moved.pred)
    change = moved.change

    def changes(sign: int) -> list[PairChange]:
        j = off[sign * change[off] > 0]
        t, p = moved.true[j], moved.pred[j]
        order = j[np.lexsort((p, t, -sign * change[j]))[: max(top, 0)]]
        return [
            PairChange(
                true_index=int(moved.true[i]),
                pred_index=int(moved.pred[i]),
                true=b.labels[moved.true[i]],
                pred=b.labels[moved.pred[i]],
                count_from=int(moved.count_from[i]),
                count_to=int(moved.count_to[i]),
            )
            for i in order
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
        cells=moved,
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
    _needs_classes(stats)
    d = None
    if diff is not None:
        e_from, e_to = resolve_pair(stats, diff[0], diff[1], params=("diff", "diff"))
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
        n_clipped=stats.n_clipped,
        n_floored=stats.n_floored,
        clip=stats.clip,
        epoch_unit=stats.epoch_unit,
        sample_unit=stats.sample_unit,
    )


def _needs_classes(stats: SplitStats) -> None:
    """Pre-reduced records without ``pred`` and a label have no confusion matrix."""
    if stats.input_kind != REDUCED:
        return
    for i in range(len(stats.epochs)):  # one epoch at a time: the store may be memory-mapped
        valid = stats.valid[i]
        if (stats.pred[i][valid] < 0).any() or (stats.labels[i][valid] < 0).any():
            raise InputError(
                stats.files[0] if stats.files else stats.name,
                "holds pre-reduced records without pred and label columns; "
                "confusion needs both (add pred and label)",
            )


def confusion_report(run: RunStats, **options: Any) -> ConfusionReport:
    """:func:`split_confusion` for every split of ``run`` (same keyword options)."""
    return ConfusionReport(
        run=run.path,
        splits={name: split_confusion(s, **options) for name, s in run.splits.items()},
    )
