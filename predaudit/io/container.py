"""The ``Container`` interface every format reader implements, and helpers they share."""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from predaudit.errors import InputError


class Container:
    """A file holding named arrays."""

    path: Path

    def keys(self) -> list[str]:
        raise NotImplementedError

    def shape(self, key: str) -> tuple[int, ...]:
        raise NotImplementedError

    def dtype_name(self, key: str) -> str:
        raise NotImplementedError

    def read(self, key: str) -> np.ndarray:
        raise NotImplementedError

    def iter_rows(self, key: str) -> Iterator[np.ndarray]:
        arr = self.read(key)
        for i in range(arr.shape[0]):
            yield arr[i]

    def close(self) -> None:  # noqa: B027 - optional hook
        pass


def _check_dtype(path: Path, key: str, dtype: np.dtype) -> None:
    if dtype.hasobject:
        where = f"member '{key}' " if key else ""
        raise InputError(
            path, f"{where}holds Python objects (a pickle); refused, nothing was loaded"
        )


def _npy_header(fp: Any, path: Path, key: str) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """Read a ``.npy`` header from an open stream; return shape, order, dtype, data offset."""
    try:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
        else:
            shape, fortran, dtype = np.lib.format._read_array_header(fp, version)  # type: ignore[attr-defined]
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:  # damage inside a .npz
        raise InputError(
            path, f"is corrupt: member '{key}' cannot be read ({_short(exc)})"
        ) from exc
    except Exception as exc:  # numpy raises ValueError with varied texts
        what = "is not a valid .npy file" if not key else f"member '{key}' is not a valid array"
        raise InputError(path, f"{what} ({_short(exc)})") from exc
    _check_dtype(path, key, dtype)
    return tuple(int(s) for s in shape), bool(fortran), dtype, fp.tell()


def _short(exc: BaseException) -> str:
    """The first sentence of an exception's text, short enough for a one-line message."""
    text = " ".join(str(exc).split())
    if not text:
        return type(exc).__name__
    end = text.find(". ")
    if end >= 20:
        text = text[:end]
    text = text.rstrip(".")
    return text if len(text) <= 160 else text[:159] + "…"
