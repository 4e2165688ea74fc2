"""One reader per file format, behind a small ``Container`` interface.

Every reader refuses pickles: ``.npy``/``.npz`` are parsed with
``allow_pickle=False`` (object arrays are refused from the header, before any
data is read) and ``.pt`` files with ``torch.load(weights_only=True)``.

A container maps array keys to arrays. ``read(key)`` returns the whole array
(memory-mapped where the format allows it); ``iter_rows(key)`` yields the
slices ``array[0], array[1], ...`` one at a time, so that a stacked
``[E, N, C]`` array is never held in memory at once.
"""

from __future__ import annotations

import json
import re
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from predaudit.errors import InputError

SCORE_KEYS = ("logits", "outputs", "predictions", "preds", "probs", "scores", "log_probs")
LABEL_KEYS = ("labels", "targets", "y", "label_ids")
ID_KEYS = ("ids", "sample_ids", "indices", "guid")
ALL_KEYS = SCORE_KEYS + LABEL_KEYS + ID_KEYS

SUFFIXES = (".npy", ".npz", ".pt", ".pth", ".jsonl")

BF16 = "bfloat16"


def bf16_to_float32(raw: np.ndarray) -> np.ndarray:
    """Convert bfloat16 values stored as ``uint16`` bit patterns to float32."""
    return (np.asarray(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


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


def _check_dtype(path: Path, key: str, dtype: np.dtype) -> None:
    if dtype.hasobject:
        where = f"member '{key}' " if key else ""
        raise InputError(
            path, f"{where}holds Python objects (a pickle); refused, nothing was loaded"
        )


def _npy_header(fp: Any, path: Path, key: str) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """Read a ``.npy`` header from an open stream; return shape, order, dtype, data offset."""
    try:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
        else:
            shape, fortran, dtype = np.lib.format._read_array_header(fp, version)  # type: ignore[attr-defined]
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:  # damage inside a .npz
        raise InputError(
            path, f"is corrupt: member '{key}' cannot be read ({_short(exc)})"
        ) from exc
    except Exception as exc:  # numpy raises ValueError with varied texts
        what = "is not a valid .npy file" if not key else f"member '{key}' is not a valid array"
        raise InputError(path, f"{what} ({_short(exc)})") from exc
    _check_dtype(path, key, dtype)
    return tuple(int(s) for s in shape), bool(fortran), dtype, fp.tell()


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


def plural(n: int, singular: str, plural_form: str | None = None) -> str:
    """``plural(1, "label") == "1 label"``, ``plural(3, "label") == "3 labels"``."""
    return f"{n} {singular if n == 1 else (plural_form or singular + 's')}"


def describe_dtype(dtype: np.dtype | str) -> str:
    """A dtype as users read it: ``<U3`` -> ``text (<U3)``, ``complex64`` -> ``complex64``."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        return str(dtype)
    if dt.kind in "US":
        return f"text ({dt.str})"
    if dt.kind == "O":
        return "Python objects"
    if dt.kind == "V":
        return f"raw bytes ({dt.str})"
    if dt.kind == "M" or dt.kind == "m":
        return f"date/time ({dt})"
    return str(dt)


def key_from_stem(stem: str) -> str | None:
    """The array key a file name ends with (``test_logits`` -> ``logits``), longest first."""
    low = stem.lower()
    for key in sorted(ALL_KEYS, key=len, reverse=True):
        if low == key or low.endswith("_" + key) or low.endswith("-" + key):
            return key
    return None


class NpyContainer(Container):
    """A single ``.npy`` array, memory-mapped, under the key ``key``."""

    def __init__(self, path: Path, key: str) -> None:
        self.path = path
        self._key = key
        with open(path, "rb") as fp:
            shape, fortran, dtype, offset = _npy_header(fp, path, "")
        self._shape, self._dtype = shape, dtype
        expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        size = path.stat().st_size - offset
        if size < expected:
            raise InputError(
                path, f"is truncated: the header promises {expected} bytes of data, found {size}"
            )
        self._fortran = fortran
        self._offset = offset

    def keys(self) -> list[str]:
        return [self._key]

    def shape(self, key: str) -> tuple[int, ...]:
        return self._shape

    def dtype_name(self, key: str) -> str:
        return str(self._dtype)

    def read(self, key: str) -> np.ndarray:
        if int(np.prod(self._shape, dtype=np.int64)) == 0:
            return np.zeros(self._shape, dtype=self._dtype)
        try:
            return np.load(self.path, mmap_mode="r", allow_pickle=False)
        except Exception as exc:
            raise InputError(self.path, f"cannot be read as .npy ({_short(exc)})") from exc

    def iter_rows(self, key: str) -> Iterator[np.ndarray]:
        # Map one row at a time and drop the map afterwards, so pages read from a
        # huge file are released epoch by epoch (resident memory stays at one epoch).
        row_shape = self._shape[1:]
        row_bytes = int(np.prod(row_shape, dtype=np.int64)) * self._dtype.itemsize
        if self._fortran and len(self._shape) > 1:
            arr = self.read(key)
            for i in range(self._shape[0]):
                yield np.ascontiguousarray(arr[i])
            return
        for i in range(self._shape[0]):
            if row_bytes == 0:
                yield np.zeros(row_shape, dtype=self._dtype)
                continue
            mm = np.memmap(
                self.path,
                dtype=self._dtype,
                mode="r",
                offset=self._offset + i * row_bytes,
                shape=row_shape,
            )
            yield mm
            del mm  # the consumer drops its references too; the mapping then goes


class NpzContainer(Container):
    """A ``.npz`` archive; members are parsed with ``allow_pickle=False``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._zip = zipfile.ZipFile(path)
            names = self._zip.namelist()
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise InputError(path, f"is not a valid .npz archive ({_short(exc)})") from exc
        self._members: dict[str, str] = {}
        self._headers: dict[str, tuple[tuple[int, ...], bool, np.dtype, int]] = {}
        for name in names:
            key = name[:-4] if name.endswith(".npy") else name
            self._members[key] = name
            try:
                with self._zip.open(name) as fp:
                    self._headers[key] = _npy_header(fp, path, key)
            except InputError:
                raise
            except Exception as exc:
                raise InputError(
                    path, f"is corrupt: member '{key}' cannot be read ({_short(exc)})"
                ) from exc

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
        n = int(np.prod(shape, dtype=np.int64))
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
        row_n = int(np.prod(row_shape, dtype=np.int64))
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


_EPOCH_FIELD = re.compile(r"^logits_epoch_(\d+)$")


class JsonlContainer(Container):
    """Dataset Cartography's ``dynamics_epoch_N.jsonl``.

    One JSON object a line with the fields ``guid``, ``logits_epoch_N`` and ``gold``.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        guids: list[Any] = []
        logits: list[list[float]] = []
        gold: list[int] = []
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(path, f"cannot be read ({_short(exc)})") from exc
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(
                    path,
                    f"line {lineno} is not valid JSON "
                    f"({exc.msg.removesuffix(' at')} at column {exc.colno})",
                ) from exc
            if not isinstance(rec, dict):
                raise InputError(path, f"line {lineno} is not a JSON object")
            field = next((k for k in rec if _EPOCH_FIELD.match(k)), None)
            if field is None or "gold" not in rec or "guid" not in rec:
                raise InputError(
                    path, f"line {lineno} lacks one of the fields guid, logits_epoch_N, gold"
                )
            guids.append(rec["guid"])
            logits.append(rec[field])
            gold.append(rec["gold"])
        if not logits:
            raise InputError(path, "holds no records")
        lengths = [len(row) if isinstance(row, list) else -1 for row in logits]
        if len(set(lengths)) > 1:
            first = next(i for i, n in enumerate(lengths) if n != lengths[0])
            raise InputError(
                path,
                f"record {first + 1} has {max(lengths[first], 0)} logits but record 1 has "
                f"{max(lengths[0], 0)}; every record needs one logit per class",
            )
        try:
            self._scores = np.asarray(logits, dtype=np.float64)
            self._labels = np.asarray(gold, dtype=np.float64)
        except (ValueError, TypeError) as exc:
            raise InputError(path, f"logits or gold are not all numbers ({_short(exc)})") from exc
        if all(isinstance(g, int) for g in guids):
            self._ids = np.asarray(guids, dtype=np.int64)
        else:
            self._ids = np.asarray([str(g) for g in guids], dtype=str)

    def keys(self) -> list[str]:
        return ["logits", "labels", "ids"]

    def _get(self, key: str) -> np.ndarray:
        return {"logits": self._scores, "labels": self._labels, "ids": self._ids}[key]

    def shape(self, key: str) -> tuple[int, ...]:
        return tuple(self._get(key).shape)

    def dtype_name(self, key: str) -> str:
        return str(self._get(key).dtype)

    def read(self, key: str) -> np.ndarray:
        return self._get(key)


def open_container(path: Path) -> Container:
    """Open ``path`` with the reader its suffix names."""
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return NpyContainer(path, key_from_stem(_strip_epoch(path.stem)) or "scores")
    if suffix == ".npz":
        return NpzContainer(path)
    if suffix in (".pt", ".pth"):
        return PtContainer(path, key_from_stem(_strip_epoch(path.stem)) or "scores")
    if suffix == ".jsonl":
        return JsonlContainer(path)
    raise InputError(path, f"has an unknown format '{suffix}'")


_EPOCH_IN_NAME = re.compile(r"[_-]?epoch[_-]?(\d+)$", re.IGNORECASE)


def _strip_epoch(stem: str) -> str:
    return _EPOCH_IN_NAME.sub("", stem)
