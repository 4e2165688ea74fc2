"""One task of the reduction: open a file, read a row range of one epoch, reduce it.

This is what a Dask worker runs (:mod:`predaudit.engine.cluster`); it imports no Dask, so
it is tested on its own. A task re-opens the file itself with the readers of
:mod:`predaudit.io` (the same validators: a bad chunk is the same :class:`InputError`
naming the file) and returns only per-row results, which :func:`merge_stats` assembles
into the epoch's :class:`~predaudit.reduce.EpochStats`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from predaudit.errors import InputError
from predaudit.io.formats import open_container
from predaudit.io.validate import _scores_key, check_scores_dtype
from predaudit.io.zarr_store import ZarrRows
from predaudit.reduce import EpochStats, KindEvidence, reduce_detect, reduce_scores, scan_kind

TASK_BYTES = 64 * 2**20
"""Scores one task reads by default (64 MiB): about 1.6 million rows of 10 float32 classes."""


@dataclass(frozen=True)
class ScoresSource:
    """Where one epoch's scores lie: ``path``, its scores ``key`` (None: found as the reader
    finds it), ``index`` along a stacked array's first axis (None: the file holds one epoch),
    ``tokens`` (T of ``[S, T, C]`` read as ``S·T`` rows) and the ``shape`` the reader gave
    (``[N, C]`` or ``[N]``), which the worker's view must match."""

    path: Path
    key: str | None
    index: int | None
    tokens: int | None
    shape: tuple[int, ...]
    dtype: str


def sliceable(scores: Any) -> bool:
    """Whether ``scores`` read lazily (a memory map or a zarr view): then a task reads a row
    range of the file; otherwise (compressed ``.npz``, ``.pt``, ``.jsonl``, ``.safetensors``)
    a task reads the whole epoch."""
    if isinstance(scores, ZarrRows | np.memmap):
        return True
    base = getattr(scores, "base", None)
    while base is not None:
        if isinstance(base, np.memmap):
            return True
        base = getattr(base, "base", None)
    return False


def epoch_view(src: ScoresSource) -> tuple[Any, Any]:
    """The epoch's scores as the reader shapes them (``[N, C]`` or ``[N]``), still lazy for
    ``.npy`` and zarr, and the open container (close it after)."""
    c = open_container(src.path)
    try:
        key = src.key or _scores_key(c)
        check_scores_dtype(src.path, key, c.dtype_name(key), c.shape(key))
        x = c.read(key)
        if src.index is not None:
            x = x[src.index]
        if src.tokens is not None:
            s, t, k = x.shape
            x = x.reshape(s * t, k)
        if x.ndim == 2 and x.shape[1] == 1:
            x = x[:, 0]
        if x.ndim == 3 and x.shape[0] == 1:
            x = x[0]
    except BaseException:
        c.close()
        raise
    if tuple(x.shape) != tuple(src.shape) or c.dtype_name(key) != src.dtype:
        c.close()
        raise InputError(
            src.path,
            f"changed while being read: scores of shape {tuple(x.shape)} ({c.dtype_name(key)}) "
            f"where the reader saw {tuple(src.shape)} ({src.dtype})",
        )
    return x, c


def run_task(
    src: ScoresSource,
    a: int,
    b: int,
    labels: np.ndarray,
    mode: str,
    kind: str | None,
    clip: float | None,
) -> Any:
    """Rows ``a:b`` of the epoch at ``src``, reduced.

    ``mode`` is ``"scan"`` (score-kind evidence: :func:`~predaudit.reduce.scan_kind`),
    ``"detect"`` (statistics as logits and the evidence: ``(EpochStats, KindEvidence)``) or
    ``"scores"`` (statistics as ``kind``). ``labels`` are the rows' labels ``[b - a]`` or
    ``[b - a, C]``.
    """
    view, c = epoch_view(src)
    try:
        rows = view[a:b]
        rows = np.asarray(rows)
    finally:
        del view
        c.close()
    dtype = src.dtype
    if mode == "scan":
        return scan_kind(rows, dtype=dtype, threads=1)
    if mode == "detect":
        _, st, ev = reduce_detect(rows, labels, kind="logits", dtype=dtype, threads=1, clip=clip)
        return st, ev
    assert kind is not None
    return reduce_scores(rows, labels, kind=kind, dtype=dtype, threads=1, clip=clip)


def plan(
    n: int, width: int, itemsize: int, *, rows: int | None, align: int, at_least: int = 1
) -> list[tuple[int, int]]:
    """Row ranges ``(a, b)`` covering ``0..n``: ``rows`` each, or at most :data:`TASK_BYTES`
    of scores and at least ``at_least`` ranges (every worker busy on one epoch); a multiple
    of ``align`` rows (a zarr chunk) where possible."""
    if rows is not None:
        per = rows
    else:
        per = min(TASK_BYTES // max(1, width * itemsize), -(-n // max(1, at_least)))
    per = max(align, per // align * align) if align > 1 else max(1, per)
    return [(a, min(n, a + per)) for a in range(0, n, per)]


def merge_evidence(parts: list[KindEvidence]) -> KindEvidence:
    """The evidence of the whole epoch from its row ranges' (every field is a min, max or sum
    over rows, so the merge is exact)."""
    return KindEvidence(
        min=min(p.min for p in parts),
        max=max(p.max for p in parts),
        max_rowsum_dev=max(p.max_rowsum_dev for p in parts),
        max_lse_abs=max(p.max_lse_abs for p in parts),
        n_nonfinite=sum(p.n_nonfinite for p in parts),
    )


def merge_stats(parts: list[EpochStats]) -> EpochStats:
    """One epoch's statistics from its row ranges' (in row order): rows concatenated,
    counts summed."""
    if len(parts) == 1:
        return parts[0]

    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(p, name) for p in parts])

    def total(name: str) -> int:
        return sum(int(getattr(p, name)) for p in parts)

    return EpochStats(
        loss=cat("loss"),
        pred=cat("pred"),
        correct=cat("correct"),
        p_true=cat("p_true"),
        confidence=cat("confidence"),
        margin=cat("margin"),
        n_clipped=total("n_clipped"),
        n_nonfinite=total("n_nonfinite"),
        n_dead_rows=total("n_dead_rows"),
        n_floored=total("n_floored"),
        n_outside=total("n_outside"),
        n_unnormalized=total("n_unnormalized"),
    )
