"""The vocabulary every layer shares, each word defined once.

Cell names and their order, verdicts, score kinds, label formats, the ignore
index and the schema ids of the JSON outputs.
"""

from __future__ import annotations

from typing import Literal, get_args

IGNORE_INDEX = -100
"""A label of -100 marks a sample that does not count (the PyTorch/Hugging Face convention)."""

CellName = Literal["correct_to_correct", "correct_to_wrong", "wrong_to_correct", "wrong_to_wrong"]
CELLS: tuple[CellName, ...] = get_args(CellName)
"""The four transition cells, in the order every table and figure shows them."""

CELL_LABELS: dict[CellName, str] = {
    "correct_to_correct": "correct → correct",
    "correct_to_wrong": "correct → wrong",
    "wrong_to_correct": "wrong → correct",
    "wrong_to_wrong": "wrong → wrong",
}
"""How a cell is named in tables, titles and on bars."""

CELL_CAUSES: dict[CellName, str] = {
    "correct_to_correct": "correct predictions losing confidence",
    "correct_to_wrong": "predictions flipping from correct to wrong",
    "wrong_to_correct": "predictions flipping from wrong to correct",
    "wrong_to_wrong": "wrong predictions getting more wrong",
}
"""What a cell driving the rise means, as the noun phrase after "comes from"."""

Verdict = Literal["supported", "inconclusive", "rejected", "not_applicable"]
VERDICTS: tuple[Verdict, ...] = get_args(Verdict)

InputKind = Literal["logits", "probs", "log_probs"]
KINDS: tuple[InputKind, ...] = get_args(InputKind)

StatsKind = Literal["logits", "probs", "log_probs", "reduced"]
"""What a split was read from: a score kind, or ``reduced`` (per-sample loss/correct records)."""
REDUCED: StatsKind = "reduced"

EpochUnit = Literal["epoch", "step"]
"""What the numbers labelling a split's evaluations count (``checkpoint-500``: a step)."""
SampleUnit = Literal["sample", "token"]
"""What one row is: a sample, or one token of a sequence (scores ``[S, T, C]``)."""
Layout = Literal["epochs", "tokens"]
"""How a rank-3 score array reads: ``[epochs, samples, classes]`` or ``[seqs, tokens, classes]``."""
LAYOUTS: tuple[Layout, ...] = get_args(Layout)

LabelFormat = Literal["index", "one_hot", "soft"]
LABEL_FORMATS: tuple[LabelFormat, ...] = get_args(LabelFormat)

FromReason = Literal["best_loss", "first", "given"]

HYPOTHESIS_ID = "wrong_get_more_wrong"

ANALYZE_SCHEMA = "predaudit.analyze/1"
CONFUSION_SCHEMA = "predaudit.confusion/1"
INSPECT_SCHEMA = "predaudit.inspect/1"
CALIBRATION_SCHEMA = "predaudit.calibration/1"
DYNAMICS_SCHEMA = "predaudit.dynamics/1"
