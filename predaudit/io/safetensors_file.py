"""``.safetensors`` files (the ``safetensors`` extra, imported only when such a file is read).

Read with ``safe_open(framework="np")``: no torch, no pickle. The same keys as an
``.npz`` (``logits``, ``labels``, ``ids`` …); bfloat16 tensors, which numpy
cannot hold, arrive as their ``uint16`` bit patterns named ``bfloat16``.

Hardened like ``.npy``: a special file is refused by its type before it is opened, and
the header is checked (:func:`read_header`) before safetensors maps anything: its
declared length against the file's size and :data:`MAX_HEADER_BYTES`, every tensor's
dtype, shape and ``data_offsets`` (inside the file, ``dtype × shape`` bytes long) and
the bytes it declares against the memory budget. A file that shrank since is an
input error when a tensor is read, never a SIGBUS.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np

from predaudit import safejson
from predaudit.dtypes import BF16
from predaudit.errors import InputError
from predaudit.io.container import (
    MEMORY_BUDGET_ENV,
    Container,
    _short,
    check_regular,
    declared_bytes,
    memory_budget,
)

_DTYPES = {
    "F16": "float16",
    "F32": "float32",
    "F64": "float64",
    "BF16": BF16,
    "I8": "int8",
    "I16": "int16",
    "I32": "int32",
    "I64": "int64",
    "U8": "uint8",
    "U16": "uint16",
    "U32": "uint32",
    "U64": "uint64",
    "BOOL": "bool",
}


MAX_HEADER_BYTES = 100_000_000
"""The longest header accepted, as safetensors itself (``N > 100 MB`` is refused there too)."""
_ITEMSIZE = {"BF16": 2, "BOOL": 1}


class Tensor:
    """One entry of a safetensors header: dtype name, shape and data byte range."""

    def __init__(self, dtype: str, shape: tuple[int, ...], start: int, end: int) -> None:
        self.dtype, self.shape, self.start, self.end = dtype, shape, start, end


def _bad(path: Path, why: str) -> InputError:
    return InputError(path, f"is not a valid safetensors file ({why})")


def _tensor(path: Path, key: str, entry: Any, data_size: int) -> Tensor:
    """One header entry, checked: known dtype, non-negative shape, offsets that fit."""
    if not isinstance(entry, dict):
        raise _bad(path, f"tensor '{key}' is not described by an object")
    raw, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(raw, str) or raw not in _DTYPES:
        raise _bad(path, f"tensor '{key}' has an unknown dtype {_show(raw)}")
    if not isinstance(shape, list) or not all(
        type(d) is int and d >= 0
        for d in shape  # noqa: E721 - bool is not a dimension
    ):
        raise _bad(path, f"tensor '{key}' has shape {_show(shape)}; expected sizes >= 0")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(type(o) is int and o >= 0 for o in offsets)  # noqa: E721
        or offsets[0] > offsets[1]
    ):
        raise _bad(path, f"tensor '{key}' has data_offsets {_show(offsets)}")
    start, end = offsets
    itemsize = _ITEMSIZE.get(raw) or np.dtype(_DTYPES[raw]).itemsize
    nbytes = declared_bytes(tuple(shape), np.dtype(f"V{itemsize}"))
    budget = memory_budget()
    if nbytes > budget:
        raise InputError(
            path,
            f"tensor '{key}' declares {nbytes} bytes of data, over the limit of {budget} "
            f"bytes (set {MEMORY_BUDGET_ENV} to raise it)",
        )
    if end - start != nbytes:
        raise _bad(
            path,
            f"tensor '{key}' of shape {tuple(shape)} and dtype {raw} needs {nbytes} bytes "
            f"but its data_offsets span {end - start}",
        )
    if end > data_size:
        raise InputError(
            path,
            f"is truncated: tensor '{key}' ends at byte {end} of the data, "
            f"the file holds {data_size}",
        )
    return Tensor(raw, tuple(shape), start, end)


def _show(x: Any) -> str:
    text = repr(x)
    return text if len(text) <= 40 else text[:37] + "..."


def read_header(path: Path) -> tuple[int, dict[str, Tensor]]:
    """``(data start, {name: Tensor})`` of a safetensors file, every declared size checked
    against the file's real size and the memory budget before anything is allocated."""
    size = check_regular(path).st_size
    with open(path, "rb") as fp:
        head = fp.read(8)
        if len(head) < 8:
            raise InputError(path, f"is truncated: {len(head)} bytes, not even a header length")
        (n,) = struct.unpack("<Q", head)
        if n > MAX_HEADER_BYTES:
            raise _bad(path, f"its header declares {n} bytes, over {MAX_HEADER_BYTES}")
        if 8 + n > size:
            raise InputError(
                path, f"is truncated: its header declares {n} bytes, the file holds {size - 8}"
            )
        raw = fp.read(n)
    try:
        header = safejson.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _bad(path, f"its header is not JSON: {_short(exc)}") from exc
    if not isinstance(header, dict):
        raise _bad(path, "its header is not a JSON object")
    data_size = size - 8 - n
    tensors = {
        str(k): _tensor(path, str(k), v, data_size)
        for k, v in header.items()
        if k != "__metadata__"
    }
    return 8 + n, tensors


