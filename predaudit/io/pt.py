"""PyTorch ``.pt``/``.pth`` files, loaded with ``weights_only=True`` (the optional extra)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from predaudit.errors import InputError
from predaudit.io.container import Container, _short
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
                self._arrays[str(k)] = v
            elif isinstance(v, list | tuple) and v and all(isinstance(x, int | float) for x in v):
                self._arrays[str(k)] = torch.tensor(v)

    def _load(self, torch: Any) -> Any:
        """``torch.load`` memory-mapped (zip format) or not (legacy format), weights only."""
        try:
            try:
                return torch.load(self.path, weights_only=True, map_location="cpu", mmap=True)
            except RuntimeError as exc:
                if not _is_legacy_format_error(exc):
                    raise
            # The legacy (non-zip) serialisation cannot be memory-mapped.
            return torch.load(self.path, weights_only=True, map_location="cpu")
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

    def read(self, key: str) -> np.ndarray:
        return self._to_numpy(self._arrays[key])

    def iter_rows(self, key: str) -> Iterator[np.ndarray]:
        t = self._arrays[key]
        for i in range(t.shape[0]):
            yield self._to_numpy(t[i])


def open_pt(path: Path) -> PtContainer:
    return PtContainer(path, key_from_stem(strip_epoch(path.stem)) or "scores")
