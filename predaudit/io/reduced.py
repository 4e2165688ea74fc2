"""Pre-reduced records: per-sample rows ``epoch, id, loss, correct`` (or ``pred`` + ``label``).

A table or ``.npz`` whose columns are a per-sample ``loss`` and ``correct`` (or
``pred`` and a label column instead of ``correct``), with optional ``epoch`` (or
``step``), an id column, ``p_true``, ``confidence`` and ``margin``, is the store's
own content: it becomes the per-sample statistics without a reduction. Checked
here like any input: equal column lengths, one row per id and epoch, the same ids
at every epoch, a label that does not change for an id.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from predaudit.errors import InputError
from predaudit.io.container import Container
from predaudit.io.discover import SplitLayout
from predaudit.io.formats import open_container
from predaudit.io.naming import ID_KEYS, LABEL_KEYS, SCORE_KEYS
from predaudit.io.validate import _show, check_finite_ids, not_numbers
from predaudit.report.vocab import IGNORE_INDEX, EpochUnit
from predaudit.text import plural

OPTIONAL = ("p_true", "confidence", "margin")


@dataclass
class ReducedRecords:
    """Per-sample columns ``[E, N]`` in canonical order (sorted ids, else file order)."""

    path: Path
    epochs: list[int]
    epoch_unit: EpochUnit
    ids: np.ndarray | None
    loss: np.ndarray
    correct: np.ndarray
    pred: np.ndarray | None
    labels: np.ndarray | None
    extra: dict[str, np.ndarray]
    dtype: str
    aligned: bool


def is_records(c: Container) -> bool:
    keys = c.keys()
    return "loss" in keys and not any(k in SCORE_KEYS for k in keys)


def read_reduced(layout: SplitLayout) -> ReducedRecords | None:
    """The records of a split held in one records file; None when the split holds scores."""
    if layout.stacked is None:
        return None
    path = layout.stacked
    c = layout.containers.get(path) or open_container(path)
    try:
        if not is_records(c):
            return None
        return _read(c, path)
    finally:
        c.close()


def _one_of(c: Container, keys: tuple[str, ...], what: str) -> str | None:
    found = [k for k in c.keys() if k in keys]
    if len(found) > 1:
        raise InputError(c.path, f"holds several {what} columns ({', '.join(found)}); keep one")
    return found[0] if found else None


def _read(c: Container, path: Path) -> ReducedRecords:
    cols: dict[str, np.ndarray] = {}
    names = {
        "loss": "loss",
        "correct": "correct" if "correct" in c.keys() else None,
        "pred": "pred" if "pred" in c.keys() else None,
        "label": _one_of(c, LABEL_KEYS, "label"),
        "id": _one_of(c, ID_KEYS, "id"),
        "epoch": _one_of(c, ("epoch", "step"), "epoch"),
        **{k: (k if k in c.keys() else None) for k in OPTIONAL},
    }
    for role, key in names.items():
        if key is not None:
            arr = np.asarray(c.read(key))
            if arr.ndim != 1:
                raise InputError(
                    path, f"column '{key}' has shape {arr.shape}; expected one row each"
                )
            cols[role] = arr
    lengths = {names[r]: a.shape[0] for r, a in cols.items()}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{k} {n}" for k, n in lengths.items())
        raise InputError(path, f"columns have different lengths ({detail})")
    if "correct" not in cols and not ("pred" in cols and "label" in cols):
        raise InputError(
            path,
            "holds per-sample losses but neither a correct column nor pred and label columns; "
            "give correct, or pred and label",
        )
    for role in ("loss", *OPTIONAL):
        if role in cols and cols[role].dtype.kind not in "fiu":
            raise InputError(
                path, f"column '{names[role]}' holds {not_numbers(cols[role])}; expected numbers"
            )
    for role in ("pred", "label", "epoch", "correct"):
        if role in cols:
            a = cols[role]
            if a.dtype.kind not in "biuf" or (a.dtype.kind == "f" and not np.all(a == np.round(a))):
                held = not_numbers(a, integers=True)
                raise InputError(path, f"column '{names[role]}' holds {held}; expected integers")
            cols[role] = a.astype(np.int64) if role != "correct" else a.astype(bool)
    if (
        "correct" in cols
        and not np.isin(np.asarray(c.read("correct")).astype(np.float64), (0, 1)).all()
    ):
        raise InputError(path, "column 'correct' holds values other than 0/1 (or true/false)")
    _check_values(path, cols)
    n_rows = cols["loss"].shape[0]
    epoch_col = cols.get("epoch", np.ones(n_rows, dtype=np.int64))
    epochs = [int(e) for e in np.unique(epoch_col)]
    per_epoch = [np.flatnonzero(epoch_col == e) for e in epochs]
    ids = cols.get("id")
    if ids is not None:
        check_finite_ids(ids, path)
        per_epoch = _align_by_id(path, epochs, per_epoch, ids, cols.get("label"))
    else:
        n0 = per_epoch[0].size
        for e, rows in zip(epochs, per_epoch, strict=True):
            if rows.size != n0:
                raise InputError(
                    path, f"epoch {e} has {rows.size} rows but epoch {epochs[0]} has {n0}"
                )
    idx = np.stack(per_epoch)
    labels = cols["label"][idx] if "label" in cols else None
    aligned = True
    if ids is None and labels is not None:
        aligned = bool((labels == labels[0]).all())
    pred = cols["pred"][idx] if "pred" in cols else None
    correct = cols["correct"][idx] if "correct" in cols else None
    if correct is None:
        assert pred is not None and labels is not None
        correct = pred == labels
    if labels is not None and "label" in cols:
        bad = (labels != IGNORE_INDEX) & (labels < 0)
        if bad.any():
            raise InputError(
                path,
                f"{plural(int(bad.sum()), 'label')} below 0; only -100 may mark an ignored sample",
            )
    return ReducedRecords(
        path=path,
        epochs=epochs,
        epoch_unit="step" if names["epoch"] == "step" else "epoch",
        ids=ids[per_epoch[0]] if ids is not None else None,
        loss=cols["loss"][idx].astype(np.float64),
        correct=correct,
        pred=pred,
        labels=labels,
        extra={k: cols[k][idx].astype(np.float64) for k in OPTIONAL if k in cols},
        dtype=str(cols["loss"].dtype),
        aligned=aligned,
    )


def _align_by_id(
    path: Path,
    epochs: list[int],
    per_epoch: list[np.ndarray],
    ids: np.ndarray,
    labels: np.ndarray | None,
) -> list[np.ndarray]:
    """Each epoch's rows in the order of its sorted ids, which must be the same at every epoch."""
    out = []
    ref = None
    for e, rows in zip(epochs, per_epoch, strict=True):
        order = rows[np.argsort(ids[rows], kind="stable")]
        sorted_ids = ids[order]
        dup = sorted_ids[1:][sorted_ids[1:] == sorted_ids[:-1]]
        if dup.size:
            raise InputError(
                path,
                f"sample ids have {plural(int(dup.size), 'duplicated value')} at epoch {e} "
                f"(e.g. {_show(dup[0])}); each sample needs one row per epoch",
            )
        if ref is None:
            ref = sorted_ids
        elif not np.array_equal(sorted_ids, ref):
            missing = np.setdiff1d(ref, sorted_ids)
            extra = np.setdiff1d(sorted_ids, ref)
            detail = "; ".join(
                f"{vals.size} {what}, e.g. {_show(vals[0])}"
                for what, vals in (("missing", missing), ("new", extra))
                if vals.size
            )
            raise InputError(
                path, f"the sample ids differ between epochs {epochs[0]} and {e} ({detail})"
            )
        elif labels is not None and not np.array_equal(labels[order], labels[out[0]]):
            changed = labels[order] != labels[out[0]]
            raise InputError(
                path,
                f"{plural(int(changed.sum()), 'sample')} "
                f"{'changes' if changed.sum() == 1 else 'change'} label between epochs "
                f"{epochs[0]} and {e} (e.g. id {_show(ref[np.flatnonzero(changed)[0]])})",
            )
        out.append(order)
    return out


