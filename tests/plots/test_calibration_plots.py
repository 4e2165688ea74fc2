"""The calibration figures read back their artists' data (hand-built report, no run)."""

from __future__ import annotations

from dataclasses import replace

import matplotlib  # noqa: F401  (a test dependency, never skipped)
import numpy as np

from predaudit.plots.calibration import (  # noqa: E402
    calibration_figures_for,
    plot_reliability,
    plot_temperature,
)
from predaudit.report.calibration import (  # noqa: E402
    CalibrationComparison,
    EpochBins,
    EpochCalibration,
    SplitCalibration,
)


def _row(epoch: int, nll: float, lt: float, t: float) -> EpochCalibration:
    return EpochCalibration(
        epoch, 10, 0.1, 0.2, 0.15, 0.1, None, 0.3, nll, 0.05, t, lt, 3, "converged"
    )


def _split() -> SplitCalibration:
    edges = np.array([0.0, 0.5, 1.0])
    bins = {
        1: EpochBins(1, edges, np.array([0, 10]), np.array([np.nan, 0.8]), np.array([np.nan, 0.9])),
        3: EpochBins(3, edges, np.array([4, 6]), np.array([0.25, 0.5]), np.array([0.4, 0.95])),
    }
    rows = [_row(1, 0.5, 0.4, 1.0), _row(2, 0.6, 0.45, 1.5), _row(3, 0.9, 0.42, 2.0)]
    comp = CalibrationComparison(1, 3, "given", 0.4, 0.02, 0.38, 0.95, 1.0, 2.0, "val", None, "x")
    return SplitCalibration("test", 10, 0, 3, False, True, "uniform", 2, "val", rows, comp, bins)


def _by_gid(ax, gid):
    return [a for a in ax.get_children() if a.get_gid() == gid]


def test_reliability_bars_are_the_bin_accuracies_and_counts():
    fig = plot_reliability(_split())
    axes = fig.axes
    assert len(axes) == 4  # two epochs, each a diagram and its counts
    heights = [p.get_height() for p in axes[0].patches]
    assert heights == [0.8]  # epoch 1: the empty bin has no bar
    assert [p.get_x() for p in axes[0].patches] == [0.5]
    assert [p.get_height() for p in axes[2].patches] == [0.25, 0.5]
    assert [p.get_height() for p in axes[3].patches] == [4, 6]
    pts = [ln for ln in axes[2].get_lines() if ln.get_gid() == "points"][0]
    assert pts.get_xdata().tolist() == [0.4, 0.95] and pts.get_ydata().tolist() == [0.25, 0.5]
    diag = [ln for ln in axes[0].get_lines() if ln.get_linestyle() == "--"][0]
    assert list(diag.get_xdata()) == [0, 1] and list(diag.get_ydata()) == [0, 1]
    assert "ECE 0.100 (noise floor 0.050)" in axes[0].get_title()
    assert "95%" in fig.get_suptitle()  # 0.38 / 0.4


def test_temperature_plot_has_loss_loss_at_t_and_t():
    fig = plot_temperature(_split())
    top, bottom = fig.axes
    lines = {ln.get_gid(): ln for ax in (top, bottom) for ln in ax.get_lines() if ln.get_gid()}
    assert lines["nll"].get_ydata().tolist() == [0.5, 0.6, 0.9]
    assert lines["loss_at_t"].get_ydata().tolist() == [0.4, 0.45, 0.42]
    assert lines["temperature"].get_ydata().tolist() == [1.0, 1.5, 2.0]
    assert lines["temperature"].get_xdata().tolist() == [1, 2, 3]
    assert "'val'" in bottom.get_title()


def test_figures_are_written(tmp_path):
    paths = calibration_figures_for(_split(), tmp_path, fmt="png")
    assert [p.name for p in paths] == ["reliability.png", "temperature.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths)


def test_a_fit_at_a_bound_is_an_open_triangle_and_named_in_the_title():
    """Hand-built rows: epoch 2 at the upper bound, epoch 3 at the lower one; their points
    get triangles pointing beyond the range, the legend says so, and the title's T* reads
    "≥1000 → ≤0.001" rather than two fitted values."""
    s = _split()
    rows = [
        s.per_epoch[0],
        replace(_row(2, 0.6, 0.45, 1000.0), temperature_status="upper_bound"),
        replace(_row(3, 0.9, 0.42, 0.001), temperature_status="lower_bound"),
    ]
    comp = CalibrationComparison(2, 3, "given", 0.3, 0.02, 0.28, 0.93, 1000.0, 0.001, "val", None)
    split = SplitCalibration("test", 10, 0, 3, False, True, "uniform", 2, "val", rows, comp, s.bins)
    fig = plot_temperature(split)
    _, bottom = fig.axes
    lines = {ln.get_gid(): ln for ln in bottom.get_lines() if ln.get_gid()}
    assert lines["upper_bound"].get_xdata().tolist() == [2]
    assert lines["upper_bound"].get_marker() == "^"
    assert lines["lower_bound"].get_xdata().tolist() == [3]
    assert lines["lower_bound"].get_marker() == "v"
    labels = [t.get_text() for t in bottom.get_legend().get_texts()]
    assert labels == [
        "T* ≤ 0.001: the range's end (the loss keeps falling beyond it)",
        "T* ≥ 1000: the range's end (the loss keeps falling beyond it)",
    ]
    assert "(T* ≥1000 → ≤0.001)" in fig.get_suptitle()
    # the reliability diagrams' titles too (epochs 1 and 3 have bins; 0.001 printed as 0.00)
    titles = [ax.get_title() for ax in plot_reliability(split).axes]
    assert titles[0].endswith("\nT* 1.00") and titles[2].endswith("\nT* ≤0.001")
    # no bound: no triangles and no legend in the T* panel
    _, plain = plot_temperature(_split()).axes
    assert plain.get_legend() is None
    assert not {ln.get_gid() for ln in plain.get_lines()} & {"upper_bound", "lower_bound"}
