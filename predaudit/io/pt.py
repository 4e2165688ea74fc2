"""PyTorch ``.pt``/``.pth`` files, loaded with ``weights_only=True`` (the optional extra)."""

from __future__ import annotations

import re
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from predaudit.errors import InputError
from predaudit.io.container import (
    Container,
    _short,
    check_budget,
    check_regular,
    declared_bytes,
)
from predaudit.io.naming import key_from_stem, strip_epoch


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        return None
    return torch


_ALLOWED_LEAVES = (int, float, bool, str, type(None))
_UNSAFE_GLOBAL = re.compile(r"GLOBAL ([A-Za-z_][\w.]*)")


def _is_legacy_format_error(exc: BaseException) -> bool:
    """Whether ``torch.load(mmap=True)`` failed only because the file is not a zip archive."""
    text = str(exc)
    return "mmap can only be used with files saved with" in text or (
        "zip" in text.lower() and "central directory" not in text.lower()
    )


class PtContainer(Container):
    """A PyTorch file read with ``torch.load(weights_only=True, map_location="cpu")``.

    Only tensors, numbers, strings, lists/tuples and dicts are accepted; a bare
    tensor is stored under the key the file name implies (``scores`` otherwise).
    """

    def __init__(self, path: Path, default_key: str = "scores") -> None:
        self.path = path
        torch = _torch()
        if torch is None:
            raise InputError(
                path,
                "is a PyTorch file but PyTorch is not installed; "
                "install the extra: pip install 'predaudit[torch]'",
            )
        obj = self._load(torch)
        self._check(obj, torch)
        if isinstance(obj, torch.Tensor):
            obj = {default_key: obj}
        if not isinstance(obj, dict):
            raise InputError(path, f"holds a {type(obj).__name__}; expected a dict of tensors")
        self._arrays: dict[str, Any] = {}
        for k, v in obj.items():
            if isinstance(v, torch.Tensor):
                self._check_extent(str(k), v)
                self._arrays[str(k)] = v
            elif isinstance(v, list | tuple) and v and all(isinstance(x, int | float) for x in v):
                self._arrays[str(k)] = torch.tensor(v)

    def _load(self, torch: Any) -> Any:
        """``torch.load`` memory-mapped (zip format) or not (legacy format), weights only.

        Memory-mapping reads storage records as raw bytes at their offsets, so it is used
        only when every record is stored uncompressed and lies wholly inside the file
        (:func:`_mmap_safe`); otherwise torch reads the file itself, after its size is
        checked against the memory budget.
        """
        size = check_regular(self.path).st_size
        self._size = size
        try:
            safe = _mmap_safe(self.path, size)
            if safe:
                try:
                    return torch.load(self.path, weights_only=True, map_location="cpu", mmap=True)
                except RuntimeError as exc:
                    if not _is_legacy_format_error(exc):
                        raise
            # The legacy (non-zip) serialisation, or records that must be inflated: read
            # whole, within the budget.
            check_budget(
                self.path, "", size if safe is None else max(size, _records_size(self.path))
            )
            return torch.load(self.path, weights_only=True, map_location="cpu")
        except InputError:
            raise
        except Exception as exc:
            text = " ".join(str(exc).split())
            if "Weights only load failed" in text or "Unsupported global" in text:
                found = _UNSAFE_GLOBAL.search(text)
                what = f" ({found.group(1)})" if found else ""
                raise InputError(
                    self.path,
                    f"holds objects other than tensors, numbers, strings, lists and dicts{what}; "
                    "refused, nothing in it was executed",
                ) from exc
            raise InputError(self.path, f"is not a valid PyTorch file ({_short(exc)})") from exc

    def _check(self, obj: Any, torch: Any) -> None:
        stack = [obj]
        while stack:
            item = stack.pop()
            if isinstance(item, torch.Tensor) or isinstance(item, _ALLOWED_LEAVES):
                continue
            if isinstance(item, dict):
                stack.extend(item.keys())
                stack.extend(item.values())
                continue
            if isinstance(item, list | tuple):
                stack.extend(item)
                continue
            raise InputError(
                self.path,
                f"holds a {type(item).__name__}; only tensors, numbers, strings, lists and "
                "dicts are accepted",
            )

    def _check_extent(self, key: str, t: Any) -> None:
        """Refuse a tensor that declares more elements than its storage holds (an expanded,
        stride-0 view: materialising it would allocate far more than the file) or more bytes
        than the memory budget."""
        nbytes = declared_bytes(tuple(t.shape), np.dtype(np.uint8)) * t.element_size()
        storage = t.untyped_storage().nbytes()
        if nbytes > storage:
            raise InputError(
                self.path,
                f"tensor '{key}' of shape {tuple(int(s) for s in t.shape)} declares {nbytes} "
                f"bytes but its storage holds {storage} (an expanded or stride-0 view); "
                "save a contiguous tensor (.contiguous()) instead",
            )
        check_budget(self.path, key, nbytes)

    def keys(self) -> list[str]:
        return list(self._arrays)

    def close(self) -> None:
        # Drop the tensors: their memory-mapped storage goes once no array uses it.
        self._arrays = {}

    def shape(self, key: str) -> tuple[int, ...]:
        return tuple(int(s) for s in self._arrays[key].shape)

    def dtype_name(self, key: str) -> str:
        return str(self._arrays[key].dtype).replace("torch.", "")

    def _to_numpy(self, t: Any) -> np.ndarray:
        torch = _torch()
        t = t.detach()  # tensors saved from a graph keep requires_grad; numpy() refuses those
        if t.dtype == torch.bfloat16:
            return t.view(torch.int16).numpy().view(np.uint16)
        if t.is_complex() or t.dtype == torch.bool:
            return t.numpy()
        try:
            return t.numpy()
        except (TypeError, RuntimeError) as exc:
            raise InputError(
                self.path,
                f"holds a tensor of dtype {str(t.dtype).replace('torch.', '')}, "
                f"which cannot be read ({_short(exc)})",
            ) from exc

    def _check_size(self) -> None:
        """A memory-mapped file that shrank since it was loaded is an input error here, not
        a SIGBUS when the tensor's pages are read."""
        size = check_regular(self.path).st_size
        if size < self._size:
            raise InputError(
                self.path,
                f"changed while being read: it now holds {size} bytes, it held {self._size}",
            )

    def read(self, key: str) -> np.ndarray:
        self._check_size()
        return self._to_numpy(self._arrays[key])

    def iter_rows(self, key: str) -> Iterator[np.ndarray]:
        t = self._arrays[key]
        for i in range(t.shape[0]):
            self._check_size()
            yield self._to_numpy(t[i])


