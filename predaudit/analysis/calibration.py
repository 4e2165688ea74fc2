"""Calibration per epoch and the split of a loss rise (``predaudit calibration``).

Pure functions of :class:`predaudit.store.SplitStats` loaded with
``calibration=True`` (a temperature fitted per epoch) or with given
temperatures (``--fit-on``): binned top-label ECE/MCE/RMSCE and their noise
floor, smooth ECE, Brier, NLL, the temperature and the loss at it, and between
two epochs ``ΔL = ΔL_T + ΔG`` in total and per transition cell
(:func:`predaudit.calibration.temperature_split`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from predaudit.analysis.decomposition import choose_comparison, transition_masks
from predaudit.calibration import (
    calibration_errors,
    ece_noise_floor,
    smooth_ece,
    temperature_split,
)
from predaudit.calibration.binning import Binning
from predaudit.errors import OptionError
from predaudit.report.calibration import (
    CalibrationComparison,
    CalibrationReport,
    CellSplit,
    EpochBins,
    EpochCalibration,
    SplitCalibration,
)
from predaudit.report.vocab import CELLS
from predaudit.store import RunStats, SplitStats
from predaudit.store.stats import FIT_STATUS

NOT_ALIGNED = (
    "labels differ between epochs and there are no sample ids, so positions are not the "
    "same samples: no per-cell split (save sample ids with the predictions)"
)
NOISE_DRAWS = 200
NOISE_SEED = 0
BINNINGS = ("uniform", "quantile")


def _require_temperatures(stats: SplitStats) -> None:
    if stats.temperature is None or stats.loss_at_t is None or stats.brier is None:
        raise ValueError(
            f"split {stats.name!r} has no temperatures: load the run with calibration=True "
            "(or with one temperature per epoch)"
        )


def check_bins(n_bins: int, binning: str) -> None:
    """Raise :class:`OptionError` for a bin count below 1 or an unknown binning."""
    if isinstance(n_bins, bool) or not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise OptionError("must be a whole number of at least 1", param="n_bins", value=str(n_bins))
    if binning not in BINNINGS:
        raise OptionError(
            f"must be one of {', '.join(BINNINGS)}", param="binning", value=repr(binning)
        )


def positive_probability(stats: SplitStats, i: int, valid: np.ndarray) -> np.ndarray:
    """``p(label = 1)`` of the valid samples at epoch index ``i`` (binary models)."""
    y = stats.labels[i][valid]
    p = stats.p_true[i][valid]
    return np.clip(np.where(y == 1, p, 1.0 - p), 0.0, 1.0)


def epoch_calibration(
    stats: SplitStats, epoch: int, *, n_bins: int = 15, binning: Binning = "uniform"
) -> tuple[EpochCalibration, EpochBins]:
    """The calibration figures and the bin table of ``stats`` at ``epoch``."""
    _require_temperatures(stats)
    assert stats.temperature is not None and stats.loss_at_t is not None
    assert stats.brier is not None and stats.temperature_fit is not None
    i = stats.epoch_index(epoch)
    valid = stats.valid[i]
    conf = np.clip(stats.confidence[i][valid], 0.0, 1.0)
    correct = stats.correct[i][valid]
    err = calibration_errors(conf, correct, n_bins=n_bins, binning=binning)
    floor = ece_noise_floor(
        conf, n_bins=n_bins, binning=binning, n_draws=NOISE_DRAWS, seed=NOISE_SEED
    )
    positive = None
    if stats.binary or stats.n_classes == 2:
        y = stats.labels[i][valid]
        positive = calibration_errors(
            positive_probability(stats, i, valid), y == 1, n_bins=n_bins, binning=binning
        ).ece
    iterations, status = (int(v) for v in stats.temperature_fit[i])
    row = EpochCalibration(
        epoch=epoch,
        n_samples=int(valid.sum()),
        ece=err.ece,
        mce=err.mce,
        rmsce=err.rmsce,
        smece=smooth_ece(conf, correct.astype(np.float64)).smece,
        positive_class_ece=positive,
        brier=float(stats.brier[i][valid].mean()),
        nll=float(stats.loss[i][valid].mean()),
        ece_noise_floor=floor.ece,
        temperature=float(stats.temperature[i]),
        loss_at_temperature=float(stats.loss_at_t[i][valid].mean()),
        temperature_iterations=iterations,
        temperature_status=FIT_STATUS[status],
    )
    b = err.bins
    bins = EpochBins(
        epoch=epoch, edges=b.edges, counts=b.counts, accuracy=b.accuracy, confidence=b.confidence
    )
    return row, bins


def compare(
    stats: SplitStats,
    rows: Sequence[EpochCalibration],
    *,
    start: int,
    end: int,
    from_reason: str,
    fitted_on: str,
) -> CalibrationComparison:
    """``ΔL = ΔL_T + ΔG`` from ``start`` to ``end``; per cell when the samples are aligned.

    Aligned: over the samples valid at both epochs (the cells sum to the totals).
    Not aligned: the differences of the per-epoch means, no cells.
    """
    assert stats.loss_at_t is not None and stats.temperature is not None
    ia, ib = stats.epoch_index(start), stats.epoch_index(end)
    cells = None
    reason = None
    if stats.aligned:
        valid = stats.valid[ia] & stats.valid[ib]
        masks = transition_masks(stats, start=start, end=end)
        split = temperature_split(
            stats.loss[ia][valid],
            stats.loss_at_t[ia][valid],
            stats.loss[ib][valid],
            stats.loss_at_t[ib][valid],
            {k: masks[k] for k in CELLS},
        )
        cells = {
            k: CellSplit(
                n=c.n,
                delta_loss=c.delta_loss,
                delta_loss_at_temperature=c.delta_loss_at_temperature,
                delta_calibration_gap=c.delta_calibration_gap,
            )
            for k, c in split.cells.items()
        }
        d_loss = split.total.delta_loss
        d_lt = split.total.delta_loss_at_temperature
        d_gap = split.total.delta_calibration_gap
        share = split.temperature_share
    else:
        reason = NOT_ALIGNED
        ra = next(r for r in rows if r.epoch == start)
        rb = next(r for r in rows if r.epoch == end)
        d_loss = rb.nll - ra.nll
        d_lt = rb.loss_at_temperature - ra.loss_at_temperature
        d_gap = rb.calibration_gap - ra.calibration_gap
        share = d_gap / d_loss if d_loss > 1e-12 else None
    return CalibrationComparison(
        from_epoch=start,
        to_epoch=end,
        from_reason=from_reason,  # type: ignore[arg-type]
        delta_loss=d_loss,
        delta_loss_at_temperature=d_lt,
        delta_calibration_gap=d_gap,
        temperature_share=share,
        temperature_from=float(stats.temperature[ia]),
        temperature_to=float(stats.temperature[ib]),
        fitted_on=fitted_on,
        cells=cells,  # type: ignore[arg-type]
        cells_reason=reason,
    )


def calibration_split(
    stats: SplitStats,
    *,
    start: str | int | None = None,
    end: str | int | None = None,
    n_bins: int = 15,
    binning: Binning = "uniform",
    fitted_on: str | None = None,
) -> SplitCalibration:
    """Per-epoch calibration, the comparison and the bins of the compared epochs."""
    check_bins(n_bins, binning)
    _require_temperatures(stats)
    fitted = fitted_on if fitted_on is not None else stats.name
    rows: list[EpochCalibration] = []
    all_bins: dict[int, EpochBins] = {}
    for epoch in stats.epochs:
        row, bins = epoch_calibration(stats, epoch, n_bins=n_bins, binning=binning)
        rows.append(row)
        all_bins[epoch] = bins
        stats.release()  # the pages of this epoch (memory-mapped columns)
    comparison = None
    note = None
    if len(stats.epochs) == 1 and start is None and end is None:
        note = "only one epoch: nothing to compare (save predictions at more epochs)"
        shown = [stats.epochs[0]]
    else:
        a, b, reason = choose_comparison(stats, start=start, end=end)
        comparison = compare(stats, rows, start=a, end=b, from_reason=reason, fitted_on=fitted)
        shown = [a, b]
    return SplitCalibration(
        name=stats.name,
        n_samples=stats.n_samples,
        n_ignored=stats.n_ignored,
        n_classes=stats.n_classes,
        binary=stats.binary,
        aligned=stats.aligned,
        binning=binning,
        n_bins=n_bins,
        fitted_on=fitted,
        per_epoch=rows,
        comparison=comparison,
        bins={e: all_bins[e] for e in shown},
        note=note,
    )


def calibration_run(
    run: RunStats,
    *,
    start: str | int | None = None,
    end: str | int | None = None,
    n_bins: int = 15,
    binning: Binning = "uniform",
    fitted_on: str | None = None,
) -> CalibrationReport:
    """:func:`calibration_split` for every split of ``run`` (loaded with ``calibration=``)."""
    return CalibrationReport(
        run=run.path,
        splits={
            name: calibration_split(
                s, start=start, end=end, n_bins=n_bins, binning=binning, fitted_on=fitted_on
            )
            for name, s in run.splits.items()
        },
    )


def fit_on_temperatures(
    fit: SplitStats, target_epochs: Sequence[int], *, target: str
) -> list[float]:
    """The temperatures fitted on split ``fit``, one per epoch of the analysed split.

    Raises :class:`OptionError` (``fit_on``) naming both splits when their epochs differ.
    """
    _require_temperatures(fit)
    assert fit.temperature is not None
    if list(fit.epochs) != list(target_epochs):

        def span(e: Sequence[int]) -> str:
            return f"{len(e)} epochs {e[0]}..{e[-1]}" if e else "no epochs"

        raise OptionError(
            f"split '{fit.name}' has {span(list(fit.epochs))} but split '{target}' has "
            f"{span(list(target_epochs))}; the temperatures must come from the same epochs",
            param="fit_on",
            value=fit.name,
        )
    return [float(t) for t in fit.temperature]
