"""Validation at the boundary: one place checks labels, ids and score dtypes and says what it got.

Readers hand arrays here; what passes is well-formed, so the core trusts it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from predaudit.dtypes import BF16, describe_dtype
from predaudit.errors import InputError
from predaudit.io.container import Container
from predaudit.io.naming import LABEL_KEYS, SCORE_KEYS
from predaudit.io.npy import NpyContainer
from predaudit.report.vocab import IGNORE_INDEX, LabelFormat
from predaudit.text import plural


def _is_numeric(dtype_name: str) -> bool:
    if dtype_name == BF16:
        return True
    try:
        dt = np.dtype(dtype_name)
    except TypeError:
        return False
    return dt.kind in "fiu"


def _find_key(c: Container, keys: tuple[str, ...], what: str) -> str | None:
    found = [k for k in c.keys() if k in keys]
    if len(found) > 1:
        raise InputError(c.path, f"holds several {what} arrays ({', '.join(found)}); keep one")
    return found[0] if found else None


def _scores_key(c: Container) -> str:
    if isinstance(c, NpyContainer):
        return c.keys()[0]
    key = _find_key(c, SCORE_KEYS, "score")
    if key is None:
        raise InputError(
            c.path,
            f"holds no scores: none of the keys {', '.join(SCORE_KEYS)} "
            f"(found: {', '.join(c.keys()) or 'nothing'})",
        )
    return key


def _as_labels(raw: np.ndarray, path: Path, n_classes: int) -> tuple[np.ndarray, LabelFormat]:
    """Validate labels; return them (int64 indices or float64 targets) and their format."""
    dtype = raw.dtype
    if dtype.kind not in "fiub":
        raise InputError(
            path, f"labels have the unsupported dtype {describe_dtype(dtype)}; expected integers"
        )
    arr = np.asarray(raw)
    if arr.ndim == 1:
        as_float = arr.astype(np.float64)
        if not np.all(np.isfinite(as_float)):
            raise InputError(path, "labels contain NaN or infinite values")
        if np.any(as_float != np.round(as_float)):
            raise InputError(path, "labels are not integers (class indices expected)")
        labels = as_float.astype(np.int64)
        bad = (labels != IGNORE_INDEX) & ((labels < 0) | (labels >= n_classes))
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            n_bad = int(bad.sum())
            raise InputError(
                path,
                f"{plural(n_bad, 'label')} {'is' if n_bad == 1 else 'are'} outside "
                f"[0, {n_classes}) (e.g. {labels[first]} at row {first}); "
                "only -100 may mark an ignored sample",
            )
        return labels, "index"
    if arr.ndim == 2:
        targets = arr.astype(np.float64)
        if targets.shape[1] != n_classes:
            raise InputError(
                path, f"labels have {targets.shape[1]} columns but scores have {n_classes} classes"
            )
        if not np.all(np.isfinite(targets)) or np.any(targets < 0):
            raise InputError(path, "label rows must be non-negative probabilities")
        sums = targets.sum(axis=1)
        if np.any(np.abs(sums - 1.0) > 1e-3):
            row = int(np.flatnonzero(np.abs(sums - 1.0) > 1e-3)[0])
            raise InputError(
                path, f"label row {row} sums to {sums[row]:.4g}; one-hot or soft rows must sum to 1"
            )
        one_hot = bool(np.all((targets == 0) | (targets == 1)))
        return targets, "one_hot" if one_hot else "soft"
    raise InputError(path, f"labels have rank {arr.ndim}; expected [N] or [N, C]")


def _check_ids(ids: np.ndarray, path: Path, n: int) -> np.ndarray:
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise InputError(path, f"sample ids have rank {ids.ndim}; expected [N]")
    if ids.shape[0] != n:
        raise InputError(path, f"sample ids has {ids.shape[0]} rows but scores have {n}")
    if ids.dtype.kind not in "iuU" and ids.dtype.kind != "f":
        raise InputError(path, f"sample ids have the unsupported dtype {ids.dtype}")
    check_finite_ids(ids, path)
    uniq, counts = np.unique(ids, return_counts=True)
    if uniq.shape[0] != n:
        dup = uniq[counts > 1]
        n_dup = int((counts - 1).sum())
        raise InputError(
            path,
            f"sample ids have {plural(n_dup, 'duplicated value')} (e.g. {_show(dup[0])}); "
            "each sample needs its own id",
        )
    return ids


def check_finite_ids(ids: np.ndarray, path: Path | str) -> None:
    """Raise :class:`InputError` if float ids hold NaN or ±inf: such an id names no sample
    (NaN is not even equal to itself), so rows could not be followed by it."""
    if ids.dtype.kind != "f":
        return
    bad = np.flatnonzero(~np.isfinite(ids))
    if bad.size:
        raise InputError(
            path,
            f"sample ids hold {plural(int(bad.size), 'non-finite value')} (e.g. "
            f"{_show(ids[bad[0]])} at row {int(bad[0])}); each sample needs a number or "
            "text as its id",
        )


def not_numbers(column: np.ndarray, *, integers: bool = False) -> str:
    """What a column that should hold numbers (``integers``: whole numbers) holds instead,
    by its first such value: ``text ('cat' at row 3)``, ``2.5 at row 7`` (rows from 0)."""
    flat = column.reshape(-1)  # (a column: one value a row)
    if flat.dtype.kind in "biuf":
        bad = np.flatnonzero(flat != np.round(flat)) if flat.dtype.kind == "f" else None
        if bad is not None and bad.size:
            return f"{_show(flat[bad[0]])} at row {int(bad[0])}"
        return str(flat.dtype)  # a kind refused as a whole (a bool column of losses)
    what = "text" if flat.dtype.kind in "US" else str(flat.dtype)
    for row, value in enumerate(flat.tolist()):
        try:
            number = float(value)
            ok = not integers or number.is_integer()
        except (TypeError, ValueError):
            ok = False
        if not ok:
            return f"{what} ({_show(value)} at row {row})"
    return f"{what} ({_show(flat[0])} at row 0)" if flat.size else what


def _show(value: object) -> str:
    """A numpy scalar as a user wrote it: ``12`` or ``'a12'``, not ``np.int64(12)``."""
    item = value.item() if isinstance(value, np.generic) else value
    return repr(item)


def _n_changed(a: np.ndarray, b: np.ndarray) -> int:
    diff = a != b
    return int(diff.any(axis=1).sum()) if diff.ndim == 2 else int(diff.sum())


def _first_changed(a: np.ndarray, b: np.ndarray) -> int:
    diff = a != b
    if diff.ndim == 2:
        diff = diff.any(axis=1)
    return int(np.flatnonzero(diff)[0])


def _no_labels(c: Container, where: str = "save labels.npy beside it") -> str:
    """``has scores but no labels: none of the keys labels, … (found: logits); …``."""
    found = ", ".join(k for k in c.keys() if not k.startswith("__")) or "nothing"
    return (
        f"has scores but no labels: none of the keys {', '.join(LABEL_KEYS)} "
        f"(found: {found}); {where}"
    )


def check_scores_dtype(path: Path, key: str, dtype: str, shape: tuple[int, ...]) -> None:
    if not _is_numeric(dtype):
        raise InputError(
            path,
            f"scores '{key}' have the unsupported dtype {describe_dtype(dtype)}; "
            "expected real numbers",
        )
    if len(shape) > 3:
        raise InputError(
            path,
            f"scores '{key}' have shape {tuple(shape)} (rank {len(shape)}); expected "
            "[epochs, samples, classes], [epochs, samples], [samples, classes] or [samples]",
        )
    if len(shape) == 0:
        raise InputError(path, f"scores '{key}' are a single number; expected an array")
    if 0 in shape:
        raise InputError(path, f"scores '{key}' are empty: shape {tuple(shape)}")


def refuse_square_one_hot(labels: np.ndarray, where: str) -> None:
    """Integer labels ``[a, b]`` beside scores ``[a, b]`` whose rows are one-hot are ambiguous:
    one-hot labels of ``a`` samples, or per-epoch labels of ``a`` epochs of ``b`` binary
    samples. Refuse rather than guess."""
    a, b = labels.shape
    one_hot = bool(np.all((labels == 0) | (labels == 1))) and bool(np.all(labels.sum(axis=1) == 1))
    if b > 1 and one_hot:
        raise InputError(
            where,
            f"integer labels of shape ({a}, {b}) beside scores of shape ({a}, {b}) could be "
            f"one-hot labels of {a} samples of {b} classes or per-epoch labels of {a} epochs of "
            f"{b} binary samples; save class indices [N] (or one-hot rows as floats), or one "
            "label file per epoch",
        )


def refuse_late_ids(first: Path | None, path: Path, epoch: int, first_epoch: int) -> None:
    """Ids that appear after an epoch without them cannot align that epoch: refuse."""
    raise InputError(
        f"{first}, {path}" if first is not None and path != first else path,
        f"epoch {epoch} has sample ids but epoch {first_epoch} has none; "
        "save the ids at every epoch",
    )
