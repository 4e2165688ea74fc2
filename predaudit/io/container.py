"""The ``Container`` interface every format reader implements, and helpers they share."""

from __future__ import annotations

import io
import os
import re
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from predaudit.errors import InputError
from predaudit.filetype import check_regular as check_regular


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


MEMORY_BUDGET_ENV = "PREDAUDIT_MAX_BYTES"
"""Environment variable: the most bytes one array may declare (default 16 GiB)."""

_DEFAULT_BUDGET = 16 * 2**30


def memory_budget() -> int:
    """The most bytes one array may take (``$PREDAUDIT_MAX_BYTES``, default 16 GiB)."""
    text = os.environ.get(MEMORY_BUDGET_ENV, "")
    try:
        value = int(text)
    except ValueError:
        return _DEFAULT_BUDGET
    return value if value > 0 else _DEFAULT_BUDGET


def declared_bytes(shape: tuple[int, ...], dtype: np.dtype) -> int:
    """The bytes an array of ``shape`` and ``dtype`` holds (Python integers: never overflows)."""
    n = 1
    for s in shape:
        n *= int(s)
    return n * int(dtype.itemsize)


def check_budget(path: Path, key: str, nbytes: int) -> None:
    """Refuse an array declaring more bytes than :func:`memory_budget` allows."""
    budget = memory_budget()
    if nbytes > budget:
        where = f"member '{key}' " if key else ""
        raise InputError(
            path,
            f"{where}declares {nbytes} bytes of data, over the limit of {budget} bytes "
            f"(set {MEMORY_BUDGET_ENV} to raise it)",
        )


def _check_dtype(path: Path, key: str, dtype: np.dtype) -> None:
    if dtype.hasobject:
        where = f"member '{key}' " if key else ""
        raise InputError(
            path, f"{where}holds Python objects (a pickle); refused, nothing was loaded"
        )


MAX_HEADER_BYTES = 65536
"""The longest ``.npy`` header read (numpy writes well under 1 KiB; it refuses over 10,000)."""


def _parse_header(fp: Any, version: tuple[int, int]) -> tuple[Any, bool, np.dtype]:
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(fp)  # type: ignore[no-any-return]
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(fp)  # type: ignore[no-any-return]
    try:  # version 3.0 (utf-8 field names): numpy has no public reader
        from numpy.lib._format_impl import _read_array_header  # type: ignore[attr-defined]
    except ImportError:  # numpy < 2
        _read_array_header = np.lib.format._read_array_header  # type: ignore[attr-defined]
    return _read_array_header(fp, version)  # type: ignore[no-any-return]


def _npy_header(fp: Any, path: Path, key: str) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """Read a ``.npy`` header from an open stream; return shape, order, dtype, data offset.

    The header's declared length is checked before it is read, so a damaged length
    never makes the reader allocate or inflate gigabytes.
    """
    what = "is not a valid .npy file" if not key else f"member '{key}' is not a valid array"
    try:
        magic = fp.read(8)
        version = np.lib.format.read_magic(io.BytesIO(magic))
        width = 2 if version == (1, 0) else 4
        length_bytes = fp.read(width)
        if len(length_bytes) != width:
            raise ValueError("the header ends early")
        length = int.from_bytes(length_bytes, "little")
        if length > MAX_HEADER_BYTES:
            raise InputError(
                path,
                f"{what} (its header declares {length} bytes, over {MAX_HEADER_BYTES})",
            )
        header = fp.read(length)
        if len(header) != length:
            raise ValueError("the header ends early")
        shape, fortran, dtype = _parse_header(io.BytesIO(length_bytes + header), version)
    except InputError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:  # damage inside a .npz
        raise InputError(
            path, f"is corrupt: member '{key}' cannot be read ({_short(exc)})"
        ) from exc
    except Exception as exc:  # numpy raises ValueError with varied texts
        raise InputError(path, f"{what} ({_short(exc)})") from exc
    return _checked(path, key, shape, fortran, dtype, 8 + width + length)


def _checked(
    path: Path, key: str, shape: Any, fortran: Any, dtype: np.dtype, offset: int
) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    what = "is not a valid .npy file" if not key else f"member '{key}' is not a valid array"
    _check_dtype(path, key, dtype)
    if any(type(s) is not int or s < 0 for s in shape):  # numpy lets True and -1 through
        raise InputError(path, f"{what} (invalid shape {tuple(shape)})")
    if dtype.itemsize == 0:  # |S0, V0: any shape fits in no bytes, and holds no numbers
        raise InputError(path, f"{what} (dtype {dtype.str} has no bytes per value)")
    return tuple(int(s) for s in shape), bool(fortran), dtype, offset


_INT = "(?:0|[1-9][0-9]*)"
_CANONICAL = re.compile(
    rf"\{{'descr': '([<>|=]?[A-Za-z][0-9]*)', 'fortran_order': (False|True), "
    rf"'shape': \((|{_INT},|{_INT}(?:, {_INT})+,?)\), \}} *\n"
)
"""The header text ``np.save`` writes (``repr`` of the dict, padded with spaces and a newline)."""

_CANONICAL_MAX = 4096  # longer headers go through numpy (which refuses over 10000)


def npy_header_in(buf: bytes, path: Path, key: str) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """:func:`_npy_header` of a ``.npy`` whose first bytes are ``buf`` (all of them, or at
    least its header).

    A version 1.0 or 2.0 header in exactly the form ``np.save`` writes is parsed here,
    without ``ast.literal_eval``; the values are those numpy's parser gives for that
    text, and the same checks follow. Any other header goes through :func:`_npy_header`.
    """
    if buf[:6] == b"\x93NUMPY" and buf[6:8] in (b"\x01\x00", b"\x02\x00"):
        width = 2 if buf[6] == 1 else 4
        length = int.from_bytes(buf[8 : 8 + width], "little")
        start = 8 + width
        if length <= _CANONICAL_MAX and start + length <= len(buf):
            header = bytes(buf[: start + length])  # magic, version, length and text
            known = _PARSED.get(header)
            if known is not None:  # the same header as an array read before
                return known
            m = _CANONICAL.fullmatch(header[start:].decode("latin1"))
            if m is not None:
                try:
                    dtype = np.dtype(m.group(1))
                except Exception:  # noqa: BLE001 - numpy's parser says what is wrong
                    dtype = None
                if dtype is not None:
                    shape = tuple(int(s) for s in m.group(3).split(",") if s)
                    got = _checked(path, key, shape, m.group(2) == "True", dtype, start + length)
                    if len(_PARSED) >= _PARSED_MAX:
                        _PARSED.clear()
                    _PARSED[header] = got
                    return got
    return _npy_header(io.BytesIO(buf), path, key)


_PARSED: dict[bytes, tuple[tuple[int, ...], bool, np.dtype, int]] = {}
"""Canonical headers parsed (and checked) before, with what they gave: the result is a
function of the header's bytes alone (a run's files repeat the same few headers)."""
_PARSED_MAX = 256


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
