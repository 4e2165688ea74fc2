"""Batches in, one epoch out: array conversion and a growing buffer per column."""

from __future__ import annotations

from typing import Any

import numpy as np


def to_numpy(x: Any) -> tuple[np.ndarray, str]:
    """A batch as a numpy array, and the dtype it came in.

    Torch tensors (any device) are detached and copied to the CPU, without importing
    torch; numpy has no bfloat16, so bfloat16 tensors become float32 (exactly).
    """
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        t = x.detach()
        name = str(t.dtype).removeprefix("torch.")
        if name == "bfloat16":
            t = t.float()
        return np.asarray(t.cpu().numpy()), name
    arr = np.asarray(x)
    return arr, str(arr.dtype)


class Column:
    """Rows appended batch by batch into one array, grown by doubling.

    With ``capacity`` (the previous epoch's size) an epoch of the same size is written
    in place, without a copy; ``view()`` is the filled part.
    """

    def __init__(self, capacity: int = 0) -> None:
        self._capacity = capacity
        self._buf: np.ndarray | None = None
        self.n = 0

    @property
    def dtype(self) -> np.dtype | None:
        return None if self._buf is None else self._buf.dtype

    @property
    def row_shape(self) -> tuple[int, ...] | None:
        return None if self._buf is None else self._buf.shape[1:]

    def append(self, rows: np.ndarray) -> None:
        k = rows.shape[0]
        if self._buf is None:
            cap = max(self._capacity, k, 1)
            self._buf = np.empty((cap, *rows.shape[1:]), dtype=rows.dtype)
        buf = self._buf
        dtype = buf.dtype
        if rows.dtype.kind == "U" and rows.dtype.itemsize > dtype.itemsize:
            dtype = rows.dtype  # longer text ids: widen the column
        if self.n + k > buf.shape[0] or dtype != buf.dtype:
            cap = buf.shape[0] if self.n + k <= buf.shape[0] else max(2 * buf.shape[0], self.n + k)
            grown = np.empty((cap, *buf.shape[1:]), dtype=dtype)
            grown[: self.n] = buf[: self.n]
            self._buf = buf = grown
        buf[self.n : self.n + k] = rows
        self.n += k

    def view(self) -> np.ndarray:
        assert self._buf is not None
        return self._buf[: self.n]

    def release(self) -> None:
        self._buf = None
        self.n = 0
