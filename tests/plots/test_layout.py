"""The shortcuts of predaudit.plots.layout and save_figure draw what matplotlib would.

References are matplotlib's own paths, run beside ours on the same figures: the pixels of
``Figure.savefig`` (layout engine attached, two draws, RGBA), the axes positions of
``ConstrainedLayoutEngine``, the minor tick locations and pixels of real ``Tick`` objects,
and the mathtext labels of ``LogFormatterSciNotation``, written out by hand.
"""

from __future__ import annotations

import gc
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.layout_engine import ConstrainedLayoutEngine  # noqa: E402
from matplotlib.ticker import LogFormatterSciNotation, NullFormatter  # noqa: E402
from PIL import Image  # noqa: E402

import predaudit  # noqa: E402
from predaudit import plots  # noqa: E402
from predaudit.plots.canvas import MeasuringCanvas  # noqa: E402
from predaudit.plots.layout import (  # noqa: E402
    MinorTickMarks,
    OnePassLayout,
    PlainLogFormatter,
    light_minor_ticks,
    paused_gc,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sample() -> dict:
    """The sample run's two splits (the figures analyze --out writes for it)."""
    return predaudit.analyze(predaudit.load_run(ROOT / "sample_data" / "stacked")).splits


def figures(sample: dict):
    for name, split in sample.items():
        for fig_name in plots.analyze_figures(split):
            yield f"{name}/{fig_name}", lambda s=split, f=fig_name: getattr(plots, f"plot_{f}")(s)


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))


def test_save_figure_writes_the_pixels_of_savefig(sample, tmp_path):
    """One draw, encoded as RGB: the pixels savefig writes for that layout (text unhinted)."""
    for name, make in figures(sample):
        fig = make()
        path = plots.save_figure(fig, tmp_path / "ours.png")
        ours = path.read_bytes()
        assert Image.open(io.BytesIO(ours)).mode == "RGB"  # opaque: no alpha channel
        # the reference: matplotlib's savefig (print_png, RGBA) of the laid-out figure,
        # on matplotlib's own canvas (not the MeasuringCanvas save_figure drew with)
        assert isinstance(fig.canvas, MeasuringCanvas)
        FigureCanvasAgg(fig)
        fig.set_layout_engine(None)
        buf = io.BytesIO()
        with matplotlib.rc_context({"text.hinting": "no_hinting"}):  # as save_figure draws
            fig.savefig(buf, format="png")
        assert np.array_equal(pixels(ours), pixels(buf.getvalue())), name


def test_save_figure_draws_text_unhinted_and_leaves_the_rc_settings_alone(tmp_path):
    fig = Figure(figsize=(2, 1), dpi=100)
    fig.text(0.1, 0.4, "Hinting 0.123 nats", fontsize=14)
    before = dict(matplotlib.rcParams)
    ours = pixels(plots.save_figure(fig, tmp_path / "a.png").read_bytes())
    assert dict(matplotlib.rcParams) == before
    drawn = {}
    for hinting in ("no_hinting", "default"):
        ref = Figure(figsize=(2, 1), dpi=100)
        ref.text(0.1, 0.4, "Hinting 0.123 nats", fontsize=14)
        buf = io.BytesIO()
        with matplotlib.rc_context({"text.hinting": hinting}):
            ref.savefig(buf, format="png")
        drawn[hinting] = pixels(buf.getvalue())
    assert np.array_equal(ours, drawn["no_hinting"])
    assert not np.array_equal(ours, drawn["default"])


def test_save_figure_is_byte_stable(sample, tmp_path):
    split = sample["test"]
    a = plots.save_figure(plots.plot_loss_split(split), tmp_path / "a.png").read_bytes()
    b = plots.save_figure(plots.plot_loss_split(split), tmp_path / "b.png").read_bytes()
    assert a == b


def positions(fig: Figure) -> np.ndarray:
    """Every axes' box in pixels."""
    return np.array([ax.get_window_extent().bounds for ax in fig.axes])


def test_one_pass_layout_places_the_axes_where_constrained_layout_does(sample):
    """Within 3 px (the padding is 4): the second pass only moves overhanging labels."""
    for name, make in figures(sample):
        fig = make()
        assert isinstance(fig.get_layout_engine(), OnePassLayout)
        FigureCanvasAgg(fig)
        fig.get_layout_engine().execute(fig)
        ours = positions(fig)
        reference = make()
        reference.set_layout_engine(ConstrainedLayoutEngine())
        FigureCanvasAgg(reference)
        reference.get_layout_engine().execute(reference)
        assert np.abs(ours - positions(reference)).max() <= 3, name


def _ticks_that_change() -> Figure:
    # long y tick labels: the layout narrows the axes a lot, so the x locator ("auto"
    # bins) gives fewer ticks after the first pass than before it
    fig = Figure(figsize=(3, 2.5), dpi=100, layout=OnePassLayout())
    ax = fig.add_subplot()
    ax.plot([0, 100], [0, 1.5e9])
    ax.ticklabel_format(axis="y", style="plain", useOffset=False)
    ax.set_ylabel("a long y label\non two lines")
    return fig


def test_one_pass_layout_makes_the_second_pass_when_a_tick_moved(monkeypatch):
    from matplotlib import _constrained_layout as cl

    calls = []
    real = cl.reposition_axes
    monkeypatch.setattr(cl, "reposition_axes", lambda *a, **k: calls.append(1) or real(*a, **k))
    fig = _ticks_that_change()
    FigureCanvasAgg(fig)
    before = [ax.xaxis.get_majorticklocs().tolist() for ax in fig.axes]
    fig.get_layout_engine().execute(fig)
    after = [ax.xaxis.get_majorticklocs().tolist() for ax in fig.axes]
    assert before != after  # the case is the one described
    assert len(calls) == 2
    ours = positions(fig)
    reference = _ticks_that_change()
    reference.set_layout_engine(ConstrainedLayoutEngine())
    FigureCanvasAgg(reference)
    reference.get_layout_engine().execute(reference)
    assert np.allclose(ours, positions(reference))  # both passes: matplotlib's positions


