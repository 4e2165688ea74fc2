"""``.npz`` archives: members parsed without pickles, read one at a time."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from predaudit.errors import InputError
from predaudit.io.container import (
    Container,
    _npy_header,
    _short,
    check_budget,
    check_regular,
    declared_bytes,
)


class NpzContainer(Container):
    """A ``.npz`` archive; members are parsed with ``allow_pickle=False``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        check_regular(path)
        try:
            self._zip = zipfile.ZipFile(path)
            infos = self._zip.infolist()
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise InputError(path, f"is not a valid .npz archive ({_short(exc)})") from exc
        self._members: dict[str, zipfile.ZipInfo] = {}
        self._headers: dict[str, tuple[tuple[int, ...], bool, np.dtype, int]] = {}
        for info in infos:
            name = info.filename
            key = name[:-4] if name.endswith(".npy") else name
            if key in self._members:  # two members of one name: which one numpy reads is luck
                self._zip.close()
                raise InputError(
                    path, f"holds two members named '{key}'; refused, which one is meant is unclear"
                )
            self._members[key] = info
            # ZipExtFile never inflates past the declared size; keep that size in bounds
            check_budget(path, key, info.file_size)
            try:
                with self._zip.open(info) as fp:
                    header = _npy_header(fp, path, key)
            except InputError:
                self._zip.close()
                raise
            except Exception as exc:
                self._zip.close()
                raise InputError(
                    path, f"is corrupt: member '{key}' cannot be read ({_short(exc)})"
                ) from exc
            need = declared_bytes(header[0], header[2])
            if header[3] + need > info.file_size:
                self._zip.close()
                raise InputError(
                    path,
                    f"is truncated: member '{key}' declares {need} bytes of data, "
                    f"the archive holds {max(info.file_size - header[3], 0)}",
                )
            self._headers[key] = header

    def keys(self) -> list[str]:
        return list(self._members)

    def shape(self, key: str) -> tuple[int, ...]:
        return self._headers[key][0]

    def dtype_name(self, key: str) -> str:
        return str(self._headers[key][2])

    def _read_exact(self, fp: Any, n: int, key: str) -> bytes:
        data = fp.read(n)
        if len(data) != n:
            raise InputError(self.path, f"is truncated: member '{key}' ends early")
        return data

    def read(self, key: str) -> np.ndarray:
        shape, fortran, dtype, _ = self._headers[key]
        n = declared_bytes(shape, np.dtype(np.uint8))
        try:
            with self._zip.open(self._members[key]) as fp:
                _npy_header(fp, self.path, key)
                data = self._read_exact(fp, n * dtype.itemsize, key)
        except InputError:
            raise
        except Exception as exc:  # zlib.error, BadZipFile (CRC), EOFError
            raise InputError(
                self.path, f"is corrupt: member '{key}' cannot be read ({_short(exc)})"
            ) from exc
        arr = np.frombuffer(data, dtype=dtype, count=n)
        return arr.reshape(shape, order="F" if fortran else "C")

    def iter_rows(self, key: str) -> Iterator[np.ndarray]:
        shape, fortran, dtype, _ = self._headers[key]
        if fortran and len(shape) > 1:
            yield from super().iter_rows(key)
            return
        row_shape = shape[1:]
        row_n = declared_bytes(row_shape, np.dtype(np.uint8))
        try:
            with self._zip.open(self._members[key]) as fp:
                _npy_header(fp, self.path, key)
                for _ in range(shape[0]):
                    data = self._read_exact(fp, row_n * dtype.itemsize, key)
                    yield np.frombuffer(data, dtype=dtype, count=row_n).reshape(row_shape)
        except InputError:
            raise
        except Exception as exc:
            raise InputError(
                self.path, f"is corrupt: member '{key}' cannot be read ({_short(exc)})"
            ) from exc

    def close(self) -> None:
        self._zip.close()


def open_npz(path: Path) -> NpzContainer:
    return NpzContainer(path)
