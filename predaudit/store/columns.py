"""Per-sample columns of shape (n_epochs, n_rows), written an epoch at a time.

The store of a large split does not live in the process's memory: each column is
written epoch by epoch (``os.pwrite``, so the written pages are the kernel's page
cache, not this process's) into one unlinked temporary file, and read back through
a read-only memory map. Analyses index one epoch at a time (``stats.loss[i]``), so
only the epochs they look at are ever mapped in; :func:`release` gives the pages of a
column back after a pass over every epoch. Small splits (under :data:`IN_MEMORY_BYTES`)
stay in ordinary arrays.

Compact dtypes: the loss stays float64 (every mean is taken from it); the true-class
probability, the confidence and the margin are float32 when the scores were 32 bits or
fewer (float32/float16/bfloat16: their float64 values carry no more information than
float32 rounding, 6e-8 relative); class indices are int32.

A command that reads the columns of only a few epochs, chosen from the per-epoch totals
(``analyze`` without the cache: the two compared epochs), passes :class:`KeepEpochs`:
then only those epochs' rows are kept, in memory, and nothing is written for the others
(:class:`KeptRows`; reading another epoch is an error, never a value).
"""

from __future__ import annotations

import contextlib
import dataclasses
import mmap
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, cast

import numpy as np

IN_MEMORY_BYTES = 64 * 1024 * 1024
"""Splits whose columns take fewer bytes than this stay in memory."""

_ALIGN = 4096


def column_dtypes(score_dtype: str, *, calibration: bool) -> dict[str, np.dtype]:
    """The dtype of each column of a split whose scores had ``score_dtype``."""
    real = np.dtype(np.float64 if score_dtype in ("float64", "int64", "uint64") else np.float32)
    out = {
        "loss": np.dtype(np.float64),
        "p_true": real,
        "confidence": real,
        "margin": real,
        "pred": np.dtype(np.int32),
        "labels": np.dtype(np.int32),
        "correct": np.dtype(np.bool_),
        "valid": np.dtype(np.bool_),
    }
    if calibration:
        out["loss_at_t"] = np.dtype(np.float64)
        out["brier"] = np.dtype(np.float64)
    return out