def test_one_pass_layout_gives_a_colorbar_figure_both_passes():
    def make(engine):
        fig = Figure(figsize=(5, 4), dpi=100, layout=engine)
        ax = fig.add_subplot()
        im = ax.imshow(np.arange(12.0).reshape(3, 4))
        fig.colorbar(im, ax=ax, label="a colorbar label")
        ax.set_title("title")
        FigureCanvasAgg(fig)
        fig.get_layout_engine().execute(fig)
        return positions(fig)

    assert np.allclose(make(OnePassLayout()), make(ConstrainedLayoutEngine()))


def _log_axes(minor_formatter=None, light=False, ylim=(2e-4, 30.0)) -> Figure:
    fig = Figure(figsize=(5, 4), dpi=100)
    ax = fig.add_subplot()
    ax.plot([0, 1, 2], [1e-3, 0.5, 10.0])
    ax.set_yscale("log")
    ax.set_ylim(*ylim)
    if minor_formatter is not None:
        ax.yaxis.set_minor_formatter(minor_formatter)
    if light:
        assert light_minor_ticks(ax.yaxis)
    FigureCanvasAgg(fig).draw()
    return fig


@pytest.mark.parametrize("formatter", [None, NullFormatter()])
def test_minor_tick_marks_are_the_minor_ticks(formatter):
    """The same locations as matplotlib's minor ticks in view, and the same pixels."""
    reference = _log_axes(formatter)
    axis = reference.axes[0].yaxis
    minor = {id(t) for t in axis.minorTicks}
    expected = sorted(t.get_loc() for t in axis._update_ticks() if id(t) in minor)  # drawn
    assert len(expected) > 20
    ours = _log_axes(formatter, light=True)
    (marks,) = [a for a in ours.axes[0].artists if isinstance(a, MinorTickMarks)]
    assert np.allclose(sorted(marks.locations()), expected)
    assert len(ours.axes[0].yaxis.get_minorticklocs()) == 0  # no Tick objects for them
    assert np.array_equal(
        np.asarray(ours.canvas.buffer_rgba()), np.asarray(reference.canvas.buffer_rgba())
    )


def test_minor_tick_marks_leave_labelled_minor_ticks_alone():
    fig = Figure()
    ax = fig.add_subplot()
    ax.set_yscale("log")
    ax.set_ylim(0.2, 0.9)  # under one decade: matplotlib labels minor ticks
    assert not light_minor_ticks(ax.yaxis)
    ax.set_xscale("linear")
    assert not light_minor_ticks(ax.xaxis)  # not a log axis
    ax.yaxis.set_ticks_position("both")
    ax.set_ylim(1e-3, 10)
    assert not light_minor_ticks(ax.yaxis)  # marks on both sides


def test_plain_log_labels_are_matplotlibs_labels_in_unicode():
    """Hand-written: what LogFormatterSciNotation writes in mathtext, in plain text."""
    fig = Figure()
    ax = fig.add_subplot()
    ax.set_yscale("log")
    ax.set_ylim(1e-7, 30)
    ours, theirs = PlainLogFormatter(), LogFormatterSciNotation()
    for f in (ours, theirs):
        f.set_axis(ax.yaxis)
    locs = [1e-7, 1e-3, 0.1, 1.0, 10.0]
    assert [theirs(v) for v in locs] == [
        r"$\mathdefault{10^{-7}}$",
        r"$\mathdefault{10^{-3}}$",
        r"$\mathdefault{10^{-1}}$",
        r"$\mathdefault{10^{0}}$",
        r"$\mathdefault{10^{1}}$",
    ]
    assert [ours(v) for v in locs] == ["10⁻⁷", "10⁻³", "10⁻¹", "10⁰", "10¹"]
    ax.set_ylim(0.15, 0.9)  # within a decade: minor ticks labelled too
    minor_ours = PlainLogFormatter(labelOnlyBase=False)
    minor_theirs = LogFormatterSciNotation(labelOnlyBase=False)
    for f in (minor_ours, minor_theirs):
        f.set_axis(ax.yaxis)
        f.set_locs([0.2, 0.3, 0.5])
    assert minor_theirs(0.2) == r"$\mathdefault{2\times10^{-1}}$"
    assert minor_ours(0.2) == "2×10⁻¹"


def test_paused_gc_restores_the_collector():
    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_titles_placed_at_the_top_are_where_matplotlib_would_place_them(sample):
    """Titles set at ``y=1`` (nothing above their axes) sit where matplotlib's automatic
    placement, which measures what is above the axes, puts them."""
    fixed = 0
    for name, make in figures(sample):
        ours, reference = make(), make()
        for ax in reference.axes:
            ax._autotitlepos = True  # matplotlib's automatic placement for every title
        fixed += sum(ax._autotitlepos is False for ax in ours.axes)
        for fig in (ours, reference):
            FigureCanvasAgg(fig)
            fig.get_layout_engine().execute(fig)
            fig.draw_without_rendering()
        for a, b in zip(ours.axes, reference.axes, strict=True):
            assert a.title.get_window_extent().bounds == b.title.get_window_extent().bounds, name
    assert fixed == 4  # rise_samples and loss_split's lower panel, in both splits
