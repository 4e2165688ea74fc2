"""Read one split epoch by epoch, validating at the boundary (DESIGN.md §2).

``SplitReader(layout)`` opens the first epoch to learn the shapes, then
iterating it yields one :class:`EpochPredictions` at a time: never more than
one epoch's score array is alive. Every check on the data happens here, so the
core can trust its inputs: numeric dtypes, ranks, label range and format, row
counts, class/sample counts that stay the same, unique ids, the same id set at
every epoch, labels that do not change for a given id.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from predaudit.errors import InputError
from predaudit.io.discover import SplitLayout
from predaudit.io.readers import (
    BF16,
    ID_KEYS,
    LABEL_KEYS,
    SCORE_KEYS,
    Container,
    NpyContainer,
    describe_dtype,
    open_container,
    plural,
)

IGNORE_INDEX = -100
LABEL_FORMATS = ("index", "one_hot", "soft")


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
        (sorted sample ids); None when there are no ids.
    """

    epoch: int
    path: Path
    scores: np.ndarray
    scores_dtype: str
    labels: np.ndarray
    ids: np.ndarray | None
    order: np.ndarray | None


@dataclass(frozen=True)
class SplitInfo:
    """What a split holds, known before its scores are read."""

    name: str
    epochs: list[int]
    n_samples: int
    n_classes: int
    binary: bool
    dtype: str
    label_format: str
    has_ids: bool
    files: list[Path]
    pattern: str


def _is_numeric(dtype_name: str) -> bool:
    if dtype_name == BF16:
        return True
    try:
        dt = np.dtype(dtype_name)
    except TypeError:
        return False
    return dt.kind in "fiu"


def _find_key(c: Container, keys: tuple[str, ...], what: str) -> str | None:
    found = [k for k in c.keys() if k in keys]
    if len(found) > 1:
        raise InputError(c.path, f"holds several {what} arrays ({', '.join(found)}); keep one")
    return found[0] if found else None


def _scores_key(c: Container) -> str:
    if isinstance(c, NpyContainer):
        return c.keys()[0]
    key = _find_key(c, SCORE_KEYS, "score")
    if key is None:
        raise InputError(
            c.path,
            f"holds no scores: none of the keys {', '.join(SCORE_KEYS)} "
            f"(found: {', '.join(c.keys()) or 'nothing'})",
        )
    return key


def _as_labels(raw: np.ndarray, path: Path, n_classes: int) -> tuple[np.ndarray, str]:
    """Validate labels; return them (int64 indices or float64 targets) and their format."""
    dtype = raw.dtype
    if dtype.kind not in "fiub":
        raise InputError(
            path, f"labels have the unsupported dtype {describe_dtype(dtype)}; expected integers"
        )
    arr = np.asarray(raw)
    if arr.ndim == 1:
        as_float = arr.astype(np.float64)
        if not np.all(np.isfinite(as_float)):
            raise InputError(path, "labels contain NaN or infinite values")
        if np.any(as_float != np.round(as_float)):
            raise InputError(path, "labels are not integers (class indices expected)")
        labels = as_float.astype(np.int64)
        bad = (labels != IGNORE_INDEX) & ((labels < 0) | (labels >= n_classes))
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            n_bad = int(bad.sum())
            raise InputError(
                path,
                f"{plural(n_bad, 'label')} {'is' if n_bad == 1 else 'are'} outside "
                f"[0, {n_classes}) (e.g. {labels[first]} at row {first}); "
                "only -100 may mark an ignored sample",
            )
        return labels, "index"
    if arr.ndim == 2:
        targets = arr.astype(np.float64)
        if targets.shape[1] != n_classes:
            raise InputError(
                path, f"labels have {targets.shape[1]} columns but scores have {n_classes} classes"
            )
        if not np.all(np.isfinite(targets)) or np.any(targets < 0):
            raise InputError(path, "label rows must be non-negative probabilities")
        sums = targets.sum(axis=1)
        if np.any(np.abs(sums - 1.0) > 1e-3):
            row = int(np.flatnonzero(np.abs(sums - 1.0) > 1e-3)[0])
            raise InputError(
                path, f"label row {row} sums to {sums[row]:.4g}; one-hot or soft rows must sum to 1"
            )
        one_hot = bool(np.all((targets == 0) | (targets == 1)))
        return targets, "one_hot" if one_hot else "soft"
    raise InputError(path, f"labels have rank {arr.ndim}; expected [N] or [N, C]")


