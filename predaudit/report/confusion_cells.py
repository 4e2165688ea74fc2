"""The cells of a confusion matrix kept sparse: only the (true, predicted) pairs that occur.

A confusion matrix of C classes has C² cells but at most N of them are not zero (N
samples); with 20,000 classes the dense matrix would be 400 million cells. Counting
keeps the nonzero cells only (:func:`count_cells`, memory O(N + C)), and the dense
matrix is built from them only up to :data:`DENSE_MAX_CLASSES` classes (the JSON
``matrix`` and the CSV matrix); above, reports carry the cells themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np

Normalize = Literal["none", "true", "pred", "all"]
NORMALIZE: tuple[Normalize, ...] = get_args(Normalize)

DENSE_MAX_CLASSES = 2000
"""Up to this many classes the report holds the dense C×C matrix (JSON ``matrix``, the CSV
matrix, 4 million cells at most); above, the nonzero cells (``matrix_cells``, CSV rows)."""


def dense_allowed(n_classes: int) -> bool:
    """Whether a C×C matrix of ``n_classes`` is built (at most :data:`DENSE_MAX_CLASSES`)."""
    return n_classes <= DENSE_MAX_CLASSES


def _check_dense(n_classes: int) -> None:
    if not dense_allowed(n_classes):
        raise ValueError(
            f"{n_classes} classes: the dense {n_classes}×{n_classes} matrix is not built "
            f"(over {DENSE_MAX_CLASSES} classes); use the nonzero cells (.cells)"
        )


@dataclass(frozen=True, eq=False)
class Cells:
    """The nonzero cells of one confusion matrix, sorted by (true, pred).

    ``true``, ``pred`` : int64 arrays of shape (k,), class indices;
    ``count`` : int64 (k,), samples in the cell (all > 0);
    ``loss`` : float64 (k,), the sum of their losses (nats).
    """

    n_classes: int
    true: np.ndarray
    pred: np.ndarray
    count: np.ndarray
    loss: np.ndarray

    @property
    def keys(self) -> np.ndarray:
        """``true · C + pred`` of each cell, int64, increasing."""
        return self.true * np.int64(self.n_classes) + self.pred

    def per_true(self, values: np.ndarray) -> np.ndarray:
        """``values`` (one per cell) summed per true class, shape (n_classes,)."""
        return np.bincount(self.true, weights=values, minlength=self.n_classes)

    def support(self) -> np.ndarray:
        """True samples per class, int64 (n_classes,)."""
        return np.bincount(self.true, weights=self.count, minlength=self.n_classes).astype(np.int64)

    def n_predicted(self) -> np.ndarray:
        """Samples predicted as each class, int64 (n_classes,)."""
        return np.bincount(self.pred, weights=self.count, minlength=self.n_classes).astype(np.int64)

    def diagonal(self) -> np.ndarray:
        """Correct predictions per class (the diagonal), int64 (n_classes,)."""
        on = self.true == self.pred
        out = np.zeros(self.n_classes, dtype=np.int64)
        out[self.true[on]] = self.count[on]
        return out

    @property
    def n_correct(self) -> int:
        return int(self.count[self.true == self.pred].sum())

    def dense(self) -> np.ndarray:
        """The count matrix, int64 (C, C); ``ValueError`` over :data:`DENSE_MAX_CLASSES`."""
        _check_dense(self.n_classes)
        out = np.zeros((self.n_classes, self.n_classes), dtype=np.int64)
        out[self.true, self.pred] = self.count
        return out

    def dense_loss(self) -> np.ndarray:
        """The loss sums, float64 (C, C); ``ValueError`` over :data:`DENSE_MAX_CLASSES`."""
        _check_dense(self.n_classes)
        out = np.zeros((self.n_classes, self.n_classes), dtype=np.float64)
        out[self.true, self.pred] = self.loss
        return out

    def normalized(self, how: str) -> np.ndarray:
        """Each cell's count as ``sklearn.metrics.confusion_matrix(normalize=how)`` has it:
        a share of its row (``true``), its column (``pred``) or of all samples (``all``);
        the count itself with ``none``. float64 (k,)."""
        count = self.count.astype(np.float64)
        if how == "true":
            return count / self.support()[self.true]
        if how == "pred":
            return count / self.n_predicted()[self.pred]
        if how == "all":
            return count / max(float(count.sum()), 1.0)
        return count


def count_cells(labels: np.ndarray, pred: np.ndarray, loss: np.ndarray, *, n_classes: int) -> Cells:
    """Count the samples of each (true, predicted) pair and sum their losses, sparsely.

    labels, pred : ndarray of shape (n_samples,), class indices in [0, n_classes)
    loss : ndarray of shape (n_samples,), nats. Memory O(n_samples), whatever n_classes.

    >>> c = count_cells(np.array([0, 1, 1]), np.array([0, 0, 1]), np.ones(3), n_classes=2)
    >>> c.true.tolist(), c.pred.tolist(), c.count.tolist()
    ([0, 1, 1], [0, 0, 1], [1, 1, 1])
    """
    keys = labels.astype(np.int64) * np.int64(n_classes) + pred.astype(np.int64)
    uniq, inverse, count = np.unique(keys, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse.ravel(), weights=loss, minlength=uniq.size)
    return Cells(
        n_classes=n_classes,
        true=uniq // n_classes,
        pred=uniq % n_classes,
        count=count.astype(np.int64),
        loss=sums.astype(np.float64),
    )


@dataclass(frozen=True, eq=False)
class CellChanges:
    """The cells whose count changed between two epochs, sorted by (true, pred).

    ``true``, ``pred`` : int64 (k,); ``count_from``, ``count_to`` : int64 (k,), never equal.
    """

    n_classes: int
    true: np.ndarray
    pred: np.ndarray
    count_from: np.ndarray
    count_to: np.ndarray

    @property
    def change(self) -> np.ndarray:
        return self.count_to - self.count_from

    def dense(self) -> np.ndarray:
        """The count difference to − from, int64 (C, C); ``ValueError`` over the limit."""
        _check_dense(self.n_classes)
        out = np.zeros((self.n_classes, self.n_classes), dtype=np.int64)
        out[self.true, self.pred] = self.change
        return out


def cell_changes(a: Cells, b: Cells) -> CellChanges:
    """The cells of ``a`` and ``b`` (same n_classes) whose count differs, O(cells) memory."""
    ka, kb = a.keys, b.keys
    keys = np.union1d(ka, kb)
    before = np.zeros(keys.size, dtype=np.int64)
    after = np.zeros(keys.size, dtype=np.int64)
    before[np.searchsorted(keys, ka)] = a.count
    after[np.searchsorted(keys, kb)] = b.count
    moved = before != after
    keys = keys[moved]
    c = np.int64(a.n_classes)
    return CellChanges(a.n_classes, keys // c, keys % c, before[moved], after[moved])


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


def cells_json(c: Cells, normalize: str) -> dict[str, Any]:
    """The JSON of a matrix: ``{"matrix": rows}`` up to ``DENSE_MAX_CLASSES`` classes, else
    ``{"matrix_cells": {"true_index", "pred_index", "count"}}`` (the nonzero cells, sorted
    by true then predicted class) with ``"normalized"`` (each cell's normalised value)
    unless ``normalize`` is ``none``."""
    if dense_allowed(c.n_classes):
        return {"matrix": c.dense().tolist()}
    cells: dict[str, Any] = {
        "true_index": c.true.tolist(),
        "pred_index": c.pred.tolist(),
        "count": c.count.tolist(),
    }
    if normalize != "none":
        cells["normalized"] = c.normalized(normalize).tolist()
    return {"matrix_cells": cells}


def changes_json(c: CellChanges) -> dict[str, Any]:
    """The JSON of a matrix difference: ``{"matrix": rows}`` up to ``DENSE_MAX_CLASSES``
    classes, else ``{"matrix_cells": {"true_index", "pred_index", "count_from",
    "count_to"}}`` (the cells whose count changed, diagonal included)."""
    if dense_allowed(c.n_classes):
        return {"matrix": c.dense().tolist()}
    return {
        "matrix_cells": {
            "true_index": c.true.tolist(),
            "pred_index": c.pred.tolist(),
            "count_from": c.count_from.tolist(),
            "count_to": c.count_to.tolist(),
        }
    }
