"""Tables: ``.csv``, ``.parquet``, ``.feather``/``.arrow``, read with pyarrow (extra ``tables``).

*Wide form*: one row per sample; a label column (a label name of
:mod:`predaudit.io.naming`: ``label``, ``labels``, ``target``, ``y_true`` …), an
optional id column (``id``, ``sample_ids`` …) and score columns ``logit_K``,
``prob_K``, ``p_K`` or ``log_prob_K`` for K = 0..C−1. *Long form*: the same plus
an ``epoch`` (or ``step``) column, every epoch in one file. *Pre-reduced records*:
per-sample ``loss`` and ``correct`` (or ``pred`` and ``label``) instead of score
columns (see :mod:`predaudit.io.reduced`). Values are read as stored: float64
text stays float64. pyarrow is imported only when a table is read.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from predaudit.errors import InputError
from predaudit.io.container import Container, _short, check_budget, check_regular
from predaudit.io.naming import ID_KEYS, LABEL_KEYS
from predaudit.io.validate import not_numbers

SCORE_COLUMN = re.compile(r"^(logit|prob|p|log_prob)_(\d+)$")
"""``logit_0``, ``prob_3``, ``p_1``, ``log_prob_2``: one column per class."""
SCORE_KEY_OF = {"logit": "logits", "prob": "probs", "p": "probs", "log_prob": "log_probs"}
EPOCH_COLUMNS = {"epoch": "epoch", "step": "step"}
REDUCED_COLUMNS = ("loss", "correct", "pred", "p_true", "confidence", "margin")

_KIND = {".csv": "CSV", ".parquet": "Parquet", ".feather": "Feather", ".arrow": "Arrow"}


def _pyarrow(path: Path) -> Any:
    try:
        import pyarrow
    except ImportError:
        what = _KIND.get(path.suffix.lower(), "table")
        raise InputError(
            path,
            f"is a {what} file but pyarrow is not installed; pip install 'predaudit[tables]'",
        ) from None
    return pyarrow


def _check_declared(path: Path, rows: int, columns: int, extra: int = 0) -> None:
    """Refuse a table declaring more than the memory budget: ``rows × columns`` values of
    8 bytes (the widest number) or ``extra`` bytes (its uncompressed column data)."""
    check_budget(path, "", max(int(rows) * int(columns) * 8, int(extra)))


def _read_parquet(path: Path) -> Any:
    import pyarrow.parquet

    with pyarrow.parquet.ParquetFile(path) as f:
        meta = f.metadata
        # Row-group totals only: pyarrow aborts the process on column-chunk metadata
        # that does not match the schema, so the chunks are never visited here.
        uncompressed = sum(meta.row_group(g).total_byte_size for g in range(meta.num_row_groups))
        _check_declared(path, meta.num_rows, meta.num_columns, uncompressed)
        return f.read()


def _read_arrow(path: Path, pa: Any) -> Any:
    """An Arrow IPC file (``ARROW1`` at both ends: rows counted from its footer before any
    batch is read), a Feather version 1 file (``FEA1``) or an Arrow stream."""
    with open(path, "rb") as fp:
        magic = fp.read(6)
        fp.seek(max(check_regular(path).st_size - 6, 0))
        tail = fp.read(6)
    if magic == b"ARROW1" and tail != b"ARROW1":
        raise InputError(path, "is truncated: an Arrow file without the footer it ends with")
    if magic == b"ARROW1":
        with pa.ipc.open_file(path) as reader:
            _check_declared(path, reader.count_rows(), len(reader.schema))
            return reader.read_all()
    if magic[:4] == b"FEA1":
        import pyarrow.feather  # Feather version 1: not compressed, as large as its file

        check_budget(path, "", check_regular(path).st_size)
        return pyarrow.feather.read_table(path)
    with pa.ipc.open_stream(path) as reader:  # an Arrow stream: its batches counted as they come
        batches, rows = [], 0
        for batch in reader:
            rows += batch.num_rows
            _check_declared(path, rows, len(reader.schema))
            batches.append(batch)
        return pa.Table.from_batches(batches, schema=reader.schema)


def read_table(path: Path) -> Any:
    """The file as a ``pyarrow.Table``.

    Hardened like the other readers: a special file is refused by its type before it
    is opened; a CSV larger than the memory budget is refused, and a Parquet or Arrow
    file whose declared rows × columns (or uncompressed column bytes) exceed it is
    refused from its metadata, before any column is decoded; a truncated or damaged
    file is an :class:`InputError` naming it.
    """
    size = check_regular(path).st_size
    pa = _pyarrow(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            import pyarrow.csv

            check_budget(path, "", size)
            return pyarrow.csv.read_csv(path)
        if suffix == ".parquet":
            return _read_parquet(path)
        return _read_arrow(path, pa)
    except (OSError, UnicodeDecodeError, pa.ArrowException) as exc:  # names not UTF-8, too
        what = _KIND.get(suffix, "table")
        raise InputError(path, f"is not a valid {what} file ({_short(exc)})") from exc


def table_columns(path: Path) -> list[str] | None:
    """Column names from a table's header, or None when they cannot be read cheaply."""
    if path.suffix.lower() == ".csv":
        try:
            check_regular(path)
            with open(path, encoding="utf-8", newline="") as fp:
                import csv

                return next(csv.reader(fp), [])
        except (OSError, UnicodeDecodeError, StopIteration, InputError):
            return None
    return None


