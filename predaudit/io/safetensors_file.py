"""``.safetensors`` files (the ``safetensors`` extra, imported only when such a file is read).

Read with ``safe_open(framework="np")``: no torch, no pickle. The same keys as an
``.npz`` (``logits``, ``labels``, ``ids`` …); bfloat16 tensors, which numpy
cannot hold, arrive as their ``uint16`` bit patterns named ``bfloat16``.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np

from predaudit.dtypes import BF16
from predaudit.errors import InputError
from predaudit.io.container import Container, _short

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
    """The tensor names of a file, from its header (None when safetensors is not installed)."""
    try:
        with _safe_open(path) as f:
            return list(f.keys())
    except InputError:
        return None


class SafetensorsContainer(Container):
    """A ``.safetensors`` file; tensors are read one at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with _safe_open(path) as f:
            self._keys = list(f.keys())
            self._shapes = {}
            self._dtypes = {}
            for k in self._keys:
                sl = f.get_slice(k)
                self._shapes[k] = tuple(int(s) for s in sl.get_shape())
                raw = sl.get_dtype()
                self._dtypes[k] = _DTYPES.get(raw, raw.lower())

    def keys(self) -> list[str]:
        return list(self._keys)

    def shape(self, key: str) -> tuple[int, ...]:
        return self._shapes[key]

    def dtype_name(self, key: str) -> str:
        return self._dtypes[key]

    def read(self, key: str) -> np.ndarray:
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
        with open(self.path, "rb") as fp:
            (n,) = struct.unpack("<Q", fp.read(8))
            header = json.loads(fp.read(n))
            start, end = header[key]["data_offsets"]
            fp.seek(8 + n + start)
            data = fp.read(end - start)
        return np.frombuffer(data, dtype="<u2").reshape(self._shapes[key])


def open_safetensors(path: Path) -> SafetensorsContainer:
    return SafetensorsContainer(path)
