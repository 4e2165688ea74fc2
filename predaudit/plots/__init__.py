"""Figures that tell the story of a run: each function takes data and returns a Figure.

* :func:`plot_loss_accuracy` — mean loss and accuracy per epoch (``loss_accuracy.png``);
* :func:`plot_loss_split` — the loss split into correct and wrong samples
  (``loss_split.png``);
* :func:`plot_transitions` — the four transition cells' contributions to ΔL
  (``transitions.png``);
* :func:`plot_rise_samples` — the samples wrong at both compared epochs, each a line
  from its loss then to its loss now (``rise_samples.png``);
* :func:`plot_confusion` — a row-normalised confusion heatmap (``confusion.png``);
* :func:`plot_confusion_diff` — the change in counts between two epochs, diverging
  colours centred on 0 (``confusion_diff.png``, ``confusion --diff``).

:func:`plot_loss_distribution` (histograms of per-sample loss at the compared epochs)
is kept for callers but is not among the figures ``analyze --out`` writes.

Figures are built with the object-oriented API (:class:`matplotlib.figure.Figure`,
never ``pyplot``), so nothing is registered globally and nothing is shown; the
``write_*`` functions save them atomically. Every title states the finding, and
the same Okabe–Ito colour means the same thing in every figure: :data:`WRONG`
(vermillion) is always the wrong samples, :data:`CORRECT` (blue) the correct ones.

The package's modules: :mod:`~predaudit.plots.style` (palette and constants),
:mod:`~predaudit.plots.text` (numbers in titles), :mod:`~predaudit.plots.axes`
(figure and axes plumbing), :mod:`~predaudit.plots.curves` (loss_accuracy,
loss_split), :mod:`~predaudit.plots.cells` (transitions, loss_distribution),
:mod:`~predaudit.plots.rise` (rise_samples), :mod:`~predaudit.plots.confusion` and
:mod:`~predaudit.plots.save` (writing, and the figures each command writes). Importing
this package imports matplotlib; the CLI imports it only when it draws.
"""

from __future__ import annotations

from predaudit.plots.axes import compared_labels
from predaudit.plots.cells import plot_loss_distribution, plot_transitions
from predaudit.plots.confusion import plot_confusion, plot_confusion_diff, top_confusions
from predaudit.plots.curves import plot_loss_accuracy, plot_loss_split
from predaudit.plots.rise import plot_rise_samples
from predaudit.plots.save import (
    analyze_figures,
    analyze_figures_for,
    confusion_figures_for,
    save_figure,
    write_analyze_figures,
    write_confusion_diff_figure,
    write_confusion_figure,
)
from predaudit.plots.style import (
    ACCURACY,
    ANALYZE_FIGURES,
    ANNOTATE_MAX_CLASSES,
    CELL_COLORS,
    CORRECT,
    CORRECT_TO_WRONG,
    DPI,
    FORMATS,
    LOSS,
    LOSS_FLOOR,
    MARK,
    MARKERS_MAX_EPOCHS,
    RISE_FLOOR,
    RISE_LINES_MAX,
    TOP_PAIRS,
    WRONG,
    WRONG_TO_CORRECT,
)
from predaudit.report.vocab import CELL_LABELS
from predaudit.report.vocab import CELLS as CELL_ORDER

__all__ = [
    "ACCURACY",
    "ANALYZE_FIGURES",
    "ANNOTATE_MAX_CLASSES",
    "CELL_COLORS",
    "CELL_LABELS",
    "CELL_ORDER",
    "CORRECT",
    "CORRECT_TO_WRONG",
    "DPI",
    "FORMATS",
    "LOSS",
    "LOSS_FLOOR",
    "MARK",
    "MARKERS_MAX_EPOCHS",
    "RISE_FLOOR",
    "RISE_LINES_MAX",
    "TOP_PAIRS",
    "WRONG",
    "WRONG_TO_CORRECT",
    "analyze_figures",
    "analyze_figures_for",
    "compared_labels",
    "confusion_figures_for",
    "plot_confusion",
    "plot_confusion_diff",
    "plot_loss_accuracy",
    "plot_loss_distribution",
    "plot_loss_split",
    "plot_rise_samples",
    "plot_transitions",
    "save_figure",
    "top_confusions",
    "write_analyze_figures",
    "write_confusion_diff_figure",
    "write_confusion_figure",
]