class TableContainer(Container):
    """A table as named arrays: ``logits``/``probs``/``log_probs`` [N, C], labels, ids.

    Pre-reduced records keep their column names (``epoch``, ``id``, ``loss`` …).
    """

    def __init__(self, path: Path, table: Any | None = None) -> None:
        self.path = path
        t = read_table(path) if table is None else table
        try:
            self._names = [str(n) for n in t.column_names]
        except UnicodeDecodeError:
            raise InputError(path, "has column names that are not UTF-8 text") from None
        twice = sorted({n for n in self._names if self._names.count(n) > 1})
        if twice:
            raise InputError(
                path, f"has two columns named '{twice[0]}'; refused, which one is meant is unclear"
            )
        self._table = t
        self._arrays: dict[str, np.ndarray] = {}
        matches = {n: SCORE_COLUMN.match(n) for n in self._names}
        score_cols = {n: m for n, m in matches.items() if m is not None}
        self.epoch_column = next((n for n in self._names if n in EPOCH_COLUMNS), None)
        self.reduced = not score_cols and "loss" in self._names
        if self.reduced:
            for n in self._names:
                self._arrays[n] = self._column(n)
            return
        if not score_cols:
            raise InputError(
                path,
                "holds no scores: no score columns logit_K, prob_K, p_K or log_prob_K "
                "(K = 0..C-1) and no loss column "
                f"(found: {', '.join(self._names) or 'nothing'})",
            )
        prefixes = sorted({m.group(1) for m in score_cols.values()})
        if len(prefixes) > 1:
            raise InputError(
                path,
                "mixes score columns " + " and ".join(f"{p}_K" for p in prefixes) + "; keep one",
            )
        prefix = prefixes[0]
        numbers = sorted(int(m.group(2)) for m in score_cols.values())
        missing = sorted(set(range(numbers[-1] + 1)) - set(numbers))
        if missing:
            raise InputError(
                path,
                f"has score columns {prefix}_0 … {prefix}_{numbers[-1]} but no "
                + ", ".join(f"{prefix}_{k}" for k in missing)
                + "; number them 0..C-1 without gaps",
            )
        cols = [self._column(f"{prefix}_{k}") for k in range(numbers[-1] + 1)]
        for k, col in enumerate(cols):
            if col.dtype.kind not in "fiu":
                held = not_numbers(col)
                raise InputError(path, f"column '{prefix}_{k}' holds {held}; expected numbers")
        self._arrays[SCORE_KEY_OF[prefix]] = np.column_stack(cols) if cols else np.empty((0, 0))
        for n in self._names:
            if n in LABEL_KEYS or n in ID_KEYS or n == self.epoch_column:
                self._arrays[n] = self._column(n)

    def _column(self, name: str) -> np.ndarray:
        col = self._table.column(name)
        if col.null_count:
            raise InputError(
                self.path,
                f"column '{name}' has {col.null_count} empty "
                f"{'value' if col.null_count == 1 else 'values'}",
            )
        try:
            arr = col.to_numpy()
        except _pyarrow(self.path).ArrowException:  # an interval, say: no numpy equivalent
            raise InputError(
                self.path, f"column '{name}' holds {col.type}, which numpy cannot hold"
            ) from None
        if arr.dtype.hasobject:
            try:
                arr = arr.astype(str)
            except UnicodeDecodeError:  # a CSV value that is not UTF-8 reads as bytes
                raise InputError(
                    self.path, f"column '{name}' holds bytes that are not UTF-8 text"
                ) from None
        return np.ascontiguousarray(arr)

    def keys(self) -> list[str]:
        return [k for k in self._arrays if k != self.epoch_column or self.reduced]

    def shape(self, key: str) -> tuple[int, ...]:
        return tuple(int(s) for s in self._arrays[key].shape)

    def dtype_name(self, key: str) -> str:
        return str(self._arrays[key].dtype)

    def read(self, key: str) -> np.ndarray:
        return self._arrays[key]

    def epoch_containers(self) -> list[tuple[int, Container]] | None:
        """Long form: one container per value of the epoch column, in epoch order."""
        if self.reduced or self.epoch_column is None:
            return None
        epoch = self._arrays[self.epoch_column]
        if epoch.dtype.kind not in "iu" and not (
            epoch.dtype.kind == "f" and np.all(epoch == np.round(epoch))
        ):
            held = not_numbers(epoch, integers=True)
            raise InputError(
                self.path, f"column '{self.epoch_column}' holds {held}; expected integers"
            )
        out: list[tuple[int, Container]] = []
        for e in np.unique(epoch):
            rows = np.flatnonzero(epoch == e)
            part = _Rows(Path(f"{self.path} ({self.epoch_column} {int(e)})"), self, rows)
            out.append((int(e), part))
        return out

    @property
    def epoch_unit(self) -> str:
        return "step" if self.epoch_column == "step" else "epoch"


class _Rows(Container):
    """The rows of one epoch of a long table."""

    def __init__(self, path: Path, table: TableContainer, rows: np.ndarray) -> None:
        self.path = path
        self._table = table
        self._rows = rows

    def keys(self) -> list[str]:
        return self._table.keys()

    def shape(self, key: str) -> tuple[int, ...]:
        return (int(self._rows.size), *self._table.shape(key)[1:])

    def dtype_name(self, key: str) -> str:
        return self._table.dtype_name(key)

    def read(self, key: str) -> np.ndarray:
        return self._table.read(key)[self._rows]


def open_table(path: Path) -> TableContainer:
    return TableContainer(path)
