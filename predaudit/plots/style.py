"""Constants shared by every figure: the Okabe–Ito palette, sizes, DPI and file formats.

The same colour means the same thing in every figure: :data:`WRONG` (vermillion)
is always the wrong samples, :data:`CORRECT` (blue) the correct ones. No matplotlib
here: these are plain values.
"""

from __future__ import annotations

# -- palette (Okabe & Ito, colour-blind safe) -----------------------------------------------

WRONG = "#D55E00"
"""Vermillion: wrong samples, in every figure."""
CORRECT = "#0072B2"
"""Blue: correct samples, in every figure."""
CORRECT_TO_WRONG = "#E69F00"
"""Orange: samples that went from correct to wrong."""
WRONG_TO_CORRECT = "#56B4E9"
"""Sky blue: samples that went from wrong to correct."""
ACCURACY = "#009E73"
"""Bluish green: accuracy."""
LOSS = "#000000"
"""Black: the mean loss over all samples (and ΔL)."""
MARK = "#666666"
"""Grey: the compared epochs."""

CELL_COLORS = {
    "correct_to_correct": CORRECT,
    "correct_to_wrong": CORRECT_TO_WRONG,
    "wrong_to_correct": WRONG_TO_CORRECT,
    "wrong_to_wrong": WRONG,
}

FORMATS = ("png", "svg", "pdf")
DPI = 100
LOSS_FLOOR = 1e-12
"""Smallest loss (nats) shown on a log axis; smaller values (and 0) are drawn at it."""
ANNOTATE_MAX_CLASSES = 20
"""Confusion heatmaps with at most this many classes get counts written in the cells."""
TOP_PAIRS = 10
"""How many confused pairs the many-class heatmap lists."""
MARKERS_MAX_EPOCHS = 40
"""Per-epoch curves get point markers up to this many epochs."""

RISE_FLOOR = 1e-3
"""Smallest loss (nats) on the axis of ``rise_samples``; smaller ones are drawn at it (≤ 0.001)."""
RISE_LINES_MAX = 200
"""``rise_samples`` draws one line per sample up to this many; more get quantile bands."""

ANALYZE_FIGURES = ("loss_accuracy", "loss_split", "transitions", "rise_samples")


def literal(text: object) -> str:
    """User text (ids, split and class names, paths) drawn as written: every ``$`` escaped,
    so matplotlib never parses it as mathtext (``$\\frac{$`` made saving a figure raise)."""
    return str(text).replace("$", r"\$")
