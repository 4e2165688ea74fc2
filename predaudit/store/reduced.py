"""Statistics that need no reduction: pre-reduced records, and the check on one-epoch splits."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from predaudit.errors import InputError
from predaudit.io.discover import SplitLayout
from predaudit.io.reduced import ReducedRecords
from predaudit.report.vocab import IGNORE_INDEX, REDUCED
from predaudit.store.stats import RunStats, SplitStats


def reduced_stats(layout: SplitLayout, rec: ReducedRecords) -> SplitStats:
    """The statistics of pre-reduced records, as they are (no reduction).

    Columns the records lack are NaN (``p_true``, ``confidence``, ``margin``) or -1
    (``pred``, ``labels``); ``n_classes`` is the largest class seen plus one (0 when
    there is neither ``pred`` nor a label).
    """
    shape = rec.loss.shape
    labels = rec.labels if rec.labels is not None else np.full(shape, -1, dtype=np.int64)
    valid = labels != IGNORE_INDEX if rec.labels is not None else ~np.isnan(rec.loss)
    if not valid.any(axis=1).all():
        e = rec.epochs[int(np.flatnonzero(~valid.any(axis=1))[0])]
        raise InputError(rec.path, f"every sample is ignored at epoch {e}")
    seen = [a[valid] for a in (rec.pred, rec.labels) if a is not None]
    n_classes = max((int(a.max()) + 1 for a in seen if a.size), default=0)
    nan = np.full(shape, np.nan)
    loss = np.where(valid, rec.loss, np.nan)
    return SplitStats(
        name=layout.name,
        epochs=list(rec.epochs),
        n_classes=max(n_classes, 2) if seen else 0,
        input_kind=REDUCED,
        kind_detected=True,
        label_format="index",
        dtype=rec.dtype,
        has_ids=rec.ids is not None,
        aligned=rec.aligned,
        n_clipped=0,
        files=[str(p) for p in layout.files],
        pattern=layout.pattern,
        ids=rec.ids,
        labels=labels,
        valid=valid,
        loss=loss,
        pred=rec.pred if rec.pred is not None else np.full(shape, -1, dtype=np.int64),
        correct=rec.correct & valid,
        p_true=rec.extra.get("p_true", nan),
        confidence=rec.extra.get("confidence", nan),
        margin=rec.extra.get("margin", nan),
        binary=False,
        epoch_unit=rec.epoch_unit,
    )


def check_not_one_epoch_splits(run: RunStats, path: Path) -> None:
    """Several one-epoch splits whose names differ only by a number are one run's epochs."""
    groups: dict[str, list[str]] = {}
    for name, s in run.splits.items():
        if len(s.epochs) == 1 and re.search(r"\d", name):
            groups.setdefault(re.sub(r"\d+", "N", name), []).append(name)
    for names in groups.values():
        if len(names) > 1:
            shown = ", ".join(names[:3]) + (" …" if len(names) > 3 else "")
            raise InputError(
                path,
                f"splits {shown} each hold one epoch and differ only by a number: they look "
                "like the evaluations of one run; name them checkpoint-N, step_N or epoch_N "
                "(folders or files) to read them as one split",
            )
