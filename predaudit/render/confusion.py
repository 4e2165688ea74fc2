"""Renderers of :class:`predaudit.analysis.confusion.ConfusionReport`.

Every function takes the report (and, keyword-only, ``csv_paths``: where the full
matrices were written as CSV) and returns a Rich renderable or a string; none of them prints.
The terminal table fits 80 columns for 10 classes; over ``MATRIX_MAX_CLASSES``
classes the matrix is left out of the table and Markdown (it goes to CSV) and the
per-class table is sorted by F1, worst first.

The renderers live in :mod:`predaudit.render.confusion_table` (Rich) and
:mod:`predaudit.render.confusion_text` (Markdown, CSV); this module is the table
of them the registry loads, one per ``--format``, and the data files ``--out`` writes.

>>> sorted(f.value for f in RENDERERS)
['csv', 'html', 'json', 'markdown', 'table']
"""

from __future__ import annotations

from collections.abc import Callable

from rich.console import RenderableType

from predaudit.render import OutputFormat, to_json
from predaudit.render.confusion_common import MATRIX_MAX_CLASSES, MatrixCsv
from predaudit.render.confusion_table import confusion_table, shorten
from predaudit.render.confusion_text import (
    cells_csv,
    confusion_csv,
    confusion_markdown,
    matrix_csv,
)
from predaudit.render.html_lazy import render_html
from predaudit.render.numbers import pct
from predaudit.report.confusion import ConfusionReport, SplitConfusion
from predaudit.report.confusion_cells import dense_allowed


def confusion_json(report: ConfusionReport, *, csv_paths: MatrixCsv | None = None) -> str:
    """``report.to_dict()`` as JSON (schema ``predaudit.confusion/1``)."""
    del csv_paths
    return to_json(report)


Renderer = Callable[..., RenderableType]
"""``render(report, *, csv_paths=None)``: a Rich renderable or a string."""

RENDERERS: dict[OutputFormat, Renderer] = {
    OutputFormat.TABLE: confusion_table,
    OutputFormat.JSON: confusion_json,
    OutputFormat.MARKDOWN: confusion_markdown,
    OutputFormat.CSV: confusion_csv,
    OutputFormat.HTML: render_html,
}


def bundle_files(split: SplitConfusion) -> list[tuple[str, str, str]]:
    """The data files ``--out`` writes for one split: ``(role, file name, text)``.

    ``matrix`` is the matrix at the epoch; with a diff also ``matrix_diff``. Over
    ``DENSE_MAX_CLASSES`` classes they are written one cell a row, as
    ``confusion_cells.csv`` and ``confusion_cells_diff.csv`` (:func:`cells_csv`).
    """
    stem = "confusion_matrix" if dense_allowed(split.n_classes) else "confusion_cells"
    files = [("matrix", f"{stem}.csv", matrix_csv(split, diff=False))]
    if split.diff is not None:
        files.append(("matrix_diff", f"{stem}_diff.csv", matrix_csv(split, diff=True)))
    return files


__all__ = [
    "MATRIX_MAX_CLASSES",
    "RENDERERS",
    "bundle_files",
    "cells_csv",
    "confusion_csv",
    "confusion_json",
    "confusion_markdown",
    "confusion_table",
    "matrix_csv",
    "pct",
    "shorten",
]