def _safe_open(path: Path) -> Any:
    try:
        from safetensors import safe_open
    except ImportError:
        raise InputError(
            path,
            "is a safetensors file but safetensors is not installed; "
            "pip install 'predaudit[safetensors]'",
        ) from None
    try:
        return safe_open(str(path), framework="np")
    except Exception as exc:  # SafetensorError: header too large, invalid JSON, …
        raise InputError(path, f"is not a valid safetensors file ({_short(exc)})") from exc


def safetensors_keys(path: Path) -> list[str] | None:
    """The tensor names of a file, from its header (None when it cannot be read)."""
    try:
        return sorted(read_header(path)[1])
    except (InputError, OSError):
        return None


class SafetensorsContainer(Container):
    """A ``.safetensors`` file; tensors are read one at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._start, self._tensors = read_header(path)  # before safetensors maps the file
        with _safe_open(path) as f:
            self._keys = list(f.keys())
        self._shapes = {k: self._tensors[k].shape for k in self._keys}
        self._dtypes = {k: _DTYPES[self._tensors[k].dtype] for k in self._keys}

    def keys(self) -> list[str]:
        return list(self._keys)

    def shape(self, key: str) -> tuple[int, ...]:
        return self._shapes[key]

    def dtype_name(self, key: str) -> str:
        return self._dtypes[key]

    def _check_size(self, key: str) -> None:
        """The file must still hold the tensor's bytes (one that shrank since it was
        opened is an input error, not a SIGBUS in safetensors' memory map)."""
        size = check_regular(self.path).st_size
        end = self._start + self._tensors[key].end
        if size < end:
            raise InputError(
                self.path,
                f"changed while being read: it now holds {size} bytes, "
                f"tensor '{key}' ends at byte {end}",
            )

    def read(self, key: str) -> np.ndarray:
        self._check_size(key)
        if self._dtypes[key] == BF16:
            return self._read_bf16(key)
        try:
            with _safe_open(self.path) as f:
                return np.asarray(f.get_tensor(key))
        except InputError:
            raise
        except Exception as exc:
            raise InputError(
                self.path, f"is corrupt: tensor '{key}' cannot be read ({_short(exc)})"
            ) from exc

    def _read_bf16(self, key: str) -> np.ndarray:
        """The raw bit patterns of a bfloat16 tensor, from the header's byte offsets."""
        t = self._tensors[key]
        with open(self.path, "rb") as fp:
            fp.seek(self._start + t.start)
            data = fp.read(t.end - t.start)
        if len(data) != t.end - t.start:
            raise InputError(self.path, f"changed while being read: tensor '{key}' is short")
        return np.frombuffer(data, dtype="<u2").reshape(t.shape)


def open_safetensors(path: Path) -> SafetensorsContainer:
    return SafetensorsContainer(path)
