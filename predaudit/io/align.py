"""Each epoch's labels and sample ids checked, and aligned with the first epoch's.

:class:`EpochAligner` runs every check of :mod:`predaudit.io.validate` on every epoch,
but an array with the same dtype, shape and bytes as the one checked at the epoch
before gives what that one gave (the checks are functions of those alone), so a run
whose epochs repeat their labels and ids (the common case: a Recorder's files, a
stacked run) checks them once. Ids already in increasing order need no sort: they are
unique, and the rows are in canonical order as they stand (``order`` None).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from predaudit.errors import InputError
from predaudit.io.records import SplitInfo
from predaudit.io.validate import (
    _as_labels,
    _check_ids,
    _first_changed,
    _n_changed,
    _show,
    refuse_late_ids,
)
from predaudit.report.vocab import IGNORE_INDEX, LabelFormat
from predaudit.text import plural


def same_bytes(a: np.ndarray, b: np.ndarray | None) -> bool:
    """``a`` and ``b`` have the same dtype, shape and bytes (so NaN equals itself, -0.0 not 0.0).

    Arrays that are not contiguous are never called the same (they are checked again).
    """
    if b is None or a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a is b:
        return True
    if not (a.flags.c_contiguous and b.flags.c_contiguous):
        return False
    if a.nbytes <= _COPY_TO_COMPARE:  # two copies and a memcmp: half the time of a numpy pass
        return a.tobytes() == b.tobytes()
    return bool(np.array_equal(a.reshape(-1).view(np.uint8), b.reshape(-1).view(np.uint8)))


_COPY_TO_COMPARE = 1 << 20


class EpochAligner:
    """The labels and ids of one split's epochs, in order: :meth:`labels`, then :meth:`align`.

    ``aligned`` (without ids) tells whether every epoch had the first epoch's labels.
    """

    def __init__(self, info: SplitInfo) -> None:
        self.info = info
        self.aligned = True
        self.first_path: Path | None = None
        self._raw_labels: np.ndarray | None = None  # the last raw labels checked
        self._labels: np.ndarray | None = None  # ... and what they gave
        self._raw_ids: np.ndarray | None = None  # the last raw ids checked
        self._order: np.ndarray | None = None  # ... and their order
        self._canon_of: np.ndarray | None = None  # the labels whose canonical order matched
        self.ref_ids: np.ndarray | None = None
        self.ref_labels: np.ndarray | None = None
        self.ref_path: Path | None = None

    def labels(self, raw: np.ndarray, path: Path, epoch: int) -> np.ndarray:
        """The epoch's labels validated (int64 indices or float64 targets)."""
        if raw is self._raw_labels or same_bytes(raw, self._raw_labels):
            assert self._labels is not None
            return self._labels  # the checks below gave no error for these bytes
        info = self.info
        labels, fmt = _as_labels(raw, path, info.n_classes)
        if not _formats_agree(fmt, info.label_format):
            raise InputError(
                path, f"labels are {fmt} at epoch {epoch} but {info.label_format} before"
            )
        if labels.ndim == 1 and np.all(labels == IGNORE_INDEX):
            raise InputError(path, f"every sample is ignored (label -100) at epoch {epoch}")
        self._raw_labels, self._labels = raw, labels
        return labels

    def align(
        self,
        ids_raw: np.ndarray | None,
        ipath: Path,
        labels: np.ndarray,
        lpath: Path,
        path: Path,
        epoch: int,
        n: int,
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """``(ids, order)`` of the epoch: ``order`` puts its rows in the canonical order
        (sorted ids; None when they are in it already, or there are no ids). Raises when
        the ids or the labels differ from the first epoch's."""
        info = self.info
        if ids_raw is None:
            if info.has_ids:
                raise InputError(path, f"epoch {epoch} has no sample ids but others do")
            if self.ref_labels is None:
                self.ref_labels = labels
            elif self.aligned and labels is not self.ref_labels:
                self.aligned = bool(np.array_equal(labels, self.ref_labels))
            return None, None
        if not info.has_ids:
            refuse_late_ids(self.first_path, ipath, epoch, info.epochs[0])
        if self._raw_ids is not None and same_bytes(ids_raw, self._raw_ids):
            ids, order = np.asarray(ids_raw), self._order  # checked at the epoch before
            if labels is self._canon_of:
                return ids, order  # the same labels in the same order as the epoch before
        else:
            ids = _check_ids(ids_raw, ipath, n)
            order = None if _increasing(ids) else np.argsort(ids, kind="stable")
            sorted_ids = ids if order is None else ids[order]
            if self.ref_ids is None:
                self.ref_ids, self.ref_path = sorted_ids, ipath
            elif not np.array_equal(sorted_ids, self.ref_ids):
                raise self._ids_differ(sorted_ids, ipath, epoch)
        canon = labels if order is None else labels[order]
        if self.ref_labels is None:
            self.ref_labels = canon
        elif not np.array_equal(canon, self.ref_labels):
            raise self._labels_change(canon, lpath, epoch)
        self._raw_ids, self._order, self._canon_of = ids_raw, order, labels
        return ids, order

    def _ids_differ(self, sorted_ids: np.ndarray, ipath: Path, epoch: int) -> InputError:
        assert self.ref_ids is not None
        missing = np.setdiff1d(self.ref_ids, sorted_ids)
        extra = np.setdiff1d(sorted_ids, self.ref_ids)
        detail = "; ".join(
            f"{vals.size} {what}, e.g. {_show(vals[0])}"
            for what, vals in (("missing", missing), ("new", extra))
            if vals.size
        )
        return InputError(
            f"{self.ref_path}, {ipath}",
            f"the sample ids differ between epochs {self.info.epochs[0]} and {epoch} ({detail})",
        )

    def _labels_change(self, canon: np.ndarray, lpath: Path, epoch: int) -> InputError:
        assert self.ref_labels is not None and self.ref_ids is not None
        changed = _n_changed(canon, self.ref_labels)
        sample = self.ref_ids[_first_changed(canon, self.ref_labels)]
        return InputError(
            f"{self.ref_path}, {lpath}",
            f"{plural(changed, 'sample')} {'changes' if changed == 1 else 'change'} label "
            f"between epochs {self.info.epochs[0]} and {epoch} (e.g. id {_show(sample)})",
        )


def _formats_agree(fmt: LabelFormat, first: LabelFormat) -> bool:
    return fmt == first or {fmt, first} <= {"one_hot", "soft"}


def _increasing(ids: np.ndarray) -> bool:
    """Strictly increasing (so unique, and sorted as ``np.argsort`` would put them)."""
    if ids.shape[0] < 2:
        return True
    with np.errstate(invalid="ignore"):
        return bool(np.all(ids[1:] > ids[:-1]))
