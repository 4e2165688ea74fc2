"""Training dynamics per sample (``predaudit dynamics``): a pure function of the store.

The split's per-epoch columns (``p_true``, ``correct``, ``pred``, ``confidence``,
``valid``, ``margin``, ``labels`` and, when the run was loaded with
``calibration=True``, ``brier``) go into a
:class:`~predaudit.dynamics.DynamicsAccumulator` one epoch at a time; the
result gives the data-map regions, the most ambiguous and hardest samples and
the likely label problems. Samples labelled -100 at any epoch of the range are
left out (``n_ignored``). The samples must be aligned across epochs (the same
row is the same sample at every epoch): a run without ids whose labels differ
between epochs is an input error.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any

import numpy as np

from predaudit.analysis.decomposition import choose_comparison
from predaudit.analysis.wrong_to_wrong import (
    DataMapView,
    count_regions,
    map_rows,
    stored_data_map,
    wrong_to_wrong_positions,
    wrong_to_wrong_samples,
)
from predaudit.dynamics import (
    DynamicsAccumulator,
    DynamicsResult,
    RegionResult,
    RegionThresholds,
    likely_label_problems,
    quantile_thresholds,
    regions,
    top_k_ambiguous,
    top_k_hardest,
)
from predaudit.errors import InputError, OptionError
from predaudit.report.dynamics import (
    PER_SAMPLE_MAX,
    DynamicsReport,
    LabelProblem,
    LabelProblems,
    LossRisers,
    SampleArrays,
    SplitDynamics,
    Thresholds,
)
from predaudit.report.vocab import REDUCED
from predaudit.report.wrong_to_wrong import WrongToWrongRegions
from predaudit.store import RunStats, SplitStats

AUM_NOTE = (
    "AUM is the mean logit margin (Pleiss et al. 2020); these scores are {kind}, whose "
    "margin is bounded and saturates, so AUM is not reported"
)
EL2N_NOTE = (
    "EL2N needs the Brier score per sample: load the run with calibration=True "
    "(predaudit dynamics does)"
)
THRESHOLD_TEXT = (
    "quantiles, as Dataset Cartography's selections (the paper sets no fixed values): "
    "with k = int({fraction} x {n}), easy_confidence is the k-th largest confidence, "
    "hard_confidence the k-th smallest, ambiguous_variability the k-th largest variability; "
    "a sample is ambiguous if variability >= ambiguous_variability, else easy-to-learn if "
    "confidence >= easy_confidence, else hard-to-learn if confidence <= hard_confidence, "
    "else other; when ties at the smallest variability would make every sample ambiguous "
    "(saturated probabilities), ambiguous_variability is the next larger variability"
)
RANGE_HELP = "expected FROM:TO with epoch labels, e.g. 5:20 (either side may be left out)"


def _where(stats: SplitStats) -> str:
    """The files of ``stats`` as one path: the file, or the folder that holds them."""
    if not stats.files:
        return stats.pattern
    return os.path.commonpath(stats.files) if len(stats.files) > 1 else stats.files[0]


def parse_epoch_range(spec: str) -> tuple[int | None, int | None]:
    """``"FROM:TO"`` as two epoch labels (None for a side left out).

    >>> parse_epoch_range("5:20"), parse_epoch_range(":7"), parse_epoch_range("3:")
    ((5, 20), (None, 7), (3, None))

    Raises :class:`OptionError` (``epochs='5-20': expected FROM:TO ...``) when malformed.
    """
    text = spec.strip()
    head, colon, tail = text.partition(":")
    try:
        if not colon:
            raise ValueError
        lo = int(head) if head.strip() else None
        hi = int(tail) if tail.strip() else None
    except ValueError:
        raise OptionError(RANGE_HELP, param="epochs", value=repr(spec)) from None
    if lo is not None and hi is not None and lo > hi:
        raise OptionError("FROM must not be after TO", param="epochs", value=repr(spec))
    return lo, hi


def select_epochs(stats: SplitStats, epochs: str | None) -> list[int]:
    """The epoch labels of ``stats`` in the range ``epochs`` (``FROM:TO``, inclusive; None: all).

    Raises :class:`OptionError` when the range holds fewer than 2 epochs of the split.
    """
    if epochs is None:
        chosen = list(stats.epochs)
        if len(chosen) < 2:
            raise InputError(
                stats.pattern,
                f"split '{stats.name}' has {len(chosen)} epoch: training dynamics needs "
                "at least 2 epochs",
            )
        return chosen
    lo, hi = parse_epoch_range(epochs)
    chosen = [e for e in stats.epochs if (lo is None or e >= lo) and (hi is None or e <= hi)]
    if len(chosen) < 2:
        found = "no epoch" if not chosen else f"only epoch {chosen[0]}"
        raise OptionError(
            f"split '{stats.name}' has {found} in this range (epochs "
            f"{stats.epochs[0]}..{stats.epochs[-1]}); training dynamics needs at least 2",
            param="epochs",
            value=repr(epochs),
        )
    return chosen


def region_thresholds(res: DataMapView) -> RegionThresholds:
    """Cartography's quantile thresholds, except that ties cannot make every sample ambiguous.

    Where at least 67 % of the samples share the smallest variability (probabilities
    saturated at every epoch, all correct), the k-th largest variability is that
    smallest value and would select every sample; the threshold is then the next
    larger variability (infinite, selecting nothing, when there is none).
    """
    th = quantile_thresholds(res.confidence, res.variability)
    var = res.variability
    if var.size and th.ambiguous_variability <= var.min():
        above = var[var > var.min()]
        amb = float(above.min()) if above.size else math.inf
        th = dataclasses.replace(th, ambiguous_variability=amb)
    return th


def accumulate(
    stats: SplitStats,
    epochs: list[int],
    *,
    el2n_epoch: int | None = None,
    label_votes: bool = True,
) -> DynamicsResult:
    """Feed the epochs ``epochs`` of ``stats`` to a :class:`DynamicsAccumulator`, one at a time.

    Margins (AUM) are passed for logits only; Brier scores (EL2N) when the store has them;
    ``label_votes`` False skips the summary of wrong predictions (no label problems).
    Pre-reduced records need their ``p_true``, ``pred`` and ``label`` columns. Values the
    accumulator refuses (a non-finite ``p_true``, labels that change between epochs) are
    an :class:`InputError` naming the split's files.
    """
    if stats.input_kind == REDUCED:
        _check_records(stats, stats.epoch_index(epochs[0]))
    acc = DynamicsAccumulator(
        stats.n_rows, input_kind=stats.input_kind, el2n_epoch=el2n_epoch, label_votes=label_votes
    )
    logits = stats.input_kind == "logits"
    for e in epochs:
        i = stats.epoch_index(e)
        valid = stats.valid[i]
        stats.release()  # pages of the epochs already read (memory-mapped columns)
        try:
            acc.update(
                e,
                p_true=np.where(valid, stats.p_true[i], 0.0),
                correct=stats.correct[i] & valid,
                pred=stats.pred[i],
                confidence=np.where(valid, stats.confidence[i], 0.0),
                valid=valid,
                margin=stats.margin[i] if logits else None,
                labels=stats.labels[i],
                brier=None if stats.brier is None else stats.brier[i],
            )
        except ValueError as exc:
            raise InputError(_where(stats), f"split '{stats.name}', epoch {e}: {exc}") from None
    return acc.result()


def _check_records(stats: SplitStats, i: int) -> None:
    """Pre-reduced records hold the columns the data map needs (checked at epoch row ``i``)."""
    valid = stats.valid[i]
    missing = [
        name
        for name, absent in (
            ("p_true", np.isnan(stats.p_true[i][valid])),
            ("pred", stats.pred[i][valid] < 0),
            ("label", stats.labels[i][valid] < 0),
        )
        if absent.all()
    ]
    if missing:
        names = ", ".join(missing[:-1]) + " or " + missing[-1] if len(missing) > 1 else missing[0]
        raise InputError(
            _where(stats),
            f"pre-reduced records without a {names} column, which training dynamics needs",
        )


def data_map(
    stats: SplitStats,
    epochs: list[int],
    *,
    el2n_epoch: int | None = None,
    label_votes: bool = True,
) -> tuple[DynamicsResult, RegionResult]:
    """The per-sample dynamics over ``epochs`` and their data-map regions (Cartography's
    quantile thresholds, :func:`region_thresholds`): what ``predaudit dynamics`` reports,
    and where ``analyze`` looks up its wrong → wrong samples (``label_votes=False``: the
    regions need only confidence and variability)."""
    res = accumulate(stats, epochs, el2n_epoch=el2n_epoch, label_votes=label_votes)
    return res, regions(res.confidence, res.variability, thresholds=region_thresholds(res))


def wrong_to_wrong_regions(
    stats: SplitStats, *, start: int, end: int
) -> tuple[WrongToWrongRegions | None, str | None]:
    """The wrong → wrong samples of ``start -> end`` counted per region of the data map over
    every epoch (``predaudit dynamics``' default), and None; or None and why there is none
    (samples not aligned, fewer than 2 epochs, records without the columns it needs)."""
    if not stats.aligned:
        return None, "the samples are not aligned across epochs (save sample ids)"
    res: DataMapView | None = stored_data_map(stats)
    if res is not None:
        found = regions(res.confidence, res.variability, thresholds=region_thresholds(res))
    else:
        try:
            res, found = data_map(stats, select_epochs(stats, None), label_votes=False)
        except InputError as exc:
            return None, exc.problem
    rows = map_rows(res, wrong_to_wrong_positions(stats, start=start, end=end))
    return count_regions(res, found, rows), None


RISERS = 8
"""How many of the samples whose loss rose most the loss-trajectory figure draws."""


def loss_risers(
    stats: SplitStats, epochs: list[int], index: np.ndarray, k: int = RISERS
) -> LossRisers:
    """The ``k`` samples of ``index`` whose loss rose most from ``epochs[0]`` to ``epochs[-1]``.

    Only samples whose loss rose (rise > 0) are taken; ties keep the sample order.
    ``rows`` are positions in ``index`` (the rows of the report's samples). The store is
    read an epoch at a time, and only the chosen samples' losses are kept.
    """
    at = [stats.epoch_index(e) for e in epochs]
    rise = stats.loss[at[-1]][index] - stats.loss[at[0]][index]
    rise = np.where(np.isnan(rise), -np.inf, rise)
    order = np.argsort(-rise, kind="stable")
    rows = [int(j) for j in order[:k] if rise[j] > 0]
    chosen = index[rows]
    losses = np.array([stats.loss[i][chosen] for i in at], dtype=np.float64).reshape(len(at), -1)
    wrong = ~stats.correct[at[-1]][chosen]
    return LossRisers(
        epochs=list(epochs),
        rows=rows,
        losses=np.ascontiguousarray(losses.T),
        wrong_last=wrong,
    )


def _ids(stats: SplitStats, positions: np.ndarray) -> list[Any]:
    ids: list[Any] = np.asarray(stats.sample_ids())[positions].tolist()
    return ids


def split_dynamics(
    stats: SplitStats,
    *,
    epochs: str | None = None,
    el2n_epoch: int | None = None,
    top: int = 10,
) -> SplitDynamics:
    """``predaudit dynamics`` for one split.

    ``epochs`` is ``"FROM:TO"`` (epoch labels, inclusive; None: every epoch);
    ``el2n_epoch`` the epoch label of EL2N (None: the first of the range); ``top``
    how many of the most ambiguous, hardest and likely mislabeled samples to list.
    """
    if not stats.aligned:
        raise InputError(
            _where(stats),
            f"split '{stats.name}' is not aligned: it has no sample ids and its labels differ "
            "between epochs, so a row is not the same sample at every epoch; training dynamics "
            "follows each sample over the epochs: save sample ids with the predictions",
        )
    if top < 0:
        raise OptionError("must be >= 0", param="top", value=str(top))
    chosen = select_epochs(stats, epochs)
    if el2n_epoch is not None:
        if el2n_epoch not in chosen:
            raise OptionError(
                f"not an epoch of the range ({chosen[0]}..{chosen[-1]})",
                param="el2n_epoch",
                value=str(el2n_epoch),
            )
        if stats.brier is None:
            raise OptionError(EL2N_NOTE, param="el2n_epoch", value=str(el2n_epoch))
    res, found = data_map(stats, chosen, el2n_epoch=el2n_epoch)
    th = found.thresholds
    labels = res.labels if res.labels is not None else np.full(res.n_included, -1)
    samples = SampleArrays(
        ids=_ids(stats, res.index),
        labels=labels,
        confidence=res.confidence,
        variability=res.variability,
        correctness=res.correctness,
        correct_epochs=res.correct_epochs,
        forgetting_events=res.forgetting_events,
        never_learned=res.never_learned,
        first_learned=np.where(res.never_learned, -1, res.first_learned),
        aum=res.aum,
        el2n=res.el2n,
        region=found.labels(),
    )
    # the summary's rankings are sample positions (res.index); turn them into rows of `samples`
    row_of = {int(p): j for j, p in enumerate(res.index)}
    problems = likely_label_problems(res, k=top)
    a, b, reason = choose_comparison(stats)  # analyze's default epochs
    ww = wrong_to_wrong_samples(
        stats, res, found, start=a, end=b, from_reason=reason, limit=PER_SAMPLE_MAX
    )
    return SplitDynamics(
        name=stats.name,
        n_samples=res.n_included,
        n_ignored=res.n_excluded,
        n_classes=stats.n_classes,
        input_kind=stats.input_kind,
        has_ids=stats.has_ids,
        epochs=chosen,
        region_counts=found.counts(),
        never_learned=int(np.count_nonzero(res.never_learned)),
        forgotten_at_least_once=int(np.count_nonzero(res.forgetting_events > 0)),
        thresholds=Thresholds(
            easy_confidence=th.easy_confidence,
            hard_confidence=th.hard_confidence,
            ambiguous_variability=th.ambiguous_variability,
            method=th.method,
            fraction=th.fraction,
            description=THRESHOLD_TEXT.format(fraction=th.fraction, n=th.n),
        ),
        most_ambiguous=[row_of[int(p)] for p in top_k_ambiguous(res, top)],
        hardest=[row_of[int(p)] for p in top_k_hardest(res, top)],
        label_problems=LabelProblems(
            n_candidates=problems.n_candidates,
            min_wrong_fraction=problems.min_wrong_fraction,
            min_consistency=problems.min_consistency,
            samples=[
                LabelProblem(
                    position=row_of[int(p)],
                    id=samples.ids[row_of[int(p)]],
                    label=int(labels[row_of[int(p)]]),
                    suspect_class=int(problems.suspect_class[j]),
                    wrong_fraction=float(problems.wrong_fraction[j]),
                    consistency=float(problems.consistency[j]),
                    confidence=float(problems.mean_confidence[j]),
                    score=float(problems.score[j]),
                )
                for j, p in enumerate(problems.index)
            ],
        ),
        el2n_epoch=res.el2n_epoch,
        aum_note=None if res.aum is not None else AUM_NOTE.format(kind=stats.input_kind),
        el2n_note=None if res.el2n is not None else EL2N_NOTE,
        samples=samples,
        risers=loss_risers(stats, chosen, res.index),
        wrong_to_wrong=ww,
        top=top,
    )


def dynamics_report(run: RunStats, **options: Any) -> DynamicsReport:
    """:func:`split_dynamics` for every split of ``run`` (same keyword options)."""
    return DynamicsReport(
        run=run.path,
        splits={name: split_dynamics(s, **options) for name, s in run.splits.items()},
    )