_TOL = 1e-6
"""A loss may lie this far below 0, a probability this far outside [0, 1] (rounding)."""


def _check_values(path: Path, cols: dict[str, np.ndarray]) -> None:
    """The values of the rows that count (not labelled -100; without labels, a NaN loss
    marks an ignored row): a finite loss of at least 0 nats, and ``p_true`` and
    ``confidence`` in [0, 1] where given (NaN: not known for that row)."""
    loss = cols["loss"].astype(np.float64)
    if "label" in cols:
        counts = cols["label"] != IGNORE_INDEX
        nan = counts & np.isnan(loss)
        _refuse(path, "loss", nan, loss, "is NaN on", "give the loss, or label the sample -100")
    else:
        counts = ~np.isnan(loss)
    _refuse(
        path,
        "loss",
        counts & np.isinf(loss),
        loss,
        "is infinite on",
        "a loss is a finite number of nats",
    )
    _refuse(path, "loss", counts & (loss < -_TOL), loss, "is negative on", "a loss is ≥ 0 nats")
    for role in ("p_true", "confidence"):
        if role in cols:
            p = cols[role].astype(np.float64)
            outside = counts & ((p < -_TOL) | (p > 1 + _TOL) | np.isinf(p))
            _refuse(path, role, outside, p, "lies outside [0, 1] on", "it is a probability")


def _refuse(
    path: Path, role: str, bad: np.ndarray, values: np.ndarray, what: str, rule: str
) -> None:
    """An input error naming the column, how many rows are ``bad`` and the first, if any."""
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            path,
            f"column '{role}' {what} {plural(int(bad.sum()), 'row')} (e.g. {values[i]:.6g} at "
            f"row {i}); {rule}",
        )