def _check_ids(ids: np.ndarray, path: Path, n: int) -> np.ndarray:
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise InputError(path, f"sample ids have rank {ids.ndim}; expected [N]")
    if ids.shape[0] != n:
        raise InputError(path, f"sample ids has {ids.shape[0]} rows but scores have {n}")
    if ids.dtype.kind not in "iuU" and ids.dtype.kind != "f":
        raise InputError(path, f"sample ids have the unsupported dtype {ids.dtype}")
    uniq, counts = np.unique(ids, return_counts=True)
    if uniq.shape[0] != n:
        dup = uniq[counts > 1]
        n_dup = int((counts - 1).sum())
        raise InputError(
            path,
            f"sample ids have {plural(n_dup, 'duplicated value')} (e.g. {_show(dup[0])}); "
            "each sample needs its own id",
        )
    return ids


class SplitReader:
    """Iterate one split's epochs; ``info`` describes it before any scores are read.

    After a full iteration ``aligned`` tells whether the epochs hold the same
    samples in the same order (always True with ids: a mismatch is an error).
    """

    def __init__(self, layout: SplitLayout) -> None:
        self.layout = layout
        self.aligned = True
        self._stacked: Container | None = None
        self._stacked_key = ""
        self._stacked_epochs = 1
        self._stacked_labels_per_epoch = False
        self._stacked_single_epoch = False  # scores [N, C] or [N]: one epoch, no epoch axis
        self._info = self._probe()

    @property
    def info(self) -> SplitInfo:
        return self._info

    # -- probing -------------------------------------------------------------------------

    def _split_level(
        self, path: Path | None, keys: tuple[str, ...]
    ) -> tuple[np.ndarray, Path] | None:
        if path is None:
            return None
        c = open_container(path)
        key = c.keys()[0] if isinstance(c, NpyContainer) else _find_key(c, keys, "matching")
        if key is None:
            raise InputError(path, f"holds none of the keys {', '.join(keys)}")
        if not _is_numeric(c.dtype_name(key)) and keys is LABEL_KEYS:
            raise InputError(
                path,
                f"labels have the unsupported dtype {describe_dtype(c.dtype_name(key))}; "
                "expected integers",
            )
        return np.asarray(c.read(key)), path

    def _probe(self) -> SplitInfo:
        lay = self.layout
        labels_raw = self._split_level(lay.labels_file, LABEL_KEYS)
        ids_raw = self._split_level(lay.ids_file, ID_KEYS)
        if lay.stacked is not None:
            c = open_container(lay.stacked)
            key = _scores_key(c)
            shape = c.shape(key)
            dtype = c.dtype_name(key)
            self._check_scores_dtype(lay.stacked, key, dtype, shape)
            if labels_raw is None:
                lkey = _find_key(c, LABEL_KEYS, "label")
                if lkey is None:
                    raise InputError(
                        lay.stacked, "has scores but no labels (save labels.npy beside it)"
                    )
                labels_raw = (np.asarray(c.read(lkey)), lay.stacked)
            if ids_raw is None and not isinstance(c, NpyContainer):
                ikey = _find_key(c, ID_KEYS, "id")
                if ikey is not None:
                    ids_raw = (np.asarray(c.read(ikey)), lay.stacked)
            n_epochs, n, n_classes, binary = self._stacked_shape(shape, labels_raw, lay.stacked)
            self._stacked, self._stacked_key, self._stacked_epochs = c, key, n_epochs
            epochs = list(range(1, n_epochs + 1))
        else:
            epochs = [e for e, _ in lay.epoch_files]
            first_path = lay.epoch_files[0][1]
            c = open_container(first_path)
            key = _scores_key(c)
            shape = c.shape(key)
            dtype = c.dtype_name(key)
            self._check_scores_dtype(first_path, key, dtype, shape)
            if len(shape) > 2 and not (len(shape) == 3 and shape[0] == 1):
                raise InputError(
                    first_path, f"per-epoch scores have shape {shape}; expected [N, C] or [N]"
                )
            n = shape[-2] if len(shape) >= 2 else shape[0]
            if len(shape) == 3:
                n = shape[1]
            n_classes = shape[-1] if len(shape) >= 2 else 1
            binary = n_classes == 1
            if binary:
                n_classes = 2
            c.close()
        self._split_labels = labels_raw
        self._split_ids = ids_raw
        has_ids = ids_raw is not None or self._epoch_has_ids()
        label_format = "index"
        if (
            labels_raw is not None
            and labels_raw[0].ndim == 2
            and not self._stacked_labels_per_epoch
        ):
            label_format = _as_labels(labels_raw[0], labels_raw[1], n_classes)[1]
        elif labels_raw is None:
            label_format = self._first_epoch_label_format(n_classes)
        return SplitInfo(
            name=lay.name,
            epochs=epochs,
            n_samples=n,
            n_classes=n_classes,
            binary=binary,
            dtype=dtype,
            label_format=label_format,
            has_ids=has_ids,
            files=lay.files,
            pattern=lay.pattern,
        )

    def _epoch_has_ids(self) -> bool:
        lay = self.layout
        if lay.epoch_ids:
            return True
        if lay.stacked is not None or not lay.epoch_files:
            return False
        c = open_container(lay.epoch_files[0][1])
        try:
            return _find_key(c, ID_KEYS, "id") is not None
        finally:
            c.close()

    def _first_epoch_label_format(self, n_classes: int) -> str:
        lay = self.layout
        if lay.stacked is not None or not lay.epoch_files:
            return "index"
        epoch, path = lay.epoch_files[0]
        if epoch in lay.epoch_labels:
            raw = np.asarray(open_container(lay.epoch_labels[epoch]).read("labels"))
            return _as_labels(raw, lay.epoch_labels[epoch], n_classes)[1]
        c = open_container(path)
        try:
            lkey = _find_key(c, LABEL_KEYS, "label")
            if lkey is None:
                raise InputError(path, "has scores but no labels (and no labels file beside it)")
            return _as_labels(np.asarray(c.read(lkey)), path, n_classes)[1]
        finally:
            c.close()

    @staticmethod
    def _check_scores_dtype(path: Path, key: str, dtype: str, shape: tuple[int, ...]) -> None:
        if not _is_numeric(dtype):
            raise InputError(
                path,
                f"scores '{key}' have the unsupported dtype {describe_dtype(dtype)}; "
                "expected real numbers",
            )
        if len(shape) > 3:
            raise InputError(
                path,
                f"scores '{key}' have shape {tuple(shape)} (rank {len(shape)}); expected "
                "[epochs, samples, classes], [epochs, samples], [samples, classes] or [samples]",
            )
        if len(shape) == 0:
            raise InputError(path, f"scores '{key}' are a single number; expected an array")
        if 0 in shape:
            raise InputError(path, f"scores '{key}' are empty: shape {tuple(shape)}")

    def _stacked_shape(
        self, shape: tuple[int, ...], labels: tuple[np.ndarray, Path], path: Path
    ) -> tuple[int, int, int, bool]:
        lab, lpath = labels
        both = f"{lpath}, {path}" if lpath != path else str(path)
        if len(shape) == 3:
            e, n, c = shape
            binary = c == 1
            if lab.ndim == 2 and lab.shape == (e, n) and lab.shape != (n, c):
                self._stacked_labels_per_epoch = True
            elif lab.shape[0] != n:
                raise InputError(both, f"labels has {lab.shape[0]} rows but scores have {n}")
            return e, n, (2 if binary else c), binary
        if len(shape) == 1:
            if lab.shape[0] != shape[0]:
                raise InputError(both, f"labels has {lab.shape[0]} rows but scores have {shape[0]}")
            self._stacked_single_epoch = True
            return 1, shape[0], 2, True
        a, b = shape
        if lab.ndim == 2 and lab.shape == (a, b) and np.issubdtype(lab.dtype, np.integer):
            # per-epoch index labels [E, N] beside binary scores [E, N]
            self._stacked_labels_per_epoch = True
            return a, b, 2, True
        n = lab.shape[0]
        as_epochs, as_samples = b == n, a == n
        if as_epochs and as_samples:
            raise InputError(
                both,
                f"scores of shape ({a}, {b}) could be [epochs, samples] or [samples, classes]; "
                "save them as 3-D [epochs, samples, classes]",
            )
        if as_epochs:
            return a, b, 2, True
        if as_samples:
            self._stacked_single_epoch = True
            return 1, a, (2 if b == 1 else b), b == 1
        raise InputError(both, f"labels has {n} rows but scores have shape ({a}, {b})")

    # -- iteration -----------------------------------------------------------------------

    def __iter__(self) -> Iterator[EpochPredictions]:
        self.aligned = True
        ref_labels: np.ndarray | None = None
        ref_ids: np.ndarray | None = None
        ref_path: Path | None = None
        first_path: Path | None = None
        info = self._info
        for epoch, path, scores, dtype, labels_raw, lpath, ids_raw, ipath in self._raw_epochs():
            scores = self._shape_scores(scores, path, epoch, dtype)
            n = scores.shape[0]
            n_classes = 2 if scores.ndim == 1 else scores.shape[1]
            if first_path is None:
                first_path = path
            both = str(path) if path == first_path else f"{first_path}, {path}"
            if n_classes != info.n_classes:
                raise InputError(
                    both,
                    f"epoch {epoch} has {n_classes} classes but epoch {info.epochs[0]} "
                    f"has {info.n_classes}",
                )
            if n != info.n_samples:
                raise InputError(
                    both,
                    f"epoch {epoch} has {n} samples but epoch {info.epochs[0]} "
                    f"has {info.n_samples}",
                )
            if labels_raw.shape[0] != n:
                both = str(path) if lpath == path else f"{lpath}, {path}"
                raise InputError(both, f"labels has {labels_raw.shape[0]} rows but scores have {n}")
            labels, fmt = _as_labels(labels_raw, lpath, info.n_classes)
            if fmt != info.label_format and not ({fmt, info.label_format} <= {"one_hot", "soft"}):
                raise InputError(
                    lpath, f"labels are {fmt} at epoch {epoch} but {info.label_format} before"
                )
            if labels.ndim == 1 and np.all(labels == IGNORE_INDEX):
                raise InputError(lpath, f"every sample is ignored (label -100) at epoch {epoch}")
            order = None
            if ids_raw is not None:
                ids = _check_ids(ids_raw, ipath, n)
                order = np.argsort(ids, kind="stable")
                sorted_ids = ids[order]
                canon = labels[order]
                if ref_ids is None:
                    ref_ids, ref_labels, ref_path = sorted_ids, canon, ipath
                else:
                    if not np.array_equal(sorted_ids, ref_ids):
                        missing = np.setdiff1d(ref_ids, sorted_ids)
                        extra = np.setdiff1d(sorted_ids, ref_ids)
                        detail = "; ".join(
                            f"{vals.size} {what}, e.g. {_show(vals[0])}"
                            for what, vals in (("missing", missing), ("new", extra))
                            if vals.size
                        )
                        raise InputError(
                            f"{ref_path}, {ipath}",
                            f"the sample ids differ between epochs {info.epochs[0]} and {epoch} "
                            f"({detail})",
                        )
                    if not np.array_equal(canon, ref_labels):
                        changed = _n_changed(canon, ref_labels)
                        sample = ref_ids[_first_changed(canon, ref_labels)]
                        raise InputError(
                            f"{ref_path}, {lpath}",
                            f"{plural(changed, 'sample')} "
                            f"{'changes' if changed == 1 else 'change'} label between epochs "
                            f"{info.epochs[0]} and {epoch} (e.g. id {_show(sample)})",
                        )
            else:
                if info.has_ids:
                    raise InputError(path, f"epoch {epoch} has no sample ids but others do")
                ids = None
                if ref_labels is None:
                    ref_labels = labels
                elif self.aligned and not np.array_equal(labels, ref_labels):
                    self.aligned = False
            yield EpochPredictions(
                epoch=epoch,
                path=path,
                scores=scores,
                scores_dtype=dtype,
                labels=labels,
                ids=ids,
                order=order,
            )
            del scores

    def _shape_scores(self, scores: np.ndarray, path: Path, epoch: int, dtype: str) -> np.ndarray:
        self._check_scores_dtype(path, "scores", dtype, scores.shape)
        if scores.ndim == 2 and scores.shape[1] == 1:
            scores = scores[:, 0]
        if scores.ndim == 3 and scores.shape[0] == 1:
            scores = scores[0]
        if scores.ndim not in (1, 2):
            raise InputError(path, f"epoch {epoch} scores have shape {scores.shape}")
        return scores

    def _raw_epochs(
        self,
    ) -> Iterator[tuple[int, Path, np.ndarray, str, np.ndarray, Path, np.ndarray | None, Path]]:
        lay = self.layout
        split_labels = self._split_labels
        split_ids = self._split_ids
        if lay.stacked is not None:
            c = self._stacked
            assert c is not None and split_labels is not None
            dtype = c.dtype_name(self._stacked_key)
            lab, lpath = split_labels
            ids, ipath = split_ids if split_ids is not None else (None, lay.stacked)
            if self._stacked_single_epoch:
                yield 1, lay.stacked, c.read(self._stacked_key), dtype, lab, lpath, ids, ipath
                return
            # No enumerate(): its cached result tuple would keep the previous epoch's map
            # alive while the next one is made.
            i = 0
            for rows in c.iter_rows(self._stacked_key):
                epoch_labels = lab[i] if self._stacked_labels_per_epoch else lab
                yield i + 1, lay.stacked, rows, dtype, epoch_labels, lpath, ids, ipath
                del rows  # release this epoch's map before the next one is made
                i += 1
            return
        for epoch, path in lay.epoch_files:
            c = open_container(path)
            try:
                key = _scores_key(c)
                dtype = c.dtype_name(key)
                self._check_scores_dtype(path, key, dtype, c.shape(key))
                scores = c.read(key)
                if epoch in lay.epoch_labels:
                    lpath = lay.epoch_labels[epoch]
                    lab = np.asarray(open_container(lpath).read("labels"))
                else:
                    lkey = _find_key(c, LABEL_KEYS, "label")
                    if lkey is not None:
                        lab, lpath = np.asarray(c.read(lkey)), path
                    elif split_labels is not None:
                        lab, lpath = split_labels
                    else:
                        raise InputError(path, "has scores but no labels (and no labels file)")
                ids: np.ndarray | None
                if epoch in lay.epoch_ids:
                    ipath = lay.epoch_ids[epoch]
                    ids = np.asarray(open_container(ipath).read("ids"))
                else:
                    ikey = _find_key(c, ID_KEYS, "id")
                    if ikey is not None:
                        ids, ipath = np.asarray(c.read(ikey)), path
                    elif split_ids is not None:
                        ids, ipath = split_ids
                    else:
                        ids, ipath = None, path
                yield epoch, path, scores, dtype, lab, lpath, ids, ipath
                del scores
            finally:
                c.close()


def _show(value: object) -> str:
    """A numpy scalar as a user wrote it: ``12`` or ``'a12'``, not ``np.int64(12)``."""
    item = value.item() if isinstance(value, np.generic) else value
    return repr(item)


def _n_changed(a: np.ndarray, b: np.ndarray) -> int:
    diff = a != b
    return int(diff.any(axis=1).sum()) if diff.ndim == 2 else int(diff.sum())


def _first_changed(a: np.ndarray, b: np.ndarray) -> int:
    diff = a != b
    if diff.ndim == 2:
        diff = diff.any(axis=1)
    return int(np.flatnonzero(diff)[0])
