"""Read one split epoch by epoch, validating at the boundary (docs/design.md).

``SplitReader(layout)`` opens the first epoch to learn the shapes; iterating it yields
one :class:`EpochPredictions` at a time (one epoch's scores alive at most). Every check
on the data happens here (validators in :mod:`predaudit.io.validate`), so the core
trusts its inputs: dtypes, ranks, labels, row counts, unique ids, the same ids and labels
at every epoch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from predaudit.dtypes import describe_dtype
from predaudit.errors import InputError
from predaudit.io.align import EpochAligner
from predaudit.io.container import Container
from predaudit.io.discover import SplitLayout
from predaudit.io.formats import open_container
from predaudit.io.naming import ID_KEYS, LABEL_KEYS
from predaudit.io.npy import NpyContainer
from predaudit.io.records import EpochPredictions, SplitInfo
from predaudit.io.tokens import (
    expand_long_table,
    flatten_tokens,
    per_epoch_tokens,
    stacked_labels_per_epoch,
)
from predaudit.io.validate import (
    _as_labels,
    _find_key,
    _is_numeric,
    _no_labels,
    _scores_key,
    check_scores_dtype,
    refuse_square_one_hot,
)
from predaudit.report.vocab import LabelFormat


class SplitReader:
    """Iterate one split's epochs; ``info`` describes it before any scores are read.

    After a full iteration ``aligned`` tells whether the epochs hold the same
    samples in the same order (always True with ids: a mismatch is an error).
    """

    def __init__(self, layout: SplitLayout) -> None:
        self.layout = layout
        self._files, self._pattern = layout.files, layout.pattern
        self._aligner: EpochAligner | None = None
        self._tokens: int | None = None  # T of token-level scores [S, T, C]
        self._stacked: Container | None = None
        self._stacked_key = ""
        self._stacked_epochs = 1
        self._stacked_labels_per_epoch = False
        self._stacked_single_epoch = False  # scores [N, C] or [N]: one epoch, no epoch axis
        self._info = self._probe()

    def _open(self, path: Path) -> Container:
        """The in-memory container of ``from_arrays`` for ``path``, or the file's reader."""
        return self.layout.containers.get(path) or open_container(path)

    @property
    def info(self) -> SplitInfo:
        return self._info

    def _split_level(
        self, path: Path | None, keys: tuple[str, ...]
    ) -> tuple[np.ndarray, Path] | None:
        if path is None:
            return None
        c = self._open(path)
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
        self.layout = expand_long_table(self.layout, self._open)
        lay = self.layout
        labels_raw = self._split_level(lay.labels_file, LABEL_KEYS)
        ids_raw = self._split_level(lay.ids_file, ID_KEYS)
        if lay.stacked is not None:
            c = self._open(lay.stacked)
            key = _scores_key(c)
            shape = c.shape(key)
            dtype = c.dtype_name(key)
            check_scores_dtype(lay.stacked, key, dtype, shape)
            if labels_raw is None:
                lkey = _find_key(c, LABEL_KEYS, "label")
                if lkey is None:
                    raise InputError(lay.stacked, _no_labels(c))
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
            c = self._open(first_path)
            key = _scores_key(c)
            shape = c.shape(key)
            dtype = c.dtype_name(key)
            check_scores_dtype(first_path, key, dtype, shape)
            self._tokens = per_epoch_tokens(lay, self._open, shape, labels_raw)
            n = shape[-2] if len(shape) >= 2 else shape[0]
            if len(shape) == 3:
                n = shape[1] if self._tokens is None else shape[0] * shape[1]
            n_classes = shape[-1] if len(shape) >= 2 else 1
            binary = n_classes == 1
            if binary:
                n_classes = 2
            c.close()
        self._split_labels = labels_raw
        self._split_ids = ids_raw
        has_ids = ids_raw is not None or self._epoch_has_ids() or self._tokens is not None
        label_format: LabelFormat = "index"
        if (
            labels_raw is not None
            and labels_raw[0].ndim == 2
            and not self._stacked_labels_per_epoch
            and self._tokens is None
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
            files=self._files,
            pattern=self._pattern,
            epoch_unit=lay.epoch_unit,
            sample_unit="sample" if self._tokens is None else "token",
            tokens_per_sequence=self._tokens,
        )

    def _epoch_has_ids(self) -> bool:
        lay = self.layout
        if lay.epoch_ids:
            return True
        if lay.stacked is not None or not lay.epoch_files:
            return False
        c = self._open(lay.epoch_files[0][1])
        try:
            return _find_key(c, ID_KEYS, "id") is not None
        finally:
            c.close()

    def _first_epoch_label_format(self, n_classes: int) -> LabelFormat:
        lay = self.layout
        if lay.stacked is not None or not lay.epoch_files:
            return "index"
        epoch, path = lay.epoch_files[0]
        if epoch in lay.epoch_labels:
            raw = np.asarray(self._open(lay.epoch_labels[epoch]).read("labels"))
            if self._tokens is not None:
                raw = raw.reshape(-1)
            return _as_labels(raw, lay.epoch_labels[epoch], n_classes)[1]
        c = self._open(path)
        try:
            lkey = _find_key(c, LABEL_KEYS, "label")
            if lkey is None:
                raise InputError(path, _no_labels(c, "and no labels file beside it"))
            raw = np.asarray(c.read(lkey))
            if self._tokens is not None:
                raw = raw.reshape(-1)
            return _as_labels(raw, path, n_classes)[1]
        finally:
            c.close()

    def _stacked_shape(
        self, shape: tuple[int, ...], labels: tuple[np.ndarray, Path], path: Path
    ) -> tuple[int, int, int, bool]:
        lab, lpath = labels
        both = f"{lpath}, {path}" if lpath != path else str(path)
        if len(shape) == 3:
            e, n, c = shape
            binary = c == 1
            per_epoch_labels = stacked_labels_per_epoch(shape, lab.shape, self.layout.layout, both)
            if self.layout.layout == "tokens":
                self._tokens = n
                self._stacked_single_epoch = True
                return 1, e * n, (2 if binary else c), binary
            if per_epoch_labels:
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
            refuse_square_one_hot(lab, both)
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

    def __iter__(self) -> Iterator[EpochPredictions]:
        info = self._info
        check = EpochAligner(info)
        self._aligner = check
        first_path: Path | None = None
        for (
            epoch,
            path,
            scores,
            dtype,
            key,
            labels_raw,
            lpath,
            ids_raw,
            ipath,
        ) in self._raw_epochs():
            if self._tokens is not None:
                scores, labels_raw, ids_raw = flatten_tokens(scores, labels_raw, path, lpath)
                ipath = path
            scores = self._shape_scores(scores, path, epoch, dtype)
            n = scores.shape[0]
            n_classes = 2 if scores.ndim == 1 else scores.shape[1]
            if first_path is None:
                first_path = check.first_path = path
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
            labels = check.labels(labels_raw, lpath, epoch)
            ids, order = check.align(ids_raw, ipath, labels, lpath, path, epoch, n)
            yield EpochPredictions(
                epoch=epoch,
                path=path,
                scores=scores,
                scores_dtype=dtype,
                labels=labels,
                ids=ids,
                order=order,
                scores_key=key,
            )
            del scores

    @property
    def aligned(self) -> bool:
        """After a full iteration: whether the epochs hold the same samples in the same order
        (always True with ids: a mismatch is an error)."""
        return self._aligner.aligned if self._aligner is not None else True

    def _shape_scores(self, scores: np.ndarray, path: Path, epoch: int, dtype: str) -> np.ndarray:
        check_scores_dtype(path, "scores", dtype, scores.shape)
        if scores.ndim == 2 and scores.shape[1] == 1:
            scores = scores[:, 0]
        if scores.ndim == 3 and scores.shape[0] == 1:
            scores = scores[0]
        if scores.ndim not in (1, 2):
            raise InputError(path, f"epoch {epoch} scores have shape {scores.shape}")
        return scores

    def _raw_epochs(
        self,
    ) -> Iterator[
        tuple[int, Path, np.ndarray, str, str, np.ndarray, Path, np.ndarray | None, Path]
    ]:
        """Per epoch: its label, file, scores, their dtype and key, labels, ids and files."""
        lay = self.layout
        split_labels = self._split_labels
        split_ids = self._split_ids
        if lay.stacked is not None:
            c = self._stacked
            assert c is not None and split_labels is not None
            key = self._stacked_key
            dtype = c.dtype_name(key)
            lab, lpath = split_labels
            ids: np.ndarray | None
            ids, ipath = split_ids if split_ids is not None else (None, lay.stacked)
            if self._stacked_single_epoch:
                yield 1, lay.stacked, c.read(key), dtype, key, lab, lpath, ids, ipath
                return
            # No enumerate(): its cached result tuple would keep the previous epoch's map
            # alive while the next one is made.
            i = 0
            for rows in c.iter_rows(key):
                epoch_labels = lab[i] if self._stacked_labels_per_epoch else lab
                yield i + 1, lay.stacked, rows, dtype, key, epoch_labels, lpath, ids, ipath
                del rows  # release this epoch's map before the next one is made
                i += 1
            return
        for epoch, path in lay.epoch_files:
            c = self._open(path)
            try:
                key = _scores_key(c)
                dtype = c.dtype_name(key)
                check_scores_dtype(path, key, dtype, c.shape(key))
                scores = c.read(key)
                if epoch in lay.epoch_labels:
                    lpath = lay.epoch_labels[epoch]
                    lab = np.asarray(self._open(lpath).read("labels"))
                else:
                    lkey = _find_key(c, LABEL_KEYS, "label")
                    if lkey is not None:
                        lab, lpath = np.asarray(c.read(lkey)), path
                    elif split_labels is not None:
                        lab, lpath = split_labels
                    else:
                        raise InputError(path, _no_labels(c, "and no labels file beside it"))
                if epoch in lay.epoch_ids:
                    ipath = lay.epoch_ids[epoch]
                    ids = np.asarray(self._open(ipath).read("ids"))
                else:
                    ikey = _find_key(c, ID_KEYS, "id")
                    if ikey is not None:
                        ids, ipath = np.asarray(c.read(ikey)), path
                    elif split_ids is not None:
                        ids, ipath = split_ids
                    else:
                        ids, ipath = None, path
                yield epoch, path, scores, dtype, key, lab, lpath, ids, ipath
                del scores
            finally:
                c.close()
