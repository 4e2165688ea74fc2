"""One recorded epoch to one file: ids sorted, padding duplicates dropped, written atomically.

:func:`take` and :func:`prepare_epoch` run in the training loop's thread; the
:class:`EpochWrite` they make is written by :func:`write_checked` there, or with
``Recorder(background=True)`` in the writer process or thread
(:mod:`predaudit.record.background`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from predaudit.errors import InputError
from predaudit.io.discover import parse_name
from predaudit.io.naming import META_KEY, SUFFIXES
from predaudit.record.buffer import Batches, concat, join_into, planned, runs
from predaudit.record.npzwrite import CHUNK_BYTES, Member, write_npz

FORMAT = "predaudit.recorder/1"
_JSON = json.JSONEncoder(sort_keys=True)  # what json.dumps(..., sort_keys=True) makes per call


Places = Callable[[list[tuple[np.dtype, tuple[int, ...]]]], list[np.ndarray]]
"""Where :func:`take` puts an epoch's columns: given their (dtype, shape), arrays to fill."""


def take(
    batches: Batches, *, copy: bool, into: Places | None = None
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """The epoch's scores (in runs of at most ``CHUNK_BYTES``), labels and ids (numbered
    0, 1, … when none were given) as numpy arrays; ``batches`` is emptied as they are
    made, so the scores are never held twice. With ``copy``, nothing returned shares
    memory with a caller's tensor (for a write in another thread). With ``into``, the
    columns are copied straight into the arrays it gives (the writer process's shared
    memory), the scores as one run.

    Raises :class:`~predaudit.InputError` if a tensor kept without a copy was changed in
    place after ``add()``.
    """
    n = batches.n
    scores_in, labels_in, ids_in = batches.columns()  # error: a batch changed in place
    if into is not None:
        return _take_into(n, scores_in, labels_in, ids_in, into)
    labels = concat(labels_in, copy=copy)
    ids = concat(ids_in, copy=copy) if ids_in else np.arange(n, dtype=np.int64)
    ids_in.clear()
    scores = runs(scores_in, CHUNK_BYTES, copy=copy)  # empties scores_in as it goes
    return scores, labels, ids


def _take_into(
    n: int, scores: list[Any], labels: list[Any], ids: list[Any], into: Places
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    columns = [scores, labels] + ([ids] if ids else [])
    plans = [planned(c, n) for c in columns]
    specs = [(dtype, shape) for dtype, shape, _ in plans]
    if not ids:
        specs.append((np.dtype(np.int64), (n,)))
    dest = into(specs)
    for (_, _, source), column, d in zip(plans, columns, dest, strict=False):
        join_into(source, d)
        column.clear()
    if len(columns) == 2:
        dest[2][:] = np.arange(n, dtype=np.int64)
    return [dest[0]], dest[1], dest[2]


_DTYPE_NAMES: dict[np.dtype, str] = {}


def _dtype_name(dtype: np.dtype) -> str:
    """``dtype.name``, remembered (numpy computes it in Python each time)."""
    name = _DTYPE_NAMES.get(dtype)
    if name is None:
        name = _DTYPE_NAMES[dtype] = dtype.name
    return name


def prepare_epoch(
    path: Path,
    epoch_arrays: tuple[list[np.ndarray], np.ndarray, np.ndarray],
    meta: dict[str, Any],
    *,
    compress: bool,
    fsync: bool,
) -> EpochWrite:
    """Sort the arrays :func:`take` made by id and lay out the file; return the
    :class:`EpochWrite` that writes it as ``path``.

    ``meta`` (the file's ``__meta__``) holds at least ``epoch`` and ``kind`` (and ``rank``
    for a shard); ``saved_dtype`` and ``n_samples`` are added. A duplicate id is raised
    here. Sorted runs are written one after the other; otherwise the scores are joined
    once and gathered in sorted order: here when the epoch is at most ``CHUNK_BYTES``,
    else by the job, piece by piece. An uncompressed file in id order is then only its
    CRCs, a few headers and system calls (the CRCs and the system calls release the
    interpreter lock: the writer thread of ``Recorder(background=True)`` hardly competes
    with the loop).
    """
    kind, epoch, rank = meta["kind"], meta["epoch"], meta.get("rank")
    scores, labels, ids = epoch_arrays
    n = labels.shape[0]
    order: np.ndarray | None = None
    member: Member = scores
    if n > 1 and not (ids[1:] > ids[:-1]).all():
        joined = concat(scores)
        scores = [joined[:0]]  # the runs are released; joined holds the rows
        member = joined
        order = np.argsort(ids, kind="stable")
        order = _drop_duplicates(path, epoch, order, joined, labels, ids, rank)
        if joined.nbytes <= CHUNK_BYTES:  # gathered now: twice a small epoch, briefly
            member, labels, ids, order = joined[order], labels[order], ids[order], None
    meta = {
        **meta,
        "saved_dtype": _dtype_name(scores[0].dtype),
        "n_samples": int(labels.shape[0] if order is None else order.shape[0]),
    }
    arrays: list[tuple[str, Member]] = [(kind, member), ("labels", labels), ("ids", ids)]
    return EpochWrite(path, arrays, _JSON.encode(meta), order, compress, fsync)


@dataclass
class EpochWrite:
    """One epoch's file as :func:`prepare_epoch` laid it out; calling it writes the file
    (rows of ``arrays`` in ``order`` when given, then ``meta``, the ``__meta__`` member's
    JSON text) and returns the folder's mtime (ns) after."""

    path: Path
    arrays: list[tuple[str, Member]]
    meta: str
    order: np.ndarray | None
    compress: bool
    fsync: bool
    date_time: tuple[int, ...] | None = None  # the zip timestamp; None: the time of writing

    def __call__(self) -> int:
        write_npz(
            self.path,
            [*self.arrays, (META_KEY, np.array(self.meta))],
            order=self.order,
            compress=self.compress,
            unordered=(META_KEY,),
            fsync=self.fsync,
            date_time=self.date_time,
        )
        return os.stat(os.path.dirname(self.path)).st_mtime_ns


@dataclass
class EpochJob:
    """What ``Recorder.end_epoch`` hands to a writer: the arrays :func:`take` made, the
    file's ``__meta__`` so far, and where and how the file is written. :meth:`run` is
    the whole job, in the loop's thread or a background writer."""

    path: Path
    arrays: tuple[list[np.ndarray], np.ndarray, np.ndarray]
    meta: dict[str, Any]
    epoch: int
    rank: int | None
    split: str
    overwrite: bool
    compress: bool
    fsync: bool
    date_time: tuple[int, ...] | None = None  # the zip timestamp; None: the time of writing

    def run(self, files: EpochFiles) -> None:
        """Sort by id (:func:`prepare_epoch`: a duplicate id is raised), then
        :func:`write_checked`."""
        write = prepare_epoch(
            self.path, self.arrays, self.meta, compress=self.compress, fsync=self.fsync
        )
        write.date_time = self.date_time
        write_checked(files, write, self.epoch, self.rank, self.split, self.overwrite)


class EpochExistsError(InputError, FileExistsError):
    """The epoch was already recorded (pass ``overwrite=True`` to replace it)."""


EpochExistsError.__module__ = "predaudit.record"  # where it is public


def exists_error(taken: Path, path: Path, epoch: int, split: str) -> EpochExistsError:
    hint = "; pass overwrite=True to replace it" if taken == path else ""
    return EpochExistsError(taken, f"epoch {epoch} of split '{split}' exists{hint}")


def write_checked(
    files: EpochFiles, write: EpochWrite, epoch: int, rank: int | None, split: str, overwrite: bool
) -> None:
    """Look on the disk for a file that holds ``epoch`` already (another writer's), then
    ``write`` it and note it in ``files``: the job of ``Recorder.end_epoch``."""
    taken = files.taken(epoch, write.path, rank, overwrite=overwrite)
    if taken is not None:
        raise exists_error(taken, write.path, epoch, split)
    files.written(write())
    files.add(epoch, write.path)


def _drop_duplicates(
    path: Path,
    epoch: int,
    order: np.ndarray,
    scores: np.ndarray,
    labels: np.ndarray,
    ids: np.ndarray,
    rank: int | None,
) -> np.ndarray:
    sorted_ids = ids[order]
    dup = np.flatnonzero(sorted_ids[1:] == sorted_ids[:-1]) + 1
    if dup.size == 0:
        return order
    from predaudit.io.shards import _same
    from predaudit.io.validate import _show

    for pos in dup:
        a, b = order[pos - 1], order[pos]
        padded = _same(scores[a], scores[b]) and _same(labels[a], labels[b])
        if rank is None or not padded:
            what = "twice" if rank is None else "twice with different values"
            raise InputError(
                path, f"sample id {_show(sorted_ids[pos])} was added {what} at epoch {epoch}"
            )
    keep = np.ones(order.shape[0], dtype=bool)
    keep[dup] = False
    return order[keep]


class EpochFiles:
    """A split folder's epoch files, scanned again only when someone else changed it (each
    name is parsed once: a scan of a folder of many epochs is one ``listdir``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._where = os.fspath(folder)
        self._files: dict[int, set[str]] | None = None  # epoch -> its files' names
        self._scanned = -1  # the folder's mtime (ns) when scanned or last written by us
        self._parsed: dict[str, tuple[int, int | None] | None] = {}  # name -> (epoch, rank)

    def _parse(self, name: str) -> tuple[int, int | None] | None:
        """(epoch, rank) of an epoch file's name, None for any other name (remembered)."""
        if name in self._parsed:
            return self._parsed[name]
        found = None
        if not name.startswith((".", "_")) and os.path.splitext(name)[1].lower() in SUFFIXES:
            named = parse_name(Path(name))
            if named.epoch is not None and named.prefix is None:
                found = named.epoch, named.rank
        self._parsed[name] = found
        return found

    def _epoch_files(self) -> dict[int, set[str]]:
        try:
            mtime = os.stat(self._where).st_mtime_ns
        except FileNotFoundError:  # the first epoch (or the folder was removed)
            self.folder.mkdir(parents=True, exist_ok=True)
            mtime = os.stat(self._where).st_mtime_ns
        if self._files is None or mtime != self._scanned:
            self._scanned = mtime
            self._files = {}
            for name in os.listdir(self._where):
                found = self._parse(name)
                if found is not None:
                    self._files.setdefault(found[0], set()).add(name)
        return self._files

    def taken(self, epoch: int, path: Path, rank: int | None, *, overwrite: bool) -> Path | None:
        """A file that already holds ``epoch`` (other than ``path`` with ``overwrite``, or
        another process's shard), if any: the folder scanned again if someone else changed
        it, and ``path`` looked for (also when the folder's mtime is too coarse to tell)."""
        known = self._epoch_files().setdefault(epoch, set())
        if os.path.exists(path):
            known.add(path.name)
        else:
            known.discard(path.name)
        where = self._where
        known.difference_update(
            [n for n in known if n != path.name and not os.path.exists(os.path.join(where, n))]
        )
        return self.known(epoch, path, rank, overwrite=overwrite)

    def known(self, epoch: int, path: Path, rank: int | None, *, overwrite: bool) -> Path | None:
        """:meth:`taken` from what was seen and written so far, without looking at the disk
        (None before the first look). ``path`` is in this folder."""
        if self._files is None:
            return None
        for name in sorted(self._files.get(epoch, ())):  # usually none
            if name == path.name and overwrite:
                continue
            found = self._parse(name)
            if rank is not None and found is not None and found[1] is not None:
                if found[1] != rank:
                    continue
            return self.folder / name
        return None

    def add(self, epoch: int, path: Path) -> None:
        """``path`` (in this folder) was written as ``epoch`` (noted before any scan too:
        :meth:`known` then knows it; the next :meth:`taken` scans the folder anyway)."""
        if self._files is None:
            self._files = {}
        self._files.setdefault(epoch, set()).add(path.name)

    def written(self, mtime: int) -> None:
        """The folder's mtime right after our write (a change by us: no new scan)."""
        self._scanned = mtime
