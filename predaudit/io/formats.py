"""The one table that maps a file suffix to its reader."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from predaudit.errors import InputError
from predaudit.io.container import Container
from predaudit.io.jsonl import open_jsonl
from predaudit.io.npy import open_npy
from predaudit.io.npz import open_npz
from predaudit.io.pt import open_pt
from predaudit.io.safetensors_file import open_safetensors
from predaudit.io.table import open_table
from predaudit.io.zarr_store import open_zarr

READERS: dict[str, Callable[[Path], Container]] = {
    ".npy": open_npy,
    ".npz": open_npz,
    ".pt": open_pt,
    ".pth": open_pt,
    ".jsonl": open_jsonl,
    ".safetensors": open_safetensors,
    ".csv": open_table,
    ".parquet": open_table,
    ".feather": open_table,
    ".arrow": open_table,
    ".zarr": open_zarr,
}
"""Suffix (lower case) -> opener. ``.pt`` needs torch, ``.safetensors`` safetensors and the
tables pyarrow, ``.zarr`` stores (folders) zarr, each imported only when such a file is
read."""


def open_container(path: Path) -> Container:
    """Open ``path`` with the reader its suffix names."""
    suffix = path.suffix.lower()
    opener = READERS.get(suffix)
    if opener is None:
        raise InputError(path, f"has an unknown format '{suffix}'")
    return opener(path)
