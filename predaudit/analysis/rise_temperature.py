"""Calibration at the two epochs ``analyze`` compares: top-label ECE, and ``T*`` fitted there.

The ECE comes from the statistics (confidence, correct). The temperatures are
fitted at those two epochs only (:func:`predaudit.store.temperature.split_temperatures`
reads them again, or takes them from the cache), and the change in loss splits
as ``predaudit calibration`` splits it: ``ΔL = ΔL_T + ΔG``, the totals of
:func:`predaudit.calibration.temperature_split` in the same arithmetic, so both
commands give the same ``temperature_share``.
"""

from __future__ import annotations

import numpy as np

from predaudit.calibration import calibration_errors
from predaudit.calibration.split import MIN_RISE
from predaudit.report.analyze_temperature import TemperatureComparison
from predaudit.store import SplitStats
from predaudit.store.temperature import split_temperatures

ECE_BINS = 15


def top_label_ece(stats: SplitStats, epoch: int, *, n_bins: int = ECE_BINS) -> float | None:
    """Top-label ECE with ``n_bins`` equal-width bins at ``epoch``; None without confidences."""
    i = stats.epoch_index(epoch)
    valid = stats.valid[i]
    conf = stats.confidence[i][valid]
    if conf.size == 0 or not np.isfinite(conf).all():  # pre-reduced records may lack them
        return None
    err = calibration_errors(np.clip(conf, 0.0, 1.0), stats.correct[i][valid], n_bins=n_bins)
    return float(err.ece)


def temperature_comparison(
    stats: SplitStats, *, start: int, end: int
) -> TemperatureComparison | None:
    """``T*`` at ``start`` and ``end`` and the split of ΔL; None when the scores are not
    available again (statistics built by hand, pre-reduced records).

    Aligned: over the samples that count at both epochs, as the transition cells.
    Not aligned: the differences of the per-epoch means.
    """
    fits = split_temperatures(stats, [start, end])
    if fits is None:
        return None
    fa, fb = fits[start], fits[end]
    ia, ib = stats.epoch_index(start), stats.epoch_index(end)
    va, vb = stats.valid[ia], stats.valid[ib]
    lt_from = float(np.mean(fa.loss_at_t[va]))
    lt_to = float(np.mean(fb.loss_at_t[vb]))
    if stats.aligned:  # the totals of temperature_split, which non-finite losses would stop
        both = va & vb
        n = int(both.sum())
        dl = stats.loss[ib][both] - stats.loss[ia][both]
        dlt = fb.loss_at_t[both] - fa.loss_at_t[both]
        d_loss = float(dl.sum() / n)
        d_lt = float(dlt.sum() / n)
        d_gap = float((dl - dlt).sum() / n)
    else:
        la, lb = float(np.mean(stats.loss[ia][va])), float(np.mean(stats.loss[ib][vb]))
        d_loss = lb - la
        d_lt = lt_to - lt_from
        d_gap = (lb - lt_to) - (la - lt_from)
    share = d_gap / d_loss if d_loss > MIN_RISE else None
    return TemperatureComparison(
        temperature_from=fa.temperature,
        temperature_to=fb.temperature,
        loss_at_temperature_from=lt_from,
        loss_at_temperature_to=lt_to,
        delta_loss_at_temperature=d_lt,
        delta_calibration_gap=d_gap,
        temperature_share=share,
        fitted_on=stats.name,
        status_from=fa.status,
        status_to=fb.status,
    )
