"""What reading a split yields: its description, then one validated epoch at a time."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from predaudit.report.vocab import EpochUnit, LabelFormat, SampleUnit


@dataclass
class EpochPredictions:
    """One epoch of one split, validated.

    scores : ndarray of shape (n_samples, n_classes) or (n_samples,)
        As stored (possibly memory-mapped); bfloat16 arrives as its ``uint16``
        bit pattern with ``scores_dtype == "bfloat16"``.
    labels : ndarray
        ``int64`` of shape (n_samples,) with -100 for ignored samples, or
        ``float64`` targets of shape (n_samples, n_classes) (one-hot or soft).
    order : ndarray of shape (n_samples,) or None
        The permutation that puts this epoch's rows in the canonical order
        (sorted sample ids); None when the rows are in it already (no ids, or ids
        already in increasing order).
    scores_key : str
        The key the scores were read under (``logits``, ``probs``, …; for a ``.npy`` the
        one its name ends with, else ``scores``): a ``probs`` or ``log_probs`` key
        names the kind, which the values must then show
        (:func:`~predaudit.store.kindcheck.claim_error`).
    """

    epoch: int
    path: Path
    scores: np.ndarray
    scores_dtype: str
    labels: np.ndarray
    ids: np.ndarray | None
    order: np.ndarray | None
    scores_key: str = ""


@dataclass(frozen=True)
class SplitInfo:
    """What a split holds, known before its scores are read."""

    name: str
    epochs: list[int]
    n_samples: int
    n_classes: int
    binary: bool
    dtype: str
    label_format: LabelFormat
    has_ids: bool
    files: list[Path]
    pattern: str
    epoch_unit: EpochUnit = "epoch"
    sample_unit: SampleUnit = "sample"
    tokens_per_sequence: int | None = None
    """T of token-level scores ``[S, T, C]`` (row ``s·T + t``); None for samples."""
