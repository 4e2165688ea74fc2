"""``.npy`` files: parsed without pickles, memory-mapped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from predaudit.errors import InputError
from predaudit.io.container import (
    Container,
    _npy_header,
    _short,
    check_regular,
    declared_bytes,
)
from predaudit.io.naming import key_from_stem, strip_epoch


class NpyContainer(Container):
    """A single ``.npy`` array, memory-mapped, under the key ``key``."""

    def __init__(self, path: Path, key: str) -> None:
        self.path = path
        self._key = key
        check_regular(path)
        with open(path, "rb") as fp:
            shape, fortran, dtype, offset = _npy_header(fp, path, "")
        if not shape:
            raise InputError(path, "holds a single value (a 0-d array); expected one per sample")
        self._shape, self._dtype = shape, dtype
        expected = declared_bytes(shape, dtype)
        self._expected = expected
        size = check_regular(path).st_size - offset
        if size < expected:
            raise InputError(
                path, f"is truncated: the header promises {expected} bytes of data, found {size}"
            )
        self._fortran = fortran
        self._offset = offset

    def keys(self) -> list[str]:
        return [self._key]

    def shape(self, key: str) -> tuple[int, ...]:
        return self._shape

    def dtype_name(self, key: str) -> str:
        return str(self._dtype)

    def _check_size(self, end: int) -> None:
        """The file must still hold ``end`` bytes of data: one that shrank since it was opened
        is an input error here, not a SIGBUS when the mapping is read."""
        size = check_regular(self.path).st_size - self._offset
        if size < end:
            raise InputError(
                self.path,
                f"changed while being read: it now holds {max(size, 0)} bytes of data, "
                f"the header promises {self._expected}",
            )

    def read(self, key: str) -> np.ndarray:
        if self._expected == 0:
            return np.zeros(self._shape, dtype=self._dtype)
        self._check_size(self._expected)
        try:
            return np.load(self.path, mmap_mode="r", allow_pickle=False)
        except Exception as exc:
            raise InputError(self.path, f"cannot be read as .npy ({_short(exc)})") from exc

    def iter_rows(self, key: str) -> Iterator[np.ndarray]:
        # Map one row at a time and drop the map afterwards, so pages read from a
        # huge file are released epoch by epoch (resident memory stays at one epoch).
        row_shape = self._shape[1:]
        row_bytes = declared_bytes(row_shape, self._dtype)
        if self._fortran and len(self._shape) > 1:
            arr = self.read(key)
            for i in range(self._shape[0]):
                yield np.ascontiguousarray(arr[i])
            return
        for i in range(self._shape[0]):
            if row_bytes == 0:
                yield np.zeros(row_shape, dtype=self._dtype)
                continue
            self._check_size((i + 1) * row_bytes)
            mm = np.memmap(
                self.path,
                dtype=self._dtype,
                mode="r",
                offset=self._offset + i * row_bytes,
                shape=row_shape,
            )
            yield mm
            del mm  # the consumer drops its references too; the mapping then goes


def open_npy(path: Path) -> NpyContainer:
    return NpyContainer(path, key_from_stem(strip_epoch(path.stem)) or "scores")
