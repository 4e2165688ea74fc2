"""Batches in, one epoch out: array conversion and a growing buffer per column."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

_BF16: list[Any] = []  # torch.bfloat16, looked up once torch is in use


def to_numpy(x: Any) -> np.ndarray:
    """A batch as a numpy array: torch tensors (any device) detached and copied to the CPU.

    Torch is never imported here; numpy has no bfloat16, so bfloat16 tensors become
    float32 (exactly). See :func:`dtype_name` for the dtype a batch came in.
    """
    if type(x) is np.ndarray:
        return x
    detach = getattr(x, "detach", None)
    if detach is None:
        return np.asarray(x)
    t = detach()
    if not _BF16:
        _BF16.append(sys.modules["torch"].bfloat16)
    if t.dtype is _BF16[0]:
        t = t.float()
    return np.asarray(t.cpu().numpy())


def dtype_name(x: Any) -> str:
    """``float16``, ``bfloat16``, …: the dtype of a numpy array or torch tensor."""
    name = str(x.dtype) if hasattr(x, "dtype") else str(np.asarray(x).dtype)
    return name.removeprefix("torch.")


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
        k = len(rows)
        buf, n = self._buf, self.n
        if buf is not None and n + k <= len(buf) and rows.dtype == buf.dtype:
            buf[n : n + k] = rows  # the common case: room left, same dtype
            self.n = n + k
            return
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
