"""Assemble the ``predaudit analyze`` report from per-sample statistics."""

from __future__ import annotations

import numpy as np

from predaudit.analysis.decomposition import (
    choose_comparison,
    loss_deltas,
    per_epoch,
    shift_share,
    transition_masks,
    transitions,
)
from predaudit.analysis.dynamics import wrong_to_wrong_regions
from predaudit.analysis.hypothesis import judge
from predaudit.analysis.rise_temperature import temperature_comparison, top_label_ece
from predaudit.report.analyze import (
    AnalyzeReport,
    Comparison,
    SampleDeltas,
    SplitAnalysis,
    TopSample,
)
from predaudit.report.wrong_to_wrong import WrongToWrongRegions
from predaudit.store import RunStats, SplitStats

NOT_ALIGNED = (
    "labels differ between epochs and there are no sample ids, so positions are not the "
    "same samples; save sample ids with the predictions"
)


def sample_deltas(stats: SplitStats, *, start: int, end: int) -> SampleDeltas:
    """Per-sample values at ``start`` and ``end`` for the samples valid at both."""
    ia, ib = stats.epoch_index(start), stats.epoch_index(end)
    valid = stats.valid[ia] & stats.valid[ib]
    every = bool(valid.all())

    def kept(a: np.ndarray) -> np.ndarray:  # every sample counts: the rows themselves
        return a if every else a[valid]

    return SampleDeltas(
        ids=kept(stats.sample_ids()),
        labels=kept(stats.labels[ib]),
        loss_from=kept(stats.loss[ia]),
        loss_to=kept(stats.loss[ib]),
        pred_from=kept(stats.pred[ia]),
        pred_to=kept(stats.pred[ib]),
        correct_from=kept(stats.correct[ia]),
        correct_to=kept(stats.correct[ib]),
        p_true_from=kept(stats.p_true[ia]),
        p_true_to=kept(stats.p_true[ib]),
    )


def top_risers(samples: SampleDeltas, k: int, tokens: int | None = None) -> list[TopSample]:
    """The ``k`` samples whose loss rose most (ties broken by position): only samples whose
    loss rose (``delta > 0``), so fewer than ``k``, or none, when fewer rose.

    ``tokens`` (T of token-level runs) adds each token's sequence and position.
    """
    if k <= 0:
        return []
    order = np.argsort(-samples.delta, kind="stable")[:k]
    out = []
    for i in order[samples.delta[order] > 0]:
        sid = samples.ids[i]
        out.append(
            TopSample(
                id=sid.item() if hasattr(sid, "item") else sid,
                label=_known(samples.labels[i]),
                pred_from=_known(samples.pred_from[i]),
                pred_to=_known(samples.pred_to[i]),
                loss_from=float(samples.loss_from[i]),
                loss_to=float(samples.loss_to[i]),
                p_true_from=float(samples.p_true_from[i]),
                p_true_to=float(samples.p_true_to[i]),
                **_token_of(sid, tokens),
            )
        )
    return out


def _known(x: object) -> int | None:
    """A class index, or None where pre-reduced records do not say (stored as -1)."""
    i = int(x)  # type: ignore[call-overload]
    return i if i >= 0 else None


def _token_of(sid: object, tokens: int | None) -> dict[str, int]:
    if tokens is None:
        return {}
    s, t = divmod(int(sid), tokens)  # type: ignore[call-overload]
    return {"sequence": s, "position": t}


def analyze_split(
    stats: SplitStats,
    *,
    start: str | int | None = None,
    end: str | int | None = None,
    alpha: float = 0.05,
    top: int = 0,
    temperature: bool = True,
) -> SplitAnalysis:
    """Per-epoch split, comparison, transitions, shift-share and the hypothesis verdict.

    The comparison also has the top-label ECE at both epochs, with ``temperature`` a
    temperature fitted at each and the share of ΔL it undoes, and, for aligned samples,
    the data-map regions of its wrong → wrong samples (``predaudit dynamics`` over every
    epoch: one more pass over the epochs' columns).
    """
    rows = per_epoch(stats)
    comparison = hypothesis = None
    samples = None
    top_list: list[TopSample] | None = None
    note = None
    if len(stats.epochs) == 1 and start is None and end is None:
        note = "only one epoch: nothing to compare (save predictions at more epochs)"
    else:
        a, b, reason = choose_comparison(stats, start=start, end=end)
        ra, rb = rows[stats.epoch_index(a)], rows[stats.epoch_index(b)]
        delta_loss = rb.loss - ra.loss
        cells = None
        deltas_ww = None
        ww_regions: WrongToWrongRegions | None = None
        ww_reason: str | None = NOT_ALIGNED
        if stats.aligned:
            cells = transitions(stats, start=a, end=b)
            masks = transition_masks(stats, start=a, end=b)
            deltas_ww = loss_deltas(stats, start=a, end=b)[masks["wrong_to_wrong"]]
            samples = sample_deltas(stats, start=a, end=b)
            if top > 0:
                top_list = top_risers(samples, top, stats.tokens_per_sequence)
            ww_regions, ww_reason = wrong_to_wrong_regions(stats, start=a, end=b)
        comparison = Comparison(
            from_epoch=a,
            to_epoch=b,
            from_reason=reason,
            delta_loss=delta_loss,
            delta_accuracy=rb.accuracy - ra.accuracy,
            transitions=cells,
            shift_share=shift_share(ra, rb),
            transitions_reason=None if stats.aligned else NOT_ALIGNED,
            ece_from=top_label_ece(stats, a),
            ece_to=top_label_ece(stats, b),
            temperature=temperature_comparison(stats, start=a, end=b) if temperature else None,
            wrong_to_wrong_regions=ww_regions,
            wrong_to_wrong_regions_reason=ww_reason,
        )
        hypothesis = judge(
            cells,
            deltas_ww,
            delta_loss=delta_loss,
            n_total=ra.n_samples,
            start=a,
            end=b,
            aligned=stats.aligned,
            alpha=alpha,
        )
    return SplitAnalysis(
        name=stats.name,
        n_samples=stats.n_samples,
        n_classes=stats.n_classes,
        input_kind=stats.input_kind,
        kind_detected=stats.kind_detected,
        n_clipped=stats.n_clipped,
        n_floored=stats.n_floored,
        clip=stats.clip,
        n_ignored=stats.n_ignored,
        aligned=stats.aligned,
        has_ids=stats.has_ids,
        epochs=list(stats.epochs),
        per_epoch=rows,
        comparison=comparison,
        hypothesis=hypothesis,
        top=top_list,
        samples=samples,
        note=note,
        epoch_unit=stats.epoch_unit,
        sample_unit=stats.sample_unit,
    )


def analyze_run(
    run: RunStats,
    *,
    start: str | int | None = None,
    end: str | int | None = None,
    alpha: float = 0.05,
    top: int = 0,
    temperature: bool = True,
) -> AnalyzeReport:
    """:func:`analyze_split` for every split of ``run``."""
    return AnalyzeReport(
        run=run.path,
        splits={
            name: analyze_split(
                s, start=start, end=end, alpha=alpha, top=top, temperature=temperature
            )
            for name, s in run.splits.items()
        },
    )
