"""Zarr stores (``.zarr`` folders, zarr v3 or v2): read lazily, a chunk range at a time.

A store holding a group is a container like ``.npz`` (arrays ``logits``, ``labels``,
``ids``); a store holding one array is keyed by its stem like ``.npy`` (``logits.zarr``
beside ``labels.npy``). Scores come back as a :class:`ZarrRows` view that reads only the
rows sliced from it, so an ``[E, N, C]`` store chunked along N streams through the
reduction (and a Dask worker reads just its row range). The ``zarr`` package is the
``[zarr]`` extra, imported only when a store is opened.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from predaudit.errors import InputError
from predaudit.io.container import Container, _short, check_budget, declared_bytes
from predaudit.io.naming import key_from_stem, strip_epoch

ZARR_EXTRA = 'pip install "predaudit[zarr]"'


def _zarr(path: Path) -> Any:
    try:
        import zarr
    except ImportError as exc:
        raise InputError(path, f"is a zarr store; reading it needs zarr ({ZARR_EXTRA})") from exc
    return zarr


def _read(arr: Any, key: Any, path: Path, name: str) -> np.ndarray:
    """``arr[key]`` as numpy; a chunk that cannot be read or decoded is an input error."""
    try:
        return np.asarray(arr[key])
    except Exception as exc:  # missing/garbled chunk: codec errors of many kinds
        raise InputError(path, f"array '{name}' cannot be read ({_short(exc)})") from exc


class ZarrRows:
    """Rows of a zarr array, read on slicing: ``view[a:b]`` is an ndarray of those rows.

    ``lead`` fixes leading indices (epoch ``i`` of ``[E, N, C]``), ``merge`` reads
    ``[S, T, C]`` as ``S·T`` rows, ``squeeze`` drops a trailing axis of length 1. Other
    indexing, ``np.asarray(view)`` and ``reshape`` read the whole view.
    """

    def __init__(
        self,
        arr: Any,
        path: Path,
        name: str,
        lead: tuple[int, ...] = (),
        *,
        merge: bool = False,
        squeeze: bool = False,
    ) -> None:
        self._arr, self.path, self._name = arr, path, name
        self._lead, self._merge, self._squeeze = lead, merge, squeeze
        shape = tuple(int(s) for s in arr.shape[len(lead) :])
        if merge:
            shape = (shape[0] * shape[1], *shape[2:])
        if squeeze:
            shape = shape[:-1]
        self.shape: tuple[int, ...] = shape
        self.dtype = np.dtype(arr.dtype)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def row_chunk(self) -> int:
        """Rows of one stored chunk along the view's first axis (whole sequences when merged)."""
        k = int(self._arr.chunks[len(self._lead)])
        return k * int(self._arr.shape[len(self._lead) + 1]) if self._merge else k

    def rows(self, a: int, b: int) -> np.ndarray:
        """Rows ``a:b`` (0 <= a <= b <= len) as an ndarray, reading only their chunks."""
        if self._merge:
            t = int(self._arr.shape[len(self._lead) + 1])
            s0, s1 = a // t, -(-b // t)
            x = _read(self._arr, (*self._lead, slice(s0, s1)), self.path, self._name)
            x = x.reshape(-1, *x.shape[2:])[a - s0 * t : b - s0 * t]
        else:
            x = _read(self._arr, (*self._lead, slice(a, b)), self.path, self._name)
        return x[..., 0] if self._squeeze else x

    def _view(self, **kw: Any) -> ZarrRows:
        args = {"merge": self._merge, "squeeze": self._squeeze, **kw}
        lead = args.pop("lead", self._lead)
        return ZarrRows(self._arr, self.path, self._name, lead, **args)

    def __getitem__(self, key: Any) -> Any:
        plain = not self._merge and not self._squeeze
        if isinstance(key, slice):
            start, stop, step = key.indices(self.shape[0])
            if step == 1:
                return self.rows(start, max(start, stop))
        elif isinstance(key, int | np.integer) and plain and self.ndim > 1:
            i = int(key)
            if not -self.shape[0] <= i < self.shape[0]:
                raise IndexError(f"index {i} is out of bounds for length {self.shape[0]}")
            return self._view(lead=(*self._lead, i % self.shape[0]))
        elif key == (slice(None), 0) and plain and self.ndim == 2 and self.shape[1] == 1:
            return self._view(squeeze=True)
        return np.asarray(self)[key]

    def reshape(self, *shape: Any) -> Any:
        want = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], tuple) else shape
        if (
            not self._merge
            and not self._squeeze
            and self.ndim == 3
            and want == (self.shape[0] * self.shape[1], self.shape[2])
        ):
            return self._view(merge=True)
        return np.asarray(self).reshape(*want)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        x = self.rows(0, self.shape[0]) if self.ndim else np.asarray(self._arr[self._lead])
        return x if dtype is None else x.astype(dtype)

    def __iter__(self) -> Iterator[Any]:
        for i in range(self.shape[0]):
            yield self[i]


class ZarrContainer(Container):
    """A ``.zarr`` store: a group's arrays by name, or one array under the stem's key."""

    def __init__(self, path: Path) -> None:
        self.path = path
        zarr = _zarr(path)
        try:
            node = zarr.open(store=str(path), mode="r")
            if hasattr(node, "array_keys"):
                arrays = {str(k): node[k] for k in sorted(node.array_keys())}
            else:
                arrays = {key_from_stem(strip_epoch(path.stem)) or "scores": node}
            for arr in arrays.values():
                _ = arr.shape, arr.dtype, arr.chunks
        except InputError:
            raise
        except Exception as exc:  # bad or missing zarr.json / .zarray metadata
            raise InputError(path, f"is not a valid zarr store ({_short(exc)})") from exc
        if not arrays:
            raise InputError(path, "is a zarr group holding no arrays")
        for key, arr in arrays.items():
            self._check(key, arr)
        self._arrays = arrays

    def _check(self, key: str, arr: Any) -> None:
        try:
            dtype = np.dtype(arr.dtype)
        except TypeError as exc:
            raise InputError(
                self.path, f"array '{key}' has a dtype numpy cannot hold ({arr.dtype})"
            ) from exc
        if dtype.hasobject:
            raise InputError(self.path, f"array '{key}' holds Python objects; refused")
        shape = tuple(int(s) for s in arr.shape)
        if not shape:
            raise InputError(
                self.path, f"array '{key}' holds a single value; expected one per sample"
            )
        check_budget(self.path, key, declared_bytes(shape, dtype))
        check_budget(self.path, key, declared_bytes(tuple(arr.chunks), dtype))

    def keys(self) -> list[str]:
        return list(self._arrays)

    def shape(self, key: str) -> tuple[int, ...]:
        return tuple(int(s) for s in self._arrays[key].shape)

    def dtype_name(self, key: str) -> str:
        return str(np.dtype(self._arrays[key].dtype))

    def read(self, key: str) -> Any:  # a ZarrRows view, read when sliced
        return ZarrRows(self._arrays[key], self.path, key)

    def iter_rows(self, key: str) -> Iterator[Any]:
        view = self.read(key)
        for i in range(view.shape[0]):
            yield view[i] if view.ndim > 1 else np.asarray(view)[i]


def open_zarr(path: Path) -> ZarrContainer:
    return ZarrContainer(path)