class ColumnWriter:
    """Columns of shape (n_epochs, n_rows), filled one epoch row at a time.

    ``spill``: write them to a temporary file and map it (True), keep them in memory
    (False), or decide by size (None: spill at :data:`IN_MEMORY_BYTES` and above).
    ``folder``: where the temporary file is made (it is unlinked at once, so nothing is
    left behind even on a crash); the system's temporary folder when None.
    """

    def __init__(
        self,
        n_epochs: int,
        n_rows: int,
        dtypes: dict[str, np.dtype],
        *,
        spill: bool | None = None,
        folder: Path | None = None,
        keep: _KeepPlan | None = None,
    ) -> None:
        self.shape = (n_epochs, n_rows)
        self.dtypes = dtypes
        self._plan = keep
        self._kept: dict[int, dict[str, np.ndarray]] = {}
        self._free: list[dict[str, np.ndarray]] = []
        nbytes = {k: n_epochs * n_rows * d.itemsize for k, d in dtypes.items()}
        if keep is not None:
            spill = False
            dtypes = {}
        if spill is None:
            spill = sum(nbytes.values()) >= IN_MEMORY_BYTES
        self._fh: IO[bytes] | None = None
        self._arrays: dict[str, np.ndarray] = {}
        self._offsets: dict[str, int] = {}
        if not spill:
            self._arrays = {k: np.empty(self.shape, dtype=d) for k, d in dtypes.items()}
            return
        off = 0
        for k in dtypes:
            self._offsets[k] = off
            off += -(-nbytes[k] // _ALIGN) * _ALIGN
        self._fh = _temporary(folder)
        self._size = off
        if off:
            os.ftruncate(self._fh.fileno(), off)

    @property
    def spilled(self) -> bool:
        return self._fh is not None

    def start_epoch(self, i: int, totals: np.ndarray) -> None:
        """Before epoch ``i``'s rows, with ``keep``: which epochs stay, from the per-epoch
        totals (``TOTALS``) of epochs ``0..i``; a no-op without ``keep``."""
        if self._plan is None:
            return
        wanted = self._plan.wanted(i, totals)
        for j in [j for j in self._kept if j not in wanted]:
            self._free.append(self._kept.pop(j))
        if i in wanted:
            self._kept[i] = self._free.pop() if self._free else {}

    def write(self, i: int, name: str, values: np.ndarray) -> None:
        """Epoch row ``i`` of column ``name`` (shape (n_rows,), cast to the column's dtype)."""
        if self._plan is not None:
            slot = self._kept.get(i)
            if slot is not None:
                row, d = slot.get(name), self.dtypes[name]
                if row is None or row.dtype != d:
                    slot[name] = np.array(values, dtype=d)
                else:
                    np.copyto(row, values, casting="unsafe")
            return
        if self._fh is None:
            self._arrays[name][i] = values
            return
        row = np.ascontiguousarray(values, dtype=self.dtypes[name])
        if row.shape != self.shape[1:]:
            raise ValueError(f"{name}: row of shape {row.shape}, expected {self.shape[1:]}")
        view = row.data.cast("B")
        pos = self._offsets[name] + i * row.nbytes
        fd = self._fh.fileno()
        while view:
            done = os.pwrite(fd, view, pos)
            view, pos = view[done:], pos + done

    def finish(self) -> dict[str, np.ndarray]:
        """The columns: arrays, or read-only maps of the temporary file (kept open by them);
        with ``keep``, :class:`KeptRows` (typed as arrays: they are indexed by epoch)."""
        if self._plan is not None:
            return {
                k: cast("np.ndarray", KeptRows(self.shape, d, self._kept, k))
                for k, d in self.dtypes.items()
            }
        if self._fh is None:
            return self._arrays
        out: dict[str, np.ndarray] = {}
        if not self._size:
            return {k: np.empty(self.shape, dtype=d) for k, d in self.dtypes.items()}
        with self._fh:
            mm = mmap.mmap(self._fh.fileno(), self._size, prot=mmap.PROT_READ)
        for k, d in self.dtypes.items():
            n = self.shape[0] * self.shape[1]
            flat = np.frombuffer(mm, dtype=d, count=n, offset=self._offsets[k])
            out[k] = flat.reshape(self.shape)
        self._fh = None
        return out

    def close(self) -> None:
        """Drop the temporary file without mapping it (on an error while filling)."""
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self._fh.close()
            self._fh = None


class KeepEpochs:
    """The epochs whose columns ``analyze`` reads: those ``--from``/``--to`` resolve to.

    ``start``/``end`` as the command takes them (None, ``first``, ``best``, ``last`` or an
    epoch label). Kept: the first and the last epoch, the given labels, and the epoch of
    lowest mean loss up to ``end`` (``best``, and the default ``from``), followed as the
    epochs' totals arrive: the same ``argmin`` over the same means as
    :func:`predaudit.analysis.epochs.best_epoch`.
    """

    def __init__(self, start: str | int | None = None, end: str | int | None = None) -> None:
        self.start, self.end = start, end

    def bind(self, epochs: list[int]) -> _KeepPlan:
        """The plan over a split's epoch labels (an unknown label keeps nothing more: the
        command reports it before reading any column)."""
        last = len(epochs) - 1
        fixed = {0, last}
        upto = last
        for spec in (self.end, self.start):
            word = spec.strip().lower() if isinstance(spec, str) else spec
            if word in (None, "first", "last", "best"):
                continue
            try:
                at = epochs.index(int(word))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                continue
            fixed.add(at)
            if spec is self.end:
                upto = at
        return _KeepPlan(frozenset(fixed), upto)


@dataclasses.dataclass(frozen=True)
class _KeepPlan:
    fixed: frozenset[int]
    best_upto: int

    def wanted(self, i: int, totals: np.ndarray) -> set[int]:
        """Epochs to keep once epoch ``i``'s totals are known (``totals[: i + 1]``)."""
        t = totals[: min(i, self.best_upto) + 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            best = int(np.argmin(t[:, 2] / t[:, 0]))  # mean_loss, as best_epoch takes it
        return set(self.fixed) | {best}


class NotKept(LookupError):
    """An epoch whose columns were not kept was read (a bug: the command said which)."""


class KeptRows:
    """Column ``name`` of shape (n_epochs, n_rows) of which only some epochs' rows exist.

    ``col[i]`` is epoch row ``i`` (read-only) for a kept epoch; any other index raises
    :class:`NotKept`, so a missing epoch is never read as a value.
    """

    ndim = 2

    def __init__(
        self, shape: tuple[int, int], dtype: np.dtype, kept: dict[int, dict[str, np.ndarray]],
        name: str,
    ) -> None:  # fmt: skip
        self.shape, self.dtype, self.name = shape, dtype, name
        self._rows = {i: slot[name] for i, slot in kept.items() if name in slot}
        for row in self._rows.values():
            row.flags.writeable = False

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index: object) -> np.ndarray:
        if isinstance(index, int | np.integer):
            i = int(index) + (self.shape[0] if index < 0 else 0)
            if i in self._rows:
                return self._rows[i]
        raise NotKept(f"column {self.name}: epoch index {index!r} was not kept")


class ConstantRows:
    """The labels column (and the ``valid`` mask derived from it), written only if it changes.

    Labels are almost always the same at every epoch; then nothing is written and
    :meth:`finish` gives both columns as read-only broadcasts of the first epoch's row
    (no memory per epoch). At the first epoch whose labels differ, the rows so far are
    written out and every later one too.
    """

    def __init__(
        self,
        columns: ColumnWriter,
        labels: str,
        valid: str,
        *,
        valid_of: Callable[[np.ndarray], np.ndarray],
    ) -> None:
        self._columns, self._labels, self._valid, self._valid_of = columns, labels, valid, valid_of
        self._first: np.ndarray | None = None
        self._seen: np.ndarray | None = None  # the row object last found equal to the first
        self._n = 0
        self._same = True

    def write(self, i: int, row: np.ndarray) -> None:
        """Epoch row ``i`` (in order 0, 1, ...) of the labels (a read-only row: the same
        object as before is not compared again)."""
        if self._first is None:
            self._first = np.array(row, dtype=self._columns.dtypes[self._labels])
            self._seen = row
        elif self._same and row is not self._seen and not np.array_equal(row, self._first):
            self._same = False
            for j in range(i):
                self._put(j, self._first)
        elif self._same:
            self._seen = row
        if not self._same:
            self._put(i, row)
        self._n = i + 1

    def _put(self, i: int, row: np.ndarray) -> None:
        self._columns.write(i, self._labels, row)
        self._columns.write(i, self._valid, self._valid_of(row))

    def finish(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``arrays`` (from :meth:`ColumnWriter.finish`) with the two columns filled in."""
        if self._same and self._first is not None:
            shape = self._columns.shape
            arrays[self._labels] = np.broadcast_to(self._first, shape)
            arrays[self._valid] = np.broadcast_to(self._valid_of(self._first), shape)
        return arrays


def _temporary(folder: Path | None) -> IO[bytes]:
    if folder is not None:
        with contextlib.suppress(OSError):
            return tempfile.TemporaryFile(dir=folder)  # noqa: SIM115 - owned by the writer
    return tempfile.TemporaryFile()  # noqa: SIM115


def _mapping(a: np.ndarray) -> mmap.mmap | None:
    base: Any = a
    while base is not None:
        if isinstance(base, mmap.mmap):
            return base
        if isinstance(base, np.memmap) and getattr(base, "_mmap", None) is not None:
            return getattr(base, "_mmap")  # noqa: B009
        nxt = getattr(base, "base", None)
        if nxt is None and isinstance(base, memoryview):
            nxt = base.obj
        base = nxt
    return None


def release(*arrays: np.ndarray | None) -> None:
    """Give back the mapped pages of memory-mapped columns (their data stays in the file).

    Call after a pass over every epoch, so the process's resident memory does not grow
    with the number of epochs read. A no-op for ordinary arrays.
    """
    for a in arrays:
        if a is None:
            continue
        mm = _mapping(a)
        if mm is not None and hasattr(mm, "madvise") and not mm.closed:
            with contextlib.suppress(OSError, ValueError):
                mm.madvise(mmap.MADV_DONTNEED)
