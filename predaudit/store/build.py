"""From files or arrays to per-sample statistics: ``load_run(path)``, ``from_arrays(...)``.

For each split: read epochs one at a time (:mod:`predaudit.io`), detect or
confirm the score kind, reduce to per-sample statistics
(:mod:`predaudit.reduce`), and put every epoch's samples in the canonical
order (sorted sample ids, or file order without ids).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from predaudit.engine import current as current_engine
from predaudit.errors import InputError, OptionError
from predaudit.io.arrays import ARRAYS, arrays_layout
from predaudit.io.discover import SplitLayout, discover
from predaudit.io.load import SplitReader
from predaudit.io.records import SplitInfo
from predaudit.io.reduced import read_reduced
from predaudit.reduce import EpochStats
from predaudit.reduce.calibrate import calibrate_epoch
from predaudit.reduce.welford import welford_step
from predaudit.report.vocab import IGNORE_INDEX, KINDS, LAYOUTS, InputKind, Layout
from predaudit.store import cache
from predaudit.store.columns import ColumnWriter, ConstantRows, KeepEpochs, column_dtypes
from predaudit.store.kindcheck import check_clip, claim_error, kind_error, nonfinite_error
from predaudit.store.reduced import check_not_one_epoch_splits, reduced_stats
from predaudit.store.stats import (
    FIT_STATUS,
    TOTALS,
    RunStats,
    SplitSource,
    SplitStats,
    epoch_row_totals,
)
from predaudit.text import plural

ProgressFn = Callable[[str, int, int], None]
"""Called as ``progress(split_name, epochs_done, epochs_total)``."""


def compute_split(
    layout: SplitLayout,
    *,
    input_kind: InputKind | None = None,
    progress: ProgressFn | None = None,
    threads: int | None = None,
    calibration: bool | Sequence[float] = False,
    clip: float | None = None,
    spill: bool | None = None,
    keep: KeepEpochs | None = None,
) -> SplitStats:
    """Read and reduce one split. Raises :class:`InputError` on bad data.

    A given ``input_kind`` is checked against the data (probabilities in [0, 1] with
    rows summing to 1, log-probabilities at most 0). ``clip`` (0 < ε < 0.5) clips every
    probability to ``[ε, 1 − ε]`` before its log; without it losses are exact.

    ``calibration`` also fits a temperature per epoch (True) or takes one per epoch
    (a sequence), and stores the per-sample loss at it and the Brier score.

    The per-sample columns are written an epoch at a time and, for a large split (or
    with ``spill=True``), memory-mapped from a temporary file
    (:class:`~predaudit.store.columns.ColumnWriter`), so memory does not grow with the
    number of epochs; the per-epoch sums (``epoch_totals``) are taken as epochs pass.
    ``keep`` keeps only the columns of the epochs a command reads (:class:`KeepEpochs`).
    """
    if input_kind is not None and input_kind not in KINDS:
        raise ValueError(f"input_kind must be one of {KINDS}")
    clip = check_clip(clip)
    records = read_reduced(layout)
    if records is not None:
        if calibration is not False:
            raise InputError(
                records.path,
                "holds pre-reduced records (loss, correct); calibration needs the scores",
            )
        return reduced_stats(layout, records)
    reader = SplitReader(layout)
    info: SplitInfo = reader.info
    reducer = current_engine().for_split(layout, reader)
    kind = input_kind
    if kind is None and info.binary:
        # A single score is a probability only when every epoch lies in [0, 1]: the scan
        # stops at the first epoch outside (logits; a later NaN is found by the reduction).
        lo, hi = np.inf, -np.inf
        for ep in reader:
            ev = reducer.scan(ep, threads=threads)
            if ev.n_nonfinite:
                raise nonfinite_error(ep, None)
            lo, hi = min(lo, ev.min), max(hi, ev.max)
            kind = "probs" if lo >= 0.0 and hi <= 1.0 else "logits"
            if bad := claim_error(ep, kind, ev, single=True):  # a 'probs' above 1, say
                raise bad
            del ep  # release this epoch's scores before the reader maps the next
            if kind == "logits":
                break
    e_total, n = len(info.epochs), info.n_samples
    ids: np.ndarray | None = None
    n_clipped = n_floored = 0
    cal: dict[str, np.ndarray] | None = None
    if calibration is not False:
        if calibration is not True and len(list(calibration)) != e_total:  # type: ignore[arg-type]
            raise ValueError(f"calibration: {e_total} temperatures needed, one per epoch")
        cal = {
            "temperature": np.empty(e_total),
            "temperature_fit": np.empty((e_total, 2), dtype=np.int64),
        }
    columns = ColumnWriter(
        e_total, n, column_dtypes(info.dtype, calibration=cal is not None), spill=spill,
        keep=None if keep is None else keep.bind(list(info.epochs)),
    )  # fmt: skip
    totals = np.empty((e_total, len(TOTALS)))
    moments = np.zeros((2, n))
    valid_all = np.ones(n, dtype=bool)
    first_labels: np.ndarray | None = None
    labels_stable = True
    p_dtype = columns.dtypes["p_true"]
    constant = ConstantRows(columns, "labels", "valid", valid_of=lambda lab: lab != IGNORE_INDEX)
    first_kind_epoch = None
    first_kind_path: Path | None = None
    last_rows: tuple[Any, ...] = (None, None, None, None)  # labels, order, their rows, mask
    valid_before: np.ndarray | None = None
    # No enumerate(): its cached result tuple would keep the previous epoch alive while
    # the reader maps the next one.
    i = -1
    for ep in reader:
        i += 1
        st: EpochStats
        if not info.binary and input_kind is None:
            # One pass reduces as logits and gathers the kind evidence; probabilities and
            # log-probabilities take a second pass as that kind.
            seen, st, ev = reducer.detect(ep, threads=threads, clip=clip)
            if ev.n_nonfinite:
                raise nonfinite_error(ep, kind)
            if bad := claim_error(ep, seen, ev):  # a 'probs' key on logits, say
                raise bad
            if kind is None:
                kind, first_kind_epoch, first_kind_path = seen, ep.epoch, ep.path
            elif seen != kind:
                raise InputError(
                    ep.path if ep.path == first_kind_path else f"{first_kind_path}, {ep.path}",
                    f"scores look like {seen} at epoch {ep.epoch} but like {kind} at epoch "
                    f"{first_kind_epoch}; pass --input-kind to say which",
                )
        else:
            assert kind is not None
            st = reducer.scores(ep, kind=kind, threads=threads, clip=clip)
        if st.n_nonfinite:
            raise nonfinite_error(ep, kind)
        if input_kind is not None and (bad := kind_error(ep.path, ep.epoch, input_kind, st)):
            raise bad
        if st.n_dead_rows:
            n_dead = st.n_dead_rows
            raise InputError(
                ep.path,
                f"{plural(n_dead, 'row')} {'has' if n_dead == 1 else 'have'} every class at -inf "
                f"at epoch {ep.epoch}; at least one class must be possible",
            )
        lab = ep.labels.argmax(axis=1) if ep.labels.ndim == 2 else ep.labels
        order = ep.order if ep.order is not None else slice(None)
        if lab is not last_rows[0] or ep.order is not last_rows[1]:  # the reader's labels and
            row_labels = lab[order]  # order are the same objects while an epoch repeats them
            valid_i = row_labels != IGNORE_INDEX
            last_rows = (lab, ep.order, row_labels, valid_i)
        else:
            row_labels, valid_i = last_rows[2], last_rows[3]
        loss_i, correct_i = st.loss[order], st.correct[order]
        totals[i] = epoch_row_totals(loss_i, correct_i, valid_i, threads=threads)
        columns.start_epoch(i, totals)
        p_i = st.p_true[order].astype(p_dtype)  # as the column holds it (widened by welford)
        welford_step(moments[0], moments[1], p_i, valid_i, i + 1, threads=threads)
        if first_labels is None:
            first_labels = row_labels
        elif (
            labels_stable
            and row_labels is not first_labels
            and np.any((row_labels != first_labels) & valid_i & valid_all)
        ):
            labels_stable = False
        if valid_i is not valid_before:  # (valid_all &= the same mask again: no change)
            valid_all &= valid_i
            valid_before = valid_i
        del p_i
        for name, values in (
            ("loss", loss_i),
            ("pred", st.pred[order]),
            ("correct", correct_i),
            ("p_true", st.p_true[order]),
            ("confidence", st.confidence[order]),
            ("margin", st.margin[order]),
        ):
            columns.write(i, name, values)
        constant.write(i, row_labels)
        del loss_i, correct_i
        if ep.ids is not None and ids is None:  # a copy: ep.ids may view the file's bytes
            ids = np.array(ep.ids) if ep.order is None else ep.ids[ep.order]
        n_clipped += st.n_clipped
        n_floored += st.n_floored
        if cal is not None:
            assert kind is not None
            given = None if calibration is True else float(list(calibration)[i])  # type: ignore[arg-type]
            c = calibrate_epoch(
                ep.scores, ep.labels, kind=kind, dtype=ep.scores_dtype, temperature=given
            )
            cal["temperature"][i] = c.temperature
            cal["temperature_fit"][i] = (
                (c.fit.iterations, FIT_STATUS.index(c.fit.status)) if c.fit else (0, 0)
            )
            columns.write(i, "loss_at_t", c.loss_at_t[order])
            columns.write(i, "brier", c.brier[order])
        del ep  # release this epoch's scores before the reader maps the next
        if progress is not None:
            progress(info.name, i + 1, e_total)
    assert kind is not None
    arrays = constant.finish(columns.finish())
    return SplitStats(
        name=info.name,
        epochs=list(info.epochs),
        n_classes=info.n_classes,
        input_kind=kind,
        kind_detected=input_kind is None,
        label_format=info.label_format,
        dtype=info.dtype,
        has_ids=info.has_ids,
        aligned=reader.aligned,
        n_clipped=n_clipped,
        n_floored=n_floored,
        clip=clip,
        files=[str(p) for p in info.files],
        pattern=info.pattern,
        ids=ids,
        **arrays,
        epoch_totals=totals,
        p_true_moments=moments,
        valid_all=valid_all,
        labels_stable=labels_stable,
        binary=info.binary,
        source=SplitSource(layout),
        epoch_unit=info.epoch_unit,
        sample_unit=info.sample_unit,
        tokens_per_sequence=info.tokens_per_sequence,
        **(cal or {}),
    )


def load_run(
    path: str | Path,
    *,
    split: str | None = None,
    input_kind: InputKind | None = None,
    progress: ProgressFn | None = None,
    threads: int | None = None,
    use_cache: bool = False,
    calibration: bool | Sequence[float] = False,
    layout: Layout | None = None,
    clip: float | None = None,
    keep: KeepEpochs | None = None,
) -> RunStats:
    """Discover, read and reduce the run at ``path``; every split unless ``split`` is given.

    With ``use_cache`` the reduced statistics of each split are taken from, or
    stored in, the cache of :mod:`predaudit.cache` (keyed by the files' paths,
    sizes and modification times, by ``input_kind``, ``calibration`` and ``clip``).
    ``calibration`` and ``clip`` are passed to :func:`compute_split`. ``layout`` says how a rank-3
    score array reads where its shape and the labels' leave it open: ``"epochs"``
    (``[E, N, C]``) or ``"tokens"`` (``[S, T, C]``, one evaluation of S·T tokens).
    ``keep`` keeps the columns of only the epochs a command reads (of a cached entry too).
    """
    _check_layout(layout)
    clip = check_clip(clip)
    found = discover(path)
    if split is not None and split not in found.splits:
        raise OptionError(f"no split named '{split}' in {path} (splits: {', '.join(found.splits)})")
    names = [split] if split is not None else list(found.splits)
    run = RunStats(path=str(path))
    for name in names:
        lay = found.splits[name]
        run.splits[name] = _split_stats(
            replace(lay, layout=layout) if layout is not None else lay,
            input_kind,
            progress,
            threads,
            use_cache=use_cache,
            calibration=calibration,
            clip=clip,
            keep=keep,
        )
    if split is None:
        check_not_one_epoch_splits(run, found.path)
    return run


def _check_layout(layout: str | None) -> None:
    if layout is not None and layout not in LAYOUTS:
        raise OptionError(
            f"expected one of {', '.join(LAYOUTS)}", param="layout", value=str(layout)
        )


def _split_stats(
    layout: SplitLayout,
    input_kind: InputKind | None,
    progress: ProgressFn | None,
    threads: int | None,
    *,
    use_cache: bool,
    calibration: bool | Sequence[float] = False,
    clip: float | None = None,
    keep: KeepEpochs | None = None,
) -> SplitStats:
    def compute(kept: KeepEpochs | None = None) -> SplitStats:
        return compute_split(
            layout,
            input_kind=input_kind,
            progress=progress,
            threads=threads,
            calibration=calibration,
            clip=clip,
            keep=kept,
        )

    if not use_cache:
        kept = compute(keep)
        # a changed label: the data map is taken from every epoch's columns
        return kept if keep is None or kept.labels_stable else compute()
    options: dict[str, Any] = {
        "calibration": calibration if isinstance(calibration, bool) else list(calibration)
    }
    if layout.layout is not None:
        options["layout"] = layout.layout
    if clip is not None:
        options["clip"] = clip
    try:  # the files as they were before reading, so a change while reading is not cached
        before = cache.fingerprint(layout)
    except OSError:
        before = None
    got = None
    if before is not None:  # (else the files cannot be fingerprinted: nothing is cached)
        got = cache.load_cached(layout, input_kind, options=options, keep=keep, current=before)
    stats = got if got is not None else compute()
    if got is None and before is not None:
        cache.store(layout, input_kind, stats, fingerprint_before=before, options=options)
    # what is computed from the scores again may be cached too, checked against `before`
    stats.source = SplitSource(layout, use_cache=True, fingerprint=before)
    return stats


def from_arrays(
    scores: Any,
    labels: Any,
    *,
    ids: Any = None,
    epochs: Sequence[int] | None = None,
    input_kind: InputKind | None = None,
    split: str = "default",
    threads: int | None = None,
    calibration: bool | Sequence[float] = False,
    layout: Layout | None = None,
    clip: float | None = None,
) -> RunStats:
    """Per-sample statistics of predictions held in memory; no file is written or read.

    The arrays go through the same validators as files, so they get the same
    errors. ``scores`` is one array (``[E, N, C]``, ``[E, N]``, ``[N, C]`` or
    ``[N]``: numpy, a torch tensor on any device, or anything ``np.asarray``
    takes) or a list of per-epoch arrays; ``labels`` and ``ids`` are one array for
    every epoch or a list with one per epoch; ``epochs`` labels the epochs
    (default 1, 2, ...). ``calibration`` is passed to :func:`compute_split`
    (True: fit a temperature per epoch; a sequence: one given temperature per epoch),
    and so is ``clip`` (clip probabilities to ``[clip, 1 - clip]``; default exact).
    ``layout`` reads ``[A, B, C]`` scores with ``[A, B]`` labels as epochs
    (``"epochs"``) or as one evaluation of A sequences of B tokens (``"tokens"``).

    >>> import numpy as np, predaudit
    >>> run = predaudit.from_arrays(np.array([[[2.0, 0.0], [0.0, 1.0]]]), np.array([0, 1]))
    >>> run.splits["default"].loss.round(4).tolist()
    [[0.1269, 0.3133]]
    """
    if input_kind is not None and input_kind not in KINDS:
        raise ValueError(f"input_kind must be one of {', '.join(KINDS)}, not {input_kind!r}")
    if epochs is not None and not isinstance(scores, list | tuple):
        arr = np.asarray(scores) if not hasattr(scores, "detach") else scores
        if len(arr.shape) != 3:
            raise ValueError(
                f"epochs labels the first axis of [E, N, C] scores or a list of per-epoch "
                f"arrays; scores have shape {tuple(arr.shape)}"
            )
        scores = [arr[i] for i in range(arr.shape[0])]
    _check_layout(layout)
    lay = replace(arrays_layout(scores, labels, ids=ids, epochs=epochs, split=split), layout=layout)
    stats = compute_split(
        lay, input_kind=input_kind, threads=threads, calibration=calibration, clip=clip
    )
    return RunStats(path=str(ARRAYS), splits={split: stats})
