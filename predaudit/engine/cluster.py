"""The Dask engine: one task per (epoch, row range) on a ``distributed`` cluster.

Workers open the files themselves (:func:`predaudit.engine.rows.run_task`: a ``.npy``
memory map or zarr chunks for their rows; the whole epoch for files that cannot be sliced)
and send back per-row results only; this process keeps labels and ids (read by its
``SplitReader``, O(N)) and assembles each epoch's statistics. An input error found on a
worker comes back as the same :class:`InputError`. Dask's own log lines and warnings are
silenced unless ``--debug``. Imported only with ``--engine dask``.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from typing import Any

import numpy as np

from predaudit.engine.rows import (
    ScoresSource,
    merge_evidence,
    merge_stats,
    plan,
    run_task,
    sliceable,
)
from predaudit.errors import InputError, OptionError
from predaudit.io.records import EpochPredictions
from predaudit.io.zarr_store import ZarrRows
from predaudit.reduce import EpochStats, KindEvidence, decide_kind
from predaudit.reduce.epoch import reduce_detect, reduce_scores, scan_kind
from predaudit.report.vocab import InputKind

ROWS_ENV = "PREDAUDIT_DASK_ROWS"
"""Environment variable: rows per task (default: about 64 MiB of scores, whole zarr chunks)."""

CONNECT_TIMEOUT = "10s"
_LOGGERS = ("distributed", "tornado", "asyncio", "bokeh")


class _Failed:
    """An input error on a worker, sent back as data (its path and problem) and raised here."""

    def __init__(self, path: str | None, problem: str) -> None:
        self.path, self.problem = path, problem


def _task(*args: Any) -> Any:
    try:
        return run_task(*args)
    except InputError as exc:
        return _Failed(exc.path, exc.problem)


def _quiet(debug: bool) -> None:
    if debug:
        return
    for name in _LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    warnings.filterwarnings("ignore", module=r"distributed(\..*)?")


def _rows_from_env() -> int | None:
    text = os.environ.get(ROWS_ENV, "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


class DaskEngine:
    """Reductions as tasks on the scheduler at ``address``, or on a ``LocalCluster`` of
    ``n_workers`` processes (default: one per core) started at the first split and closed by
    :meth:`close`. ``rows`` sets the rows per task (default :data:`ROWS_ENV`, else at most
    64 MiB of scores and two tasks per worker thread an epoch, in whole zarr chunks)."""

    def __init__(
        self,
        address: str | None = None,
        *,
        debug: bool = False,
        rows: int | None = None,
        n_workers: int | None = None,
    ) -> None:
        self.address = address
        self.debug = debug
        self.rows = rows if rows is not None else _rows_from_env()
        self.n_workers = n_workers
        self._client: Any = None
        self._cluster: Any = None
        self.tasks = 0
        """Tasks submitted so far (for tests and the benchmark)."""

    def client(self) -> Any:
        if self._client is not None:
            return self._client
        _quiet(self.debug)
        import dask
        from distributed import Client, LocalCluster

        level = logging.WARNING if self.debug else logging.CRITICAL
        dask.config.set({"distributed.admin.large-graph-warning-threshold": "1GB"})
        if self.address is not None:
            try:
                self._client = Client(self.address, timeout=CONNECT_TIMEOUT)
            except (OSError, TimeoutError, ValueError) as exc:
                raise OptionError(
                    f"--scheduler {self.address}: cannot reach the Dask scheduler ({exc})"
                ) from exc
        else:
            self._cluster = LocalCluster(
                n_workers=self.n_workers or os.cpu_count() or 1,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=level,
            )
            self._client = Client(self._cluster)
        return self._client

    def slots(self) -> int:
        """Worker threads of the cluster now (tasks that can run at once)."""
        workers = self.client().scheduler_info(n_workers=-1).get("workers", {})
        return max(1, sum(int(w.get("nthreads", 1)) for w in workers.values()))

    def for_split(self, layout: Any, reader: Any) -> DaskReducer:
        return DaskReducer(self, reader)

    def close(self) -> None:
        client, cluster = self._client, self._cluster
        self._client = self._cluster = None
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()


class DaskReducer:
    """The reductions of one split, each epoch cut into row ranges run as tasks."""

    def __init__(self, engine: DaskEngine, reader: Any) -> None:
        self.engine, self.reader = engine, reader

    def _source(self, ep: EpochPredictions) -> ScoresSource | None:
        """Where a worker finds ``ep``'s scores, as the reader found them; None for arrays
        held in this process (``from_arrays``, merged shards, long tables)."""
        r = self.reader
        if ep.path in r.layout.containers:
            return None
        key, index = None, None  # a file per epoch: the key found as the reader finds it
        if r.layout.stacked is not None:  # the reader's own record of the stacked array
            key = r._stacked_key
            index = None if r._stacked_single_epoch else ep.epoch - 1
        shape = tuple(ep.scores.shape)
        return ScoresSource(ep.path, key, index, r._tokens, shape, ep.scores_dtype)

    def _ranges(self, ep: EpochPredictions) -> list[tuple[int, int]]:
        n = int(ep.scores.shape[0])
        if not sliceable(ep.scores):
            return [(0, n)]
        width = math.prod(int(s) for s in ep.scores.shape[1:])
        align = ep.scores.row_chunk if isinstance(ep.scores, ZarrRows) else 1
        slots = self.engine.slots()
        size = ep.scores.dtype.itemsize
        return plan(n, width, size, rows=self.engine.rows, align=align, at_least=2 * slots)

    def _run(
        self,
        ep: EpochPredictions,
        src: ScoresSource,
        mode: str,
        kind: str | None,
        clip: float | None,
    ) -> list[Any]:
        client = self.engine.client()
        none = np.empty(0)  # a scan reads no labels
        futures = [
            client.submit(
                _task,
                src,
                a,
                b,
                none if mode == "scan" else ep.labels[a:b],
                mode,
                kind,
                clip,
                pure=False,
            )
            for a, b in self._ranges(ep)
        ]
        self.engine.tasks += len(futures)
        results = client.gather(futures)
        for r in results:
            if isinstance(r, _Failed):
                raise InputError(r.path, r.problem)
        return list(results)

    def detect(
        self, ep: EpochPredictions, *, threads: int | None, clip: float | None
    ) -> tuple[InputKind, EpochStats, KindEvidence]:
        src = self._source(ep)
        if src is None:
            return reduce_detect(
                ep.scores, ep.labels, dtype=ep.scores_dtype, threads=threads, clip=clip
            )
        if ep.scores.ndim == 1:
            ev = self.scan(ep, threads=threads)
            chosen = decide_kind(ev, binary=True)
            return chosen, self.scores(ep, kind=chosen, threads=threads, clip=clip), ev
        parts = self._run(ep, src, "detect", None, clip)
        found = merge_evidence([ev for _, ev in parts])
        stats = merge_stats([st for st, _ in parts])
        chosen = decide_kind(found, binary=False)
        if chosen != "logits" and not found.n_nonfinite:
            stats = merge_stats(self._run(ep, src, "scores", chosen, clip))
        return chosen, stats, found

    def scores(
        self, ep: EpochPredictions, *, kind: str, threads: int | None, clip: float | None
    ) -> EpochStats:
        src = self._source(ep)
        if src is None:
            return reduce_scores(
                ep.scores, ep.labels, kind=kind, dtype=ep.scores_dtype, threads=threads, clip=clip
            )
        return merge_stats(self._run(ep, src, "scores", kind, clip))

    def scan(self, ep: EpochPredictions, *, threads: int | None) -> KindEvidence:
        src = self._source(ep)
        if src is None:
            return scan_kind(ep.scores, dtype=ep.scores_dtype, threads=threads)
        return merge_evidence(self._run(ep, src, "scan", None, None))
