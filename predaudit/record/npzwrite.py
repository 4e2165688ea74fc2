"""Write an ``.npz`` atomically, member by member, without copying whole columns.

A member is an array, or the pieces of one (the batches of an epoch, in order), which
are written one after the other: the epoch is never assembled in memory for the file.
Rows can also be taken in a given order (gathered and written in pieces of about
``CHUNK_BYTES``). Uncompressed archives are laid out by hand, byte for byte as Python's
``zipfile`` writes them with ``force_zip64=True`` (each member ``np.save``'s bytes;
tested against both), in a few system calls; compressed ones go through ``zipfile``.

The archive is written atomically: to a hidden temporary file in the target folder
(so discovery never reads it), moved into place with ``os.replace``; a crash of the
process leaves either no file or a complete one. An uncompressed archive in the given
row order goes out as views of its arrays in a few ``writev`` calls
(:func:`predaudit.output.write_atomic_parts`); the others through
:func:`predaudit.output.write_atomic`. With ``fsync=True`` the file is also flushed to the disk
before the move (it then survives a power cut too, for a few milliseconds per file).

The zip timestamp is the time of writing, or ``SOURCE_DATE_EPOCH`` (seconds, UTC) when
that variable is set, the reproducible-builds convention: identical inputs then give
identical bytes.
"""

from __future__ import annotations

import functools
import io
import math
import os
import struct
import time
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np

from predaudit.io.zipdir import ZIP_CENTRAL, ZIP_END, ZIP_END64, ZIP_LOCAL, ZIP_LOCATOR64
from predaudit.output import write_atomic, write_atomic_parts

CHUNK_BYTES = 1 << 22
"""Rows are gathered and written in pieces of about this many bytes."""

Member = np.ndarray | Sequence[np.ndarray]
"""An array, or its pieces along the first axis (same dtype and row shape)."""

_ZIP64_VERSION = 45  # zipfile.ZIP64_VERSION
_UNIX = 3  # zipfile's create_system on POSIX
_MODE = 0o644 << 16


def zip_date_time() -> tuple[int, int, int, int, int, int]:
    """Now (local time), or ``SOURCE_DATE_EPOCH`` (UTC) when set; never before 1980 (DOS)."""
    fixed = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    t = time.gmtime(max(int(fixed), 315532800)) if fixed.isdigit() else time.localtime()
    return (max(t.tm_year, 1980), t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)


@functools.lru_cache(maxsize=64)
def npy_header(dtype: np.dtype, shape: tuple[int, ...]) -> bytes:
    """The ``.npy`` header ``np.save`` writes for an array of ``dtype`` and ``shape``."""
    d = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
    buf = io.BytesIO()
    try:
        np.lib.format.write_array_header_1_0(buf, d)  # type: ignore[no-untyped-call]
    except ValueError:  # a header too long for format 1.0
        buf = io.BytesIO()
        np.lib.format.write_array_header_2_0(buf, d)  # type: ignore[no-untyped-call]
    return buf.getvalue()


