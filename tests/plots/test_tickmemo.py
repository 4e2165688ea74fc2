"""Ticks remembered while a figure is saved: the same files, and fresh ticks after a change.

The reference is matplotlib's own ``Axis._update_ticks`` (the memo switched off), on
the figures ``analyze`` writes for the sample run and on an axis changed in between.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
from matplotlib.axis import Axis  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import predaudit  # noqa: E402
from predaudit import plots  # noqa: E402
from predaudit.plots import save  # noqa: E402
from predaudit.plots.tickmemo import remembered_ticks  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data" / "stacked"


def test_figures_are_the_same_bytes_with_and_without_the_memo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = predaudit.analyze(predaudit.load_run(SAMPLE))
    with_memo = [
        p for n, s in report.splits.items() for p in plots.write_analyze_figures(s, tmp_path / n)
    ]
    monkeypatch.setattr(save, "remembered_ticks", lambda fig: contextlib.nullcontext())
    without = [
        p
        for n, s in report.splits.items()
        for p in plots.write_analyze_figures(s, tmp_path / "plain" / n)
    ]
    assert len(with_memo) == 8
    for a, b in zip(with_memo, without, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


def labels(axis: Axis) -> list[str]:
    return [t.label1.get_text() for t in Axis._update_ticks(axis)]


def test_a_change_of_view_or_size_gives_fresh_ticks() -> None:
    fig = Figure(figsize=(4, 3), dpi=100)
    ax = fig.add_subplot()
    ax.plot([0, 10], [0, 1])
    fig.canvas.draw()
    with remembered_ticks(fig):
        first = [t.label1.get_text() for t in ax.xaxis._update_ticks()]
        assert "_update_ticks" in vars(ax.xaxis)
        assert first == labels(ax.xaxis)
        ax.set_xlim(0, 1000)
        wide = [t.label1.get_text() for t in ax.xaxis._update_ticks()]
        assert wide == labels(ax.xaxis) and wide != first
        fig.set_size_inches(1.2, 3)  # a narrower axes gets fewer ticks
        narrow = [t.label1.get_text() for t in ax.xaxis._update_ticks()]
        assert narrow == labels(ax.xaxis) and len(narrow) < len(wide)
    assert "_update_ticks" not in vars(ax.xaxis)  # matplotlib's own method again


def test_shared_formatters_format_each_axis_ticks() -> None:
    """Two axes sharing x have one formatter: each call answers for its own axis."""
    fig = Figure(figsize=(4, 4), dpi=100)
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.plot([0, 5], [0, 1])
    bottom.plot([0, 5], [0, 1000])
    fig.canvas.draw()
    with remembered_ticks(fig):
        for ax in (top, bottom, top, bottom):
            got = [t.label1.get_text() for t in ax.yaxis._update_ticks()]
            assert got == labels(ax.yaxis)
            assert ax.xaxis._update_ticks() == Axis._update_ticks(ax.xaxis)
