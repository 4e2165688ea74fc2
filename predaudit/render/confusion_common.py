"""What the terminal and the Markdown renderers of a confusion report share.

Constants, titles, the notes shown instead of a matrix or an empty list, and the
row orders of the per-class tables.
"""

from __future__ import annotations

from collections.abc import Sequence

from predaudit.report.confusion import (
    ClassChange,
    ClassRow,
    ConfusionDiff,
    ConfusionReport,
    SplitConfusion,
)
from predaudit.report.confusion_cells import DENSE_MAX_CLASSES, dense_allowed

MATRIX_MAX_CLASSES = 20
"""Above this many classes the matrix is not drawn in the terminal or in Markdown."""
ROWS_MAX_CLASSES = 200
"""Per-class tables list at most this many classes (the worst by F1, or with a diff the
largest contributions to ΔL); every class is in the JSON (``per_class``)."""
ROW_LABEL_WIDTH = 12
"""Widest class name in the first column of a table (longer names are shortened)."""
CELL_WIDTH = 5
"""Widest class name heading a matrix column (at least the width of the numbers)."""
NORMALIZE_TEXT = {
    "none": "% of the true class",
    "true": "% of the true class",
    "pred": "% of the predicted class",
    "all": "% of all samples",
}

MatrixCsv = dict[str, str]
"""Split name -> where its full matrix was written as CSV."""


def title(report: ConfusionReport, s: SplitConfusion) -> str:
    """``run · split NAME · epoch E`` (with a diff: ``epoch A → B``)."""
    unit = s.epoch_unit  # "step" for checkpoint-500/ folders
    if s.diff is not None:
        when = f"{unit} {s.diff.from_epoch} → {s.diff.to_epoch}"
    else:
        when = f"{unit} {s.epoch.epoch}"
    tokens = " · token level" if s.sample_unit == "token" else ""
    return f"{report.run} · split {s.name} · {when}{tokens}"


def show_matrix(s: SplitConfusion) -> bool:
    """Whether the matrix is drawn (at most ``MATRIX_MAX_CLASSES`` classes)."""
    return s.n_classes <= MATRIX_MAX_CLASSES


def matrix_note(s: SplitConfusion, csv_paths: MatrixCsv | None) -> str:
    """What is said instead of a matrix too large to draw, and where to find it."""
    where = (csv_paths or {}).get(s.name)
    matrix = "change in the confusion matrix" if s.diff is not None else "confusion matrix"
    what = f"The {s.n_classes}×{s.n_classes} {matrix} is not shown"
    if not dense_allowed(s.n_classes):
        n = s.diff.cells.true.size if s.diff is not None else s.epoch.cells.true.size
        cells = "cells that changed" if s.diff is not None else "nonzero cells"
        what += f" (over {DENSE_MAX_CLASSES} classes: its {n} {cells}, one per CSV row)"
    if where:
        return f"{what}; it was written to {where}."
    return f"{what}: print it with --format csv, or write it with --out DIR."


def class_order(rows: Sequence[ClassRow], by_f1: bool) -> list[ClassRow]:
    """The per-class rows in class order, or by F1, worst first (at most ``ROWS_MAX_CLASSES``)."""
    ordered = sorted(rows, key=lambda r: (r.f1, r.index)) if by_f1 else list(rows)
    return ordered[:ROWS_MAX_CLASSES]


def rows_note(s: SplitConfusion) -> str | None:
    """What is said under a per-class table that lists only ``ROWS_MAX_CLASSES`` classes."""
    if s.n_classes <= ROWS_MAX_CLASSES:
        return None
    more = s.n_classes - ROWS_MAX_CLASSES
    return f"{more} more classes not listed; every class is in --format json (per_class)."


def class_changes(s: SplitConfusion) -> list[ClassChange]:
    """The per-class loss changes: in class order, or largest contribution first when the
    matrix is not drawn."""
    d = s.diff
    assert d is not None
    if show_matrix(s):
        return list(d.per_class)
    by_size = sorted(d.per_class, key=lambda c: (-c.delta_contribution, c.index))
    return by_size[:ROWS_MAX_CLASSES]


def no_pairs(s: SplitConfusion) -> str:
    """What is said instead of an empty list of top confusions."""
    if s.epoch.n_correct == s.epoch.n_samples:
        return "No confusions: every sample is predicted as its true class."
    return "Top confusions: none listed (--top 0)."


def no_changes(d: ConfusionDiff) -> str:
    """What is said instead of an empty list of confusions that grew and shrank."""
    if not (d.cells.true != d.cells.pred).any():
        return "No confusion changed in count."
    return "Confusions that grew and shrank: none listed (--top 0)."