def _pieces(member: Member, order: np.ndarray | None) -> tuple[np.dtype, tuple[int, ...], list]:
    """(dtype, shape, pieces) of a member; the pieces are produced lazily when gathered."""
    if isinstance(member, np.ndarray):
        if member.ndim == 0:
            return member.dtype, (), [member]
        parts: Sequence[np.ndarray] = [member]
    else:
        parts = member
    first = parts[0]
    rows = sum(len(p) for p in parts) if order is None else int(order.shape[0])
    shape = (rows, *first.shape[1:])
    if order is None:
        return first.dtype, shape, list(parts)
    arr = first if len(parts) == 1 else np.concatenate(parts)
    row_bytes = max(1, arr.dtype.itemsize * math.prod(arr.shape[1:]))
    step = max(1, CHUNK_BYTES // row_bytes)
    gathered = _Gathered(arr, order, step)
    return arr.dtype, shape, gathered  # type: ignore[return-value]


class _Gathered:
    """``arr[order]`` in pieces of ``step`` rows, each made when iterated over."""

    def __init__(self, arr: np.ndarray, order: np.ndarray, step: int) -> None:
        self.arr, self.order, self.step = arr, order, step

    def __iter__(self) -> Iterator[np.ndarray]:
        for a in range(0, self.order.shape[0], self.step):
            yield self.arr[self.order[a : a + self.step]]


def _write_stored(
    fh: BinaryIO, members: list[tuple[str, np.dtype, tuple[int, ...], list]], date_time: tuple
) -> None:
    """Stream the archive to ``fh``: each member's CRC is known only after its data, so
    it is written into the headers at the end (rows gathered in an order)."""
    _lay_out(fh, members, date_time)


def _local_header(name: bytes, size: int, crc: int, dostime: int, dosdate: int) -> bytes:
    extra = struct.pack("<HHQQ", 1, 16, size, size)
    fields = [_ZIP64_VERSION, 0, 0, 0, dostime, dosdate, crc, 0xFFFFFFFF, 0xFFFFFFFF]
    return ZIP_LOCAL.pack(b"PK\003\004", *fields, len(name), len(extra)) + name + extra


def _central_header(
    name: bytes, size: int, crc: int, pos: int, dostime: int, dosdate: int
) -> bytes:
    limit = zipfile.ZIP64_LIMIT
    big = [size, size] if size > limit else []
    if pos > limit:
        big.append(pos)
    cextra = struct.pack(f"<HH{len(big)}Q", 1, 8 * len(big), *big) if big else b""
    fixed = 0xFFFFFFFF if size > limit else size
    offset = 0xFFFFFFFF if pos > limit else pos
    fields = [_ZIP64_VERSION, _UNIX, _ZIP64_VERSION, 0, 0, 0, dostime, dosdate, crc]
    head = ZIP_CENTRAL.pack(
        b"PK\001\002", *fields, fixed, fixed, len(name), len(cextra), 0, 0, 0, _MODE, offset
    )
    return head + name + cextra


def _end_records(count: int, cd_size: int, cd_offset: int) -> bytes:
    tail = b""
    limit = zipfile.ZIP64_LIMIT
    if count > zipfile.ZIP_FILECOUNT_LIMIT or cd_offset > limit or cd_size > limit:
        end64 = cd_offset + cd_size
        tail = ZIP_END64.pack(b"PK\006\006", 44, 45, 45, 0, 0, count, count, cd_size, cd_offset)
        tail += ZIP_LOCATOR64.pack(b"PK\006\007", 0, end64, 1)
        count, cd_size, cd_offset = (
            min(count, 0xFFFF),
            min(cd_size, 0xFFFFFFFF),
            min(cd_offset, 0xFFFFFFFF),
        )
    return tail + ZIP_END.pack(b"PK\005\006", 0, 0, count, count, cd_size, cd_offset, 0)


def _dos(date_time: tuple) -> tuple[int, int]:
    """(time, date) as DOS packs them."""
    dosdate = (date_time[0] - 1980) << 9 | date_time[1] << 5 | date_time[2]
    dostime = date_time[3] << 11 | date_time[4] << 5 | (date_time[5] // 2)
    return dostime, dosdate


def _byte_views(key: str, dtype: np.dtype, pieces: Iterable[np.ndarray]) -> Iterator[memoryview]:
    """Each non-empty piece's bytes in C order (a view when it is contiguous), its dtype
    checked against the member's."""
    for piece in pieces:
        part = np.ascontiguousarray(piece)
        if part.dtype != dtype:
            raise ValueError(f"{key}: a piece of dtype {part.dtype}, not {dtype}")
        if part.nbytes:
            yield memoryview(part).cast("B")  # type: ignore[arg-type]


def stored_parts(
    members: list[tuple[str, np.dtype, tuple[int, ...], list]], date_time: tuple
) -> list[bytes | memoryview]:
    """The whole uncompressed archive as byte strings and views of the members' pieces
    (the data is not copied): each member's CRC is computed before its header."""
    dostime, dosdate = _dos(date_time)
    parts: list[bytes | memoryview] = []
    central: list[bytes] = []
    pos = 0
    for key, dtype, shape, pieces in members:
        name = f"{key}.npy".encode()
        head = npy_header(dtype, shape)
        views = list(_byte_views(key, dtype, pieces))
        crc, size = zlib.crc32(head), len(head)
        for data in views:
            crc = zlib.crc32(data, crc)
            size += len(data)
        if size != len(head) + dtype.itemsize * math.prod(shape):
            raise ValueError(f"{key}: {size} bytes for a member of shape {shape}")
        local = _local_header(name, size, crc, dostime, dosdate)
        parts += [local + head, *views]
        central.append(_central_header(name, size, crc, pos, dostime, dosdate))
        pos += len(local) + size
    cd = b"".join(central)
    parts.append(cd + _end_records(len(central), len(cd), pos))
    return parts


def _lay_out(
    fh: BinaryIO, members: list[tuple[str, np.dtype, tuple[int, ...], list]], date_time: tuple
) -> None:
    dostime, dosdate = _dos(date_time)
    pos = 0
    central: list[bytes] = []
    crcs: list[tuple[int, bytes]] = []
    for key, dtype, shape, pieces in members:
        name = f"{key}.npy".encode()
        head = npy_header(dtype, shape)
        size = len(head) + dtype.itemsize * math.prod(shape)
        local = _local_header(name, size, 0, dostime, dosdate)
        fh.write(local)
        crc, written = zlib.crc32(head), len(head)
        fh.write(head)
        for data in _byte_views(key, dtype, pieces):  # gathered one piece at a time
            crc = zlib.crc32(data, crc)
            written += len(data)
            fh.write(data)
        if written != size:
            raise ValueError(f"{key}: {written} bytes written for a member of {size}")
        crcs.append((pos + 14, struct.pack("<L", crc)))  # written into the header at the end
        central.append(_central_header(name, size, crc, pos, dostime, dosdate))
        pos += len(local) + size
    cd = b"".join(central)
    fh.write(cd + _end_records(len(central), len(cd), pos))
    _patch(fh, crcs)


def _patch(fh: BinaryIO, patches: list[tuple[int, bytes]]) -> None:
    """Write each (offset, bytes) into the file: with pwrite on a real file, else by seeking."""
    fh.flush()
    try:
        fd = fh.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        fd = -1
    end = fh.tell()
    for offset, data in patches:
        if fd >= 0:
            os.pwrite(fd, data, offset)
        else:
            fh.seek(offset)
            fh.write(data)
    if fd < 0:
        fh.seek(end)


def _write_deflated(
    fh: BinaryIO, members: list[tuple[str, np.dtype, tuple[int, ...], list]], date_time: tuple
) -> None:
    with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, dtype, shape, pieces in members:
            info = zipfile.ZipInfo(f"{key}.npy", date_time=date_time)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = _MODE
            with zf.open(info, "w", force_zip64=True) as fp:
                fp.write(npy_header(dtype, shape))
                for piece in pieces:
                    fp.write(np.ascontiguousarray(piece).tobytes())


def write_npz(
    path: Path,
    arrays: Sequence[tuple[str, Member]],
    *,
    order: np.ndarray | None = None,
    compress: bool = False,
    unordered: tuple[str, ...] = (),
    fsync: bool = False,
    date_time: tuple[int, ...] | None = None,
) -> None:
    """Write ``arrays`` (key, array or its pieces) to ``path`` atomically, rows in ``order``.

    Keys listed in ``unordered`` (metadata) are written as they are. The members' zip
    timestamp is ``date_time`` (year, month, day, hour, minute, second), by default
    :func:`zip_date_time`.
    """
    members = [(k, *_pieces(m, None if k in unordered else order)) for k, m in arrays]
    if date_time is None:
        date_time = zip_date_time()
    if not compress and order is None:  # views of the pieces, in a few system calls
        write_atomic_parts(path, stored_parts(members, date_time), fsync=fsync)
        return
    writer = _write_deflated if compress else _write_stored

    def write(raw: BinaryIO) -> None:
        writer(raw, members, date_time)

    write_atomic(path, write, fsync=fsync)
