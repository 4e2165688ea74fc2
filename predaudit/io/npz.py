"""``.npz`` archives: members parsed without pickles, read one at a time.

A plain archive of stored members (what ``np.savez`` and the Recorder write) is read
straight from the file: its central directory parsed once (:mod:`predaudit.io.zipdir`),
a small archive read whole with one system call, a member's bytes checked against the
CRC-32 the directory declares. Anything else (compressed members, comments, other extra
fields, damage of any kind) goes through :mod:`zipfile`, and so does any member whose
check fails, so the errors are always the ones :mod:`zipfile` and numpy's header parser
give.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from predaudit.errors import InputError
from predaudit.io.container import (
    MAX_HEADER_BYTES,
    Container,
    _npy_header,
    _short,
    check_budget,
    check_regular,
    declared_bytes,
    memory_budget,
    npy_header_in,
)
from predaudit.io.zipdir import WHOLE_FILE_BYTES, StoredMember, read_at, stored_members

_Header = tuple[tuple[int, ...], bool, np.dtype, int]


_CHECK_AT_OPEN = 1 << 17
"""Members up to this size (128 KiB) have their CRC-32 checked when the archive is opened:
reading the header of one may reach its end, where ``zipfile`` checks it."""


class NpzContainer(Container):
    """A ``.npz`` archive; members are parsed with ``allow_pickle=False``."""

    def __init__(self, path: Path, *, plain: bool = True) -> None:
        self.path = path
        size = check_regular(path).st_size
        self._zip: zipfile.ZipFile | None = None
        self._via_zip: NpzContainer | None = None  # rows streamed, or a member that failed
        self._fd = -1
        self._whole: bytes | None = None
        self._stored: dict[str, StoredMember] = {}
        self._checked: set[str] = set()  # members whose CRC-32 matched
        self._headers: dict[str, _Header] = {}
        if not (plain and self._open_stored(size)):
            self._open_zip()

    def keys(self) -> list[str]:
        return list(self._headers)

    def shape(self, key: str) -> tuple[int, ...]:
        return self._headers[key][0]

    def dtype_name(self, key: str) -> str:
        return str(self._headers[key][2])

    def read(self, key: str) -> np.ndarray:
        shape, fortran, dtype, offset = self._headers[key]
        n = declared_bytes(shape, np.dtype(np.uint8))
        if self._zip is not None:
            data = self._read_zip(key, n * dtype.itemsize)
            arr = np.frombuffer(data, dtype=dtype, count=n)
        else:
            m = self._stored[key]
            if self._whole is not None:
                data, at = self._whole, m.start
            else:
                data, at = read_at(self._fd, m.size, m.start), 0
            if key not in self._checked:
                if len(data) < at + m.size or not _crc_ok(m, memoryview(data)[at : at + m.size]):
                    return self._zipfile().read(key)  # zipfile says what is wrong
                self._checked.add(key)
            arr = np.frombuffer(data, dtype=dtype, count=n, offset=at + offset)
        return arr.reshape(shape, order="F" if fortran else "C")

    def iter_rows(self, key: str) -> Iterator[np.ndarray]:
        if self._zip is None:
            yield from self._zipfile().iter_rows(key)
            return
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
        self._close_stored()
        if self._zip is not None:
            self._zip.close()
        if self._via_zip is not None:
            self._via_zip.close()

    # -- plain archives, read with pread ------------------------------------------------------

    def _open_stored(self, size: int) -> bool:
        """Open the archive as plain stored members; False (nothing kept open) when it is
        not one or a member's check fails: then :mod:`zipfile` reads it and decides."""
        try:
            self._fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            if size <= WHOLE_FILE_BYTES:
                self._whole = read_at(self._fd, size, 0)
                if len(self._whole) != size:
                    raise OSError("the file changed size")
            members = stored_members(self._fd, size, self._whole)
            if members is None:
                raise OSError("not a plain archive")
            budget = memory_budget()
            for m in members:
                key = self._add_key(m.name)
                self._stored[key] = m
                if m.size > budget:
                    check_budget(self.path, key, m.size)
                if m.size <= _CHECK_AT_OPEN:
                    if not _crc_ok(m, self._member_bytes(m, m.size)):
                        raise OSError("CRC-32")
                    self._checked.add(key)
                header = npy_header_in(self._head(m), self.path, key)
                self._headers[key] = self._in_bounds(key, m.size, header)
        except (OSError, InputError):
            self._close_stored()
            return False
        if self._whole is not None:  # every byte is in memory: no file kept open
            os.close(self._fd)
            self._fd = -1
        return True

    def _member_bytes(self, m: StoredMember, n: int) -> Any:
        if self._whole is not None:
            return memoryview(self._whole)[m.start : m.start + n]
        return read_at(self._fd, n, m.start)

    def _head(self, m: StoredMember) -> bytes:
        """The member's first bytes, enough for its ``.npy`` header (or all it has)."""
        head = bytes(self._member_bytes(m, min(m.size, 4096)))
        if len(head) >= 12 and len(head) < m.size:
            length = int.from_bytes(head[8:10] if head[6] == 1 else head[8:12], "little")
            if 12 + length > len(head):
                head = bytes(self._member_bytes(m, min(m.size, 12 + MAX_HEADER_BYTES)))
        return head

    def _close_stored(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
        self._fd, self._whole = -1, None
        self._stored.clear()
        self._checked.clear()
        self._headers.clear()

    def _zipfile(self) -> NpzContainer:
        """The same archive opened through :mod:`zipfile` (opened once, closed with this)."""
        if self._via_zip is None:
            self._via_zip = NpzContainer(self.path, plain=False)
        return self._via_zip

    # -- everything else, through zipfile -----------------------------------------------------

    def _open_zip(self) -> None:
        path = self.path
        try:
            self._zip = zipfile.ZipFile(path)
            infos = self._zip.infolist()
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise InputError(path, f"is not a valid .npz archive ({_short(exc)})") from exc
        self._members: dict[str, zipfile.ZipInfo] = {}
        try:
            for info in infos:
                key = self._add_key(info.filename)
                self._members[key] = info
                # ZipExtFile never inflates past the declared size; keep that size in bounds
                check_budget(path, key, info.file_size)
                try:
                    with self._zip.open(info) as fp:
                        header = _npy_header(fp, path, key)
                except InputError:
                    raise
                except Exception as exc:
                    raise InputError(
                        path, f"is corrupt: member '{key}' cannot be read ({_short(exc)})"
                    ) from exc
                self._headers[key] = self._in_bounds(key, info.file_size, header)
        except InputError:
            self._zip.close()
            raise

    def _read_zip(self, key: str, nbytes: int) -> bytes:
        assert self._zip is not None
        try:
            with self._zip.open(self._members[key]) as fp:
                _npy_header(fp, self.path, key)
                return self._read_exact(fp, nbytes, key)
        except InputError:
            raise
        except Exception as exc:  # zlib.error, BadZipFile (CRC), EOFError
            raise InputError(
                self.path, f"is corrupt: member '{key}' cannot be read ({_short(exc)})"
            ) from exc

    def _read_exact(self, fp: Any, n: int, key: str) -> bytes:
        data = fp.read(n)
        if len(data) != n:
            raise InputError(self.path, f"is truncated: member '{key}' ends early")
        return data

    # -- checks both ways share ---------------------------------------------------------------

    def _add_key(self, name: str) -> str:
        key = name[:-4] if name.endswith(".npy") else name
        if key in self._stored or key in getattr(self, "_members", {}):
            raise InputError(  # two members of one name: which one numpy reads is luck
                self.path,
                f"holds two members named '{key}'; refused, which one is meant is unclear",
            )
        return key

    def _in_bounds(self, key: str, file_size: int, header: _Header) -> _Header:
        need = declared_bytes(header[0], header[2])
        if header[3] + need > file_size:
            raise InputError(
                self.path,
                f"is truncated: member '{key}' declares {need} bytes of data, "
                f"the archive holds {max(file_size - header[3], 0)}",
            )
        return header


def _crc_ok(m: StoredMember, data: Any) -> bool:
    """The member's bytes ``data`` have the CRC-32 its central directory declares.

    Bytes equal to those of a member that matched the same declared CRC-32 before (the
    labels and ids every epoch's archive repeats) have that sum: comparing them costs a
    tenth of summing them again. Members up to :data:`_CHECK_AT_OPEN` are remembered.
    """
    seen = _VERIFIED.pop((m.crc, m.size), None)
    if seen is not None and seen == bytes(data):
        _VERIFIED[(m.crc, m.size)] = seen  # the most recently used last
        return True
    if zlib.crc32(data) != m.crc:
        return False
    if m.size <= _CHECK_AT_OPEN:
        if len(_VERIFIED) >= _VERIFIED_MAX:
            del _VERIFIED[next(iter(_VERIFIED))]  # the least recently used
        _VERIFIED[(m.crc, m.size)] = bytes(data)
    return True


_VERIFIED: dict[tuple[int, int], bytes] = {}
"""(declared CRC-32, size) -> the bytes of a member that matched it, least recently used
first."""
_VERIFIED_MAX = 32  # at most 4 MiB


def open_npz(path: Path) -> NpzContainer:
    return NpzContainer(path)