_LOCAL_HEADER = struct.Struct("<4s5H3L2H")


def _mmap_safe(path: Path, size: int) -> bool | None:
    """Whether ``torch.load(mmap=True)`` reads ``path`` as torch itself would: True when every
    record is stored uncompressed (``ZIP_STORED``, size = compressed size) and lies inside
    the file; False when some record does not (then torch must read and inflate it);
    None when the file is not a zip archive (the legacy format)."""
    if not zipfile.is_zipfile(path):
        return None
    try:
        with zipfile.ZipFile(path) as zf, open(path, "rb") as fh:
            for info in zf.infolist():
                if info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
                    return False
                fh.seek(info.header_offset)
                raw = fh.read(_LOCAL_HEADER.size)
                if len(raw) != _LOCAL_HEADER.size:
                    return False
                fields = _LOCAL_HEADER.unpack(raw)
                if fields[0] != b"PK\x03\x04":
                    return False
                start = info.header_offset + _LOCAL_HEADER.size + fields[9] + fields[10]
                if start + info.compress_size > size:
                    return False
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return False  # let torch read it and say what is wrong
    return True


def _records_size(path: Path) -> int:
    """The inflated size of every record of a zip-format file (0 when unreadable)."""
    try:
        with zipfile.ZipFile(path) as zf:
            return sum(i.file_size for i in zf.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return 0


def open_pt(path: Path) -> PtContainer:
    return PtContainer(path, key_from_stem(strip_epoch(path.stem)) or "scores")
