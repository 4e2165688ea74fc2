"""Write an ``.npz`` atomically, rows in a given order, without copying whole columns.

The archive is written with :func:`predaudit.output.write_atomic`: to a hidden
temporary file in the target folder (``.{name}.XXXXXXXX.tmp``, so discovery never
reads it), moved into place with ``os.replace``; a crash of the process leaves either
no file or a complete one. With ``fsync=True`` the file is also flushed to the disk
before the move (it then survives a power cut too, for a few milliseconds per file);
the default here is off, as the recorder's.
"""

from __future__ import annotations

import time
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

import numpy as np

from predaudit.output import write_atomic

CHUNK_BYTES = 1 << 22
"""Rows are gathered and written in pieces of about this many bytes."""


def _write_member(zf: zipfile.ZipFile, key: str, arr: np.ndarray, order: np.ndarray | None) -> None:
    shape = arr.shape if order is None or arr.ndim == 0 else (order.shape[0], *arr.shape[1:])
    header = {
        "descr": np.lib.format.dtype_to_descr(arr.dtype),
        "fortran_order": False,
        "shape": shape,
    }
    info = zipfile.ZipInfo(f"{key}.npy", date_time=time.localtime()[:6])
    info.compress_type = zf.compression
    info.external_attr = 0o644 << 16
    with zf.open(info, "w", force_zip64=True) as fp:
        np.lib.format.write_array_header_2_0(fp, header)  # type: ignore[no-untyped-call]
        if arr.ndim == 0:
            fp.write(np.ascontiguousarray(arr).tobytes())
            return
        row_bytes = max(1, arr.dtype.itemsize * int(np.prod(arr.shape[1:], dtype=np.int64)))
        step = max(1, CHUNK_BYTES // row_bytes)
        for a in range(0, shape[0], step):
            part = arr[a : a + step] if order is None else arr[order[a : a + step]]
            fp.write(np.ascontiguousarray(part).tobytes())


def write_npz(
    path: Path,
    arrays: Iterable[tuple[str, np.ndarray]],
    *,
    order: np.ndarray | None = None,
    compress: bool = False,
    unordered: tuple[str, ...] = (),
    fsync: bool = False,
) -> None:
    """Write ``arrays`` (key, array) to ``path`` atomically, rows taken in ``order``.

    Keys listed in ``unordered`` (metadata) are written as they are.
    """
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED

    def write(raw: BinaryIO) -> None:
        with zipfile.ZipFile(raw, "w", compression=method) as zf:
            for key, arr in arrays:
                _write_member(zf, key, arr, None if key in unordered else order)

    write_atomic(path, write, fsync=fsync)
