"""The plots draw the report's numbers, work at the edges, and are written atomically.

No pixel comparisons: the tests read back what each Figure holds (line data, bar
heights, area outlines, texts) and compare it with the SplitAnalysis it was drawn
from; text overlap is checked on the rendered bounding boxes. Expected values are
computed independently of predaudit.plots: from the report's fields, with numpy on the
underlying arrays, or by hand (the hand-made run below, whose titles are written out).
"""

from __future__ import annotations

import gc
import itertools
import weakref
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.collections import LineCollection, PathCollection, PolyCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.image import AxesImage  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Rectangle, StepPatch  # noqa: E402
from matplotlib.text import Text  # noqa: E402

import predaudit  # noqa: E402
from predaudit import plots  # noqa: E402
from predaudit.analysis.analyze import analyze_split  # noqa: E402
from predaudit.report.analyze import SplitAnalysis  # noqa: E402

# -- synthetic runs -----------------------------------------------------------------------


def write_run(
    path: Path,
    *,
    epochs: int,
    n: int = 400,
    classes: int = 5,
    seed: int = 0,
    ids: bool = True,
    binary_logit: bool = False,
    zero_loss: int = 0,
) -> Path:
    """A stacked run whose loss falls, then rises while the wrong samples grow more wrong.

    A fixed ~8% of samples are never learned; the logits of every sample are scaled
    up over the epochs, so confident mistakes get costlier while accuracy stays flat.
    ``zero_loss`` samples get a margin of 1000 (loss exactly 0) from the start.
    """
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2 if binary_logit else classes, n)
    hard = rng.random(n) < 0.08
    base = rng.normal(size=(n, classes)) * 0.8
    onehot = np.eye(classes)[labels]
    out = np.empty((epochs, n) if binary_logit else (epochs, n, classes), np.float32)
    for e in range(epochs):
        t = (e + 1) / max(epochs, 1)
        learn = min(1.0, 3 * t)
        scale = 0.5 + 4.0 * t
        noise = rng.normal(size=(n, classes)) * (0.3 * (1 - learn) + 0.25)
        margin = np.where(hard, -1.0, 3.0 * learn)
        if binary_logit:
            sign = np.where(labels == 1, 1.0, -1.0)
            out[e] = scale * sign * (margin + base[:, 0] * 0.5 + noise[:, 0])
        else:
            out[e] = scale * (base + margin[:, None] * onehot + noise)
    if zero_loss:
        if binary_logit:
            out[:, :zero_loss] = np.where(labels[:zero_loss] == 1, 1000.0, -1000.0)
        else:
            out[:, :zero_loss] = 0.0
            out[:, :zero_loss][:, np.arange(zero_loss), labels[:zero_loss]] = 1000.0
    path.mkdir(parents=True, exist_ok=True)
    np.save(path / "logits.npy", out)
    np.save(path / "labels.npy", labels)
    if ids:
        np.save(path / "ids.npy", np.arange(n) * 3 + 7)
    return path


def write_unaligned(path: Path, *, n: int = 60, classes: int = 3) -> Path:
    """Two per-epoch files without ids whose labels differ: samples cannot be followed."""
    rng = np.random.default_rng(5)
    path.mkdir(parents=True, exist_ok=True)
    for e in (1, 2):
        labels = rng.integers(0, classes, n)
        logits = rng.normal(size=(n, classes)).astype(np.float32) * e
        np.savez(path / f"epoch_{e}.npz", logits=logits, labels=labels)
    return path


# The Okabe–Ito colours, written out: the same colour means the same thing in every figure.
VERMILLION, BLUE, ORANGE, SKY_BLUE = "#D55E00", "#0072B2", "#E69F00", "#56B4E9"
CELL_COLOR = {
    "correct_to_correct": BLUE,
    "correct_to_wrong": ORANGE,
    "wrong_to_correct": SKY_BLUE,
    "wrong_to_wrong": VERMILLION,
}
CELLS = ("correct_to_correct", "correct_to_wrong", "wrong_to_correct", "wrong_to_wrong")

# The hand-made run: 4 samples, 2 classes, 2 epochs, and the loss (nats) of every sample is
# chosen. The scores are log-probabilities, [log p, log(1 - p)] with p = exp(-loss) on the
# true class, so a sample is correct iff p > 1/2, i.e. iff its loss < ln 2 = 0.693:
#
#   sample              s0      s1      s2      s3
#   epoch 1 loss       0.1     0.5     1.0     1.5      correct: s0 s1   wrong: s2 s3
#   epoch 2 loss       0.2     1.0     0.3     3.1      correct: s0 s2   wrong: s1 s3
#   cell              C→C     C→W     W→C     W→W
#   Δloss             +0.1    +0.5    −0.7    +1.6
#
# Mean loss 3.1/4 = 0.775 → 4.6/4 = 1.15, so ΔL = +0.375 (best epoch 1 → last epoch 2);
# accuracy 2/4 = 50% at both. Each cell's contribution is its Δloss / 4: +0.025, +0.125,
# −0.175, +0.4 (sum 0.375), i.e. +6.7%, +33.3%, −46.7%, +106.7% of ΔL. The wrong samples'
# mean (and median) loss goes (1.0 + 1.5)/2 = 1.25 → (1.0 + 3.1)/2 = 2.05; at epoch 1 they
# carry (1.0 + 1.5)/4 = 0.625 of the 0.775 mean loss, 80.6%.
HAND_LOSS = np.array([[0.1, 0.5, 1.0, 1.5], [0.2, 1.0, 0.3, 3.1]])
HAND_LABELS = np.array([0, 1, 0, 1])


def write_hand_made(
    path: Path, epochs: int = 2, *, loss: np.ndarray = HAND_LOSS, labels: np.ndarray = HAND_LABELS
) -> Path:
    loss = loss[:epochs]
    n = loss.shape[1]
    p = np.exp(-loss)
    scores = np.empty((*loss.shape, 2))
    scores[:, np.arange(n), labels] = np.log(p)
    scores[:, np.arange(n), 1 - labels] = np.log1p(-p)
    path.mkdir(parents=True, exist_ok=True)
    np.save(path / "logits.npy", scores.astype(np.float32))
    np.save(path / "labels.npy", labels)
    return path


# A second hand-made run for the paired view, 6 samples (correct iff loss < ln 2 = 0.693):
#
#   sample              s0      s1      s2      s3      s4      s5
#   epoch 1 loss      0.05     0.2     0.9     1.2     2.0     0.3
#   epoch 2 loss      0.01     0.1     4.0     1.0     8.0     1.5
#   cell              C→C     C→C     W→W     W→W     W→W     C→W
#
# Wrong at both epochs: s2 0.9 → 4.0 (rose), s3 1.2 → 1.0 (fell), s4 2.0 → 8.0 (rose): 2 of 3
# got more wrong, median 1.2 → 4.0. Correct at both: s0, s1; their 10% and 90% quantiles
# (linear interpolation) are 0.05 + 0.1·0.15 = 0.065 and 0.05 + 0.9·0.15 = 0.185 at epoch 1,
# 0.01 + 0.1·0.09 = 0.019 and 0.01 + 0.9·0.09 = 0.091 at epoch 2; median 0.125 → 0.055.
RISE_LOSS = np.array([[0.05, 0.2, 0.9, 1.2, 2.0, 0.3], [0.01, 0.1, 4.0, 1.0, 8.0, 1.5]])
RISE_LABELS = np.array([0, 1, 1, 0, 1, 0])


def split_of(path: Path) -> SplitAnalysis:
    run = predaudit.load_run(path)
    (stats,) = run.splits.values()
    return analyze_split(stats)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SplitAnalysis]:
    root = tmp_path_factory.mktemp("runs")
    return {
        "rising": split_of(write_run(root / "rising", epochs=12)),
        "one": split_of(write_run(root / "one", epochs=1)),
        "binary": split_of(write_run(root / "binary", epochs=8, n=300, binary_logit=True)),
        "long": split_of(write_run(root / "long", epochs=200, n=150, classes=3)),
        "zero": split_of(write_run(root / "zero", epochs=6, n=200, zero_loss=30)),
        "unaligned": split_of(write_unaligned(root / "unaligned")),
        "hand": split_of(write_hand_made(root / "hand")),
        "hand_one": split_of(write_hand_made(root / "hand_one", epochs=1)),
        "hand_rise": split_of(
            write_hand_made(root / "hand_rise", loss=RISE_LOSS, labels=RISE_LABELS)
        ),
        "many_wrong": split_of(write_run(root / "many_wrong", epochs=4, n=4000)),
    }


@pytest.fixture(autouse=True)
def no_pyplot_figures():
    """Nothing in predaudit.plots may register a figure with pyplot."""
    yield
    assert plt.get_fignums() == []


# -- helpers ------------------------------------------------------------------------------


def by_gid(fig: Figure, gid: str, kind: type = object) -> list:
    return [a for a in fig.findobj(lambda a: a.get_gid() == gid) if isinstance(a, kind)]


def one(fig: Figure, gid: str, kind: type = object):
    found = by_gid(fig, gid, kind)
    assert len(found) == 1, f"{gid}: {found}"
    return found[0]


def top_labels(ax: Axes) -> list[str]:
    """The labels drawn along the top edge of ``ax``: its x axis' top tick labels."""
    ticks = ax.xaxis._update_ticks()  # the ticks in view, labels formatted
    return [t.label2.get_text() for t in ticks if t.label2.get_visible() and t.label2.get_text()]


def drawn_texts(fig: Figure) -> list[Text]:
    """Every non-empty text the renderer draws (tick labels only for ticks in view)."""
    fig.draw_without_rendering()  # layout and text positions, no pixels
    texts: list[Text] = [t for t in fig.texts]
    if fig._suptitle is not None:
        texts.append(fig._suptitle)
    for ax in fig.axes + [c for a in fig.axes for c in a.child_axes]:
        if not ax.get_visible():
            continue
        texts += [ax.title, ax._left_title, ax._right_title] + list(ax.texts)
        if not ax.axison:
            continue
        for axis in (ax.xaxis, ax.yaxis):
            if not axis.get_visible():
                continue
            texts += [axis.label, axis.offsetText]
            for tick in axis._update_ticks():  # the ticks in view, i.e. drawn
                texts += [tick.label1, tick.label2]
    for legend in fig.legends + [a.get_legend() for a in fig.axes if a.get_legend()]:
        texts += legend.get_texts()
    unique = {id(t): t for t in texts if t.get_visible() and t.get_text().strip()}
    return list(unique.values())


def assert_readable(fig: Figure) -> None:
    """No two drawn texts overlap, and none sticks out of the figure."""
    texts = drawn_texts(fig)
    renderer = fig._get_renderer()
    boxes = [(t, t.get_window_extent(renderer).expanded(1, 1)) for t in texts]
    frame = fig.bbox.padded(2)
    for t, box in boxes:
        assert frame.contains(box.x0, box.y0) and frame.contains(box.x1, box.y1), (
            f"outside the figure: {t.get_text()!r}"
        )
    for (t1, b1), (t2, b2) in itertools.combinations(boxes, 2):
        shrunk1 = b1.padded(-1)
        shrunk2 = b2.padded(-1)
        assert not shrunk1.overlaps(shrunk2), f"overlap: {t1.get_text()!r} / {t2.get_text()!r}"


def one_line(text: str) -> str:
    """A title as one line (long titles are wrapped to fit)."""
    return " ".join(text.split())


def suptitle(fig: Figure) -> str:
    """The figure's title as one line."""
    return one_line(fig.get_suptitle())


def rgb(artist_color) -> tuple[float, float, float]:
    return tuple(matplotlib.colors.to_rgb(artist_color))


def with_gid(artists, gid: str) -> list:
    return [a for a in artists if a.get_gid() == gid]


def hand_made_arrays() -> dict[str, np.ndarray]:
    """What the figures of the hand-made run show, computed with numpy from HAND_LOSS."""
    n = HAND_LOSS.shape[1]
    correct = HAND_LOSS < np.log(2)
    delta = HAND_LOSS[1] - HAND_LOSS[0]
    cell_masks = {
        "correct_to_correct": correct[0] & correct[1],
        "correct_to_wrong": correct[0] & ~correct[1],
        "wrong_to_correct": ~correct[0] & correct[1],
        "wrong_to_wrong": ~correct[0] & ~correct[1],
    }
    return {
        "loss": HAND_LOSS.mean(axis=1),
        "accuracy": 100 * correct.mean(axis=1),
        "contribution_correct": np.where(correct, HAND_LOSS, 0).sum(axis=1) / n,
        "contribution_wrong": np.where(~correct, HAND_LOSS, 0).sum(axis=1) / n,
        "loss_correct": np.array([HAND_LOSS[e][correct[e]].mean() for e in (0, 1)]),
        "loss_wrong": np.array([HAND_LOSS[e][~correct[e]].mean() for e in (0, 1)]),
        "cells": np.array([delta[cell_masks[k]].sum() / n for k in CELLS]),
        "delta_loss": np.array(delta.mean()),
        "wrong_from": HAND_LOSS[0][~correct[0]],
        "wrong_to": HAND_LOSS[1][~correct[1]],
        "correct_from": HAND_LOSS[0][correct[0]],
        "correct_to": HAND_LOSS[1][correct[1]],
    }


# -- the synthetic runs tell the story ----------------------------------------------------


def test_rising_run_is_the_story(runs):
    s = runs["rising"]
    assert s.comparison is not None and s.comparison.transitions is not None
    assert s.comparison.delta_loss > 0
    assert s.hypothesis is not None and s.hypothesis.verdict == "supported"


def test_the_hand_made_run_is_as_computed(runs):
    """The report of the hand-made run holds the numbers worked out above."""
    s = runs["hand"]
    expected = hand_made_arrays()
    np.testing.assert_allclose([r.loss for r in s.per_epoch], [0.775, 1.15], rtol=1e-6)
    np.testing.assert_allclose(expected["loss"], [0.775, 1.15])
    np.testing.assert_allclose(expected["cells"], [0.025, 0.125, -0.175, 0.4], atol=1e-12)
    assert s.comparison is not None and s.comparison.transitions is not None
    assert (s.comparison.from_epoch, s.comparison.to_epoch) == (1, 2)
    assert [s.comparison.transitions[k].n for k in CELLS] == [1, 1, 1, 1]


# -- titles state the finding: literal titles for the hand-made run -----------------------


def test_titles_of_the_hand_made_run(runs):
    s = runs["hand"]
    # every title names the split ("default": one unnamed split) and the epochs
    fig = plots.plot_loss_accuracy(s)
    assert one_line(fig.axes[0].get_title()) == (
        "default · epochs 1–2: loss rose 0.375 nats (epoch 1 → 2) while accuracy stayed at 50%"
    )
    assert suptitle(plots.plot_loss_split(s)) == (
        "default · epoch 1 → 2: wrong samples' mean loss rose from 1.25 to 2.05 nats; "
        "error rate stayed at 50%"
    )
    fig = plots.plot_transitions(s)
    # 0.4 / 0.375 = 106.7%: the wrong → wrong cell is more than the whole rise
    assert one_line(fig.axes[0].get_title()) == (
        "default · epoch 1 → 2: wrong → wrong samples account for 107% of the 0.375-nat rise"
    )
    assert [t.get_text() for t in by_gid(fig, "bar_note", Text)] == [
        "+0.0250 (+7%)\nn = 1",
        "+0.125 (+33%)\nn = 1",
        "−0.175 (−47%)\nn = 1",
        "+0.400 (+107%)\nn = 1",
        "+0.375\nn = 4",
    ]
    assert one(fig, "delta_loss_label", Text).get_text() == " ΔL = +0.375"
    # s3 is the only sample wrong at both epochs: 1.5 → 3.1
    assert one_line(plots.plot_rise_samples(s).axes[0].get_title()) == (
        "default · epoch 1 → 2: the one sample wrong at both epochs got more wrong: "
        "1.50 → 3.10 nats"
    )
    fig = plots.plot_loss_distribution(s)
    assert suptitle(fig) == (
        "default · epoch 1 → 2: median loss of wrong samples rose from 1.25 to 2.05 nats"
    )
    # medians: wrong 1.25 → 2.05; correct (0.1, 0.5) → 0.3 and (0.2, 0.3) → 0.25
    panel_titles = [ax.get_title() for ax in fig.axes]
    assert panel_titles == [
        "Wrong samples: median 1.25 → 2.05 nats",
        "Correct samples: median 0.300 → 0.250 nats",
    ]
    assert top_labels(plots.plot_loss_accuracy(s).axes[0]) == ["best 1", "last 2"]


def test_titles_of_the_hand_made_run_at_one_epoch(runs):
    s = runs["hand_one"]
    assert s.comparison is None
    fig = plots.plot_loss_accuracy(s)
    assert one_line(fig.axes[0].get_title()) == (
        "default · epoch 1: mean loss 0.775 nats, accuracy 50%"
    )
    # the wrong samples carry 0.625 of 0.775 nats = 80.6%
    assert suptitle(plots.plot_loss_split(s)) == (
        "default · epoch 1: wrong samples (50%) carry 81% of the 0.775-nat mean loss"
    )
    assert plots.plot_transitions(s).axes[0].get_title() == (
        "default · epoch 1: no transitions, nothing to compare"
    )


# -- loss_accuracy -----------------------------------------------------------------------


def test_loss_accuracy_draws_the_report(runs):
    s = runs["rising"]
    fig = plots.plot_loss_accuracy(s)
    loss = one(fig, "loss", Line2D)
    acc = one(fig, "accuracy", Line2D)
    np.testing.assert_array_equal(loss.get_xdata(), s.epochs)
    np.testing.assert_allclose(loss.get_ydata(), [r.loss for r in s.per_epoch])
    np.testing.assert_array_equal(acc.get_xdata(), s.epochs)
    np.testing.assert_allclose(acc.get_ydata(), [100 * r.accuracy for r in s.per_epoch])
    comp = s.comparison
    assert one(fig, "compared_from", Line2D).get_xdata()[0] == comp.from_epoch
    assert one(fig, "compared_to", Line2D).get_xdata()[0] == comp.to_epoch
    assert top_labels(fig.axes[0]) == [f"best {comp.from_epoch}", f"last {comp.to_epoch}"]
    title = one_line(fig.axes[0].get_title())
    assert title.startswith(f"default · epochs 1–{s.epochs[-1]}: loss rose ")
    assert f" nats (epoch {comp.from_epoch} → {comp.to_epoch}) while accuracy " in title
    assert fig.axes[0].get_ylabel() == "mean loss (nats)"
    assert fig.axes[1].get_ylabel() == "accuracy (%)"
    assert_readable(fig)


def test_loss_accuracy_title_when_accuracy_flat():
    from predaudit.report.analyze import EpochRow

    def row(epoch: int, loss: float, acc: float) -> EpochRow:
        return EpochRow(epoch, 100, loss, acc, int(100 * acc), 0.1, 2.0, 0.05, loss - 0.05)

    from predaudit.report.analyze import Comparison, ShiftShare

    s = SplitAnalysis(
        name="test",
        n_samples=100,
        n_classes=3,
        input_kind="logits",
        kind_detected=True,
        n_clipped=0,
        n_ignored=0,
        aligned=False,
        has_ids=False,
        epochs=[7, 30],
        per_epoch=[row(7, 0.2, 0.94), row(30, 0.31, 0.941)],
        comparison=Comparison(7, 30, "best_loss", 0.11, 0.001, None, ShiftShare(0, 0, 0.11)),
        hypothesis=None,
        top=[],
    )
    fig = plots.plot_loss_accuracy(s)
    assert one_line(fig.axes[0].get_title()) == (
        "test · epochs 7–30: loss rose 0.110 nats (epoch 7 → 30) while accuracy stayed at 94%"
    )


# -- loss_split --------------------------------------------------------------------------


def area_top(collection: PolyCollection, x: np.ndarray) -> np.ndarray:
    """The upper edge of a filled area at each x."""
    vertices = np.concatenate([p.vertices for p in collection.get_paths()])
    return np.array([vertices[np.isclose(vertices[:, 0], xi), 1].max() for xi in x])


def test_loss_split_areas_sum_to_the_loss(runs):
    s = runs["rising"]
    fig = plots.plot_loss_split(s)
    x = np.asarray(s.epochs, dtype=float)
    cc = np.array([r.contribution_correct for r in s.per_epoch])
    cw = np.array([r.contribution_wrong for r in s.per_epoch])
    loss = np.array([r.loss for r in s.per_epoch])
    correct_area = one(fig, "contribution_correct", PolyCollection)
    wrong_area = one(fig, "contribution_wrong", PolyCollection)
    np.testing.assert_allclose(area_top(correct_area, x), cc)
    np.testing.assert_allclose(area_top(wrong_area, x), cc + cw)
    np.testing.assert_allclose(area_top(wrong_area, x), loss)  # the stack is the loss curve
    np.testing.assert_allclose(one(fig, "loss", Line2D).get_ydata(), loss)
    assert correct_area.get_facecolor()[0][:3] == pytest.approx(rgb(BLUE))
    assert wrong_area.get_facecolor()[0][:3] == pytest.approx(rgb(VERMILLION))

    wrong = one(fig, "loss_wrong", Line2D)
    correct = one(fig, "loss_correct", Line2D)
    np.testing.assert_allclose(wrong.get_ydata(), [r.loss_wrong for r in s.per_epoch])
    np.testing.assert_allclose(correct.get_ydata(), [r.loss_correct for r in s.per_epoch])
    assert wrong.get_color() == VERMILLION and correct.get_color() == BLUE
    assert wrong.axes.get_yscale() == "log"
    assert "nats" in wrong.axes.get_ylabel()
    comp = s.comparison
    assert suptitle(fig).startswith(
        f"default · epoch {comp.from_epoch} → {comp.to_epoch}: wrong samples' mean loss rose from "
    )
    assert_readable(fig)


def test_compared_epochs_are_top_tick_labels_of_the_upper_panel_only(runs):
    """The compared epochs are labelled along the top edge by minor ticks of the axes'
    own x axis (no secondary Axes): top side only, also where an epoch is a major
    tick, and the lower panel of loss_split (sharing the x axis) shows none."""
    s = runs["rising"]
    comp = s.comparison
    names = [f"best {comp.from_epoch}", f"last {comp.to_epoch}"]
    for fig in (plots.plot_loss_accuracy(s), plots.plot_loss_split(s)):
        fig.draw_without_rendering()
        upper = fig.axes[0]
        assert [c for a in fig.axes for c in a.child_axes] == []
        assert top_labels(upper) == names
        minor = [t for t in upper.xaxis._update_ticks() if t in upper.xaxis.get_minor_ticks()]
        assert [t.get_loc() for t in minor] == [comp.from_epoch, comp.to_epoch]
        assert comp.to_epoch in upper.xaxis.get_majorticklocs()  # also a major tick
        for t in minor:
            assert t.tick2line.get_visible() and not t.tick1line.get_visible()
            assert not t.label1.get_visible()
            assert t.tick2line.get_color() == t.label2.get_color() == "#666666"
        assert_readable(fig)
    lower = fig.axes[1]  # loss_split's lower panel: dashed lines, no labels, no minor marks
    assert top_labels(lower) == []
    for t in lower.xaxis.get_minor_ticks():
        assert not (t.tick1line.get_visible() or t.tick2line.get_visible())
    assert [line.get_xdata()[0] for line in with_gid(lower.get_lines(), "compared_from")] == [
        comp.from_epoch
    ]


def test_close_compared_epochs_push_their_labels_apart(tmp_path):
    (stats,) = predaudit.load_run(write_run(tmp_path / "run", epochs=40)).splits.values()
    s = analyze_split(stats, start=20, end=22)  # 2 of 40 epochs apart
    for fig in (plots.plot_loss_accuracy(s), plots.plot_loss_split(s)):
        fig.draw_without_rendering()
        ticks = [t for t in fig.axes[0].xaxis.get_minor_ticks() if t.label2.get_text()]
        assert [t.label2.get_text() for t in ticks] == ["from 20", "to 22"]
        assert [t.label2.get_horizontalalignment() for t in ticks] == ["right", "left"]
        assert_readable(fig)


def test_loss_split_floors_zero_losses_on_the_log_axis(runs):
    s = runs["zero"]
    assert min(r.loss_correct for r in s.per_epoch) >= 0
    fig = plots.plot_loss_split(s)
    y = one(fig, "loss_correct", Line2D).get_ydata()
    assert np.all(y >= 1e-12)  # the documented floor of the log axis
    low, _ = one(fig, "loss_correct", Line2D).axes.get_ylim()
    assert low > 0
    assert_readable(fig)


# -- transitions -------------------------------------------------------------------------


def test_transitions_bars_are_the_cells(runs):
    s = runs["rising"]
    comp = s.comparison
    fig = plots.plot_transitions(s)
    heights = {}
    d = s.samples
    for key in CELLS:
        bar = one(fig, key, Rectangle)
        heights[key] = bar.get_height()
        assert bar.get_height() == pytest.approx(comp.transitions[key].contribution)
        assert bar.get_facecolor()[:3] == pytest.approx(rgb(CELL_COLOR[key]))
    # the same bars from the per-sample losses: each cell's Σ Δloss / N
    from_ok, to_ok = d.correct_from, d.correct_to
    masks = [from_ok & to_ok, from_ok & ~to_ok, ~from_ok & to_ok, ~from_ok & ~to_ok]
    delta = d.loss_to.astype(float) - d.loss_from
    np.testing.assert_allclose(
        [heights[k] for k in CELLS], [delta[m].sum() / delta.size for m in masks], atol=1e-9
    )
    assert one(fig, "delta_loss", Rectangle).get_height() == pytest.approx(comp.delta_loss)
    assert sum(heights.values()) == pytest.approx(comp.delta_loss)
    line = one(fig, "delta_loss_line", Line2D)
    assert line.get_ydata()[0] == pytest.approx(comp.delta_loss)

    notes = [t.get_text() for t in by_gid(fig, "bar_note", Text)]
    assert len(notes) == 5
    for mask, note in zip(masks, notes, strict=False):
        assert note.endswith(f"n = {int(mask.sum()):,}")
    assert notes[-1].endswith(f"n = {delta.size:,}")
    # the exact wording and numbers are pinned on the hand-made run
    title = one_line(fig.axes[0].get_title())
    assert title.startswith(
        f"default · epoch {comp.from_epoch} → {comp.to_epoch}: wrong → wrong samples account for "
    )
    assert title.endswith("-nat rise")
    assert fig.axes[0].get_ylabel() == "contribution to ΔL (nats)"
    assert_readable(fig)


def test_transitions_says_plainly_when_samples_are_not_aligned(runs):
    s = runs["unaligned"]
    assert s.comparison is not None and s.comparison.transitions is None
    fig = plots.plot_transitions(s)
    assert by_gid(fig, "wrong_to_wrong") == []
    assert "not aligned" in fig.axes[0].get_title()
    assert "save sample ids" in one(fig, "message", Text).get_text()
    assert_readable(fig)


# -- loss_distribution -------------------------------------------------------------------


def test_loss_distribution_counts_every_sample(runs):
    s = runs["rising"]
    d = s.samples
    fig = plots.plot_loss_distribution(s)
    expected = {
        "wrong_from": d.loss_from[~d.correct_from],
        "wrong_to": d.loss_to[~d.correct_to],
        "correct_from": d.loss_from[d.correct_from],
        "correct_to": d.loss_to[d.correct_to],
    }
    for gid, values in expected.items():
        step = one(fig, gid, StepPatch)
        counts, edges, _ = step.get_data()
        assert counts.sum() == values.size
        # same histogram as an independent one over the drawn edges
        reference, _ = np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)
        np.testing.assert_array_equal(counts, reference)
        median = one(fig, f"{gid}_median", Line2D).get_xdata()[0]
        assert median == pytest.approx(np.median(values))
        assert step.axes.get_xscale() == "log"
    assert one(fig, "wrong_to", StepPatch).get_facecolor()[:3] == pytest.approx(rgb(VERMILLION))
    assert ": median loss of wrong samples rose from" in suptitle(fig)
    assert_readable(fig)


def test_loss_distribution_handles_zero_losses(runs):
    s = runs["zero"]
    d = s.samples
    assert (d.loss_to == 0).sum() >= 30
    fig = plots.plot_loss_distribution(s)
    step = one(fig, "correct_to", StepPatch)
    counts, edges, _ = step.get_data()
    assert counts.sum() == int(d.correct_to.sum())
    assert edges[0] == pytest.approx(1e-12)  # zeros are counted at the documented floor
    assert np.all(np.isfinite(edges)) and edges[0] > 0
    assert "below 1e-12 counted in the first bin" in step.axes.get_xlabel()
    assert_readable(fig)


# -- rise_samples ------------------------------------------------------------------------


def segments_of(lines) -> np.ndarray:
    """A LineCollection's segments as an array (n, 2 points, (x, y))."""
    return np.array([np.asarray(seg) for seg in lines.get_segments()])


def band_edges(band: PolyCollection) -> tuple[np.ndarray, np.ndarray]:
    """The (lower, upper) y of a filled band at x = 0 and x = 1."""
    v = band.get_paths()[0].vertices
    return tuple(
        np.array([v[np.isclose(v[:, 0], x), 1].min() for x in (0, 1)])
        if low
        else np.array([v[np.isclose(v[:, 0], x), 1].max() for x in (0, 1)])
        for low in (True, False)
    )


def test_rise_samples_draws_each_wrong_sample_as_a_line(runs):
    s = runs["hand_rise"]
    correct = RISE_LOSS < np.log(2)  # computed from the hand-made losses, not the report
    ww = ~correct[0] & ~correct[1]
    cc = correct[0] & correct[1]
    fig = plots.plot_rise_samples(s)
    (ax,) = fig.axes
    seg = segments_of(one(fig, "wrong_to_wrong", LineCollection))
    np.testing.assert_array_equal(seg[:, :, 0], [[0, 1]] * 3)  # from the left to the right
    np.testing.assert_allclose(seg[:, 0, 1], RISE_LOSS[0][ww], rtol=1e-5)  # [0.9, 1.2, 2.0]
    np.testing.assert_allclose(seg[:, 1, 1], RISE_LOSS[1][ww], rtol=1e-5)  # [4.0, 1.0, 8.0]
    ends = one(fig, "wrong_to_wrong_ends", PathCollection).get_offsets()
    np.testing.assert_allclose(
        ends, np.column_stack([[0, 0, 0, 1, 1, 1], RISE_LOSS[:, ww].ravel()]), rtol=1e-5
    )
    median = one(fig, "wrong_to_wrong_median", Line2D)
    np.testing.assert_allclose(median.get_ydata(), np.median(RISE_LOSS[:, ww], axis=1), rtol=1e-5)
    np.testing.assert_allclose(median.get_ydata(), [1.2, 4.0], rtol=1e-5)
    low, high = band_edges(one(fig, "correct_to_correct", PolyCollection))
    np.testing.assert_allclose(low, np.quantile(RISE_LOSS[:, cc], 0.1, axis=1), rtol=1e-5)
    np.testing.assert_allclose(high, np.quantile(RISE_LOSS[:, cc], 0.9, axis=1), rtol=1e-5)
    np.testing.assert_allclose([low, high], [[0.065, 0.019], [0.185, 0.091]], rtol=1e-5)
    np.testing.assert_allclose(
        one(fig, "correct_to_correct_median", Line2D).get_ydata(), [0.125, 0.055], rtol=1e-5
    )
    assert rgb(one(fig, "wrong_to_wrong", LineCollection).get_color()[0]) == pytest.approx(
        rgb(VERMILLION)
    )
    assert one(fig, "correct_to_correct", PolyCollection).get_facecolor()[0][:3] == (
        pytest.approx(rgb(BLUE))
    )
    assert ax.get_yscale() == "log"
    assert ax.get_ylabel() == "per-sample loss (nats, log scale)"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["epoch 1\n(best)", "epoch 2\n(last)"]
    # the median change is in the legend, with the numbers of the title
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == [
        "correct at both epochs (n = 2): middle 80%, median dashed",
        "wrong at both epochs (n = 3): one line per sample",
        "median of the wrong samples: 1.20 → 4.00 nats",
    ]
    assert one_line(ax.get_title()) == (
        "default · epoch 1 → 2: 2 of 3 samples wrong at both epochs got more wrong; "
        "median loss 1.20 → 4.00 nats"
    )
    # s4 rose most: 8.0 − 2.0 = 6.0 nats, named at the end of its line
    assert one(fig, "largest_rise", Text).get_text() == "+6.00 nats\n(largest rise)"
    assert_readable(fig)


def test_rise_samples_draws_into_the_given_axes(runs):
    correct = RISE_LOSS < np.log(2)
    ww = ~correct[0] & ~correct[1]
    fig = Figure(figsize=(7, 5))
    ax = fig.add_subplot()
    assert plots.plot_rise_samples(runs["hand_rise"], ax=ax) is fig
    assert fig.axes == [ax]
    (lines,) = with_gid(ax.collections, "wrong_to_wrong")
    np.testing.assert_allclose(segments_of(lines)[:, :, 1], RISE_LOSS[:, ww].T, rtol=1e-5)
    assert ax.get_legend() is not None and fig.legends == []
    assert one_line(ax.get_title()).startswith("default · epoch 1 → 2: 2 of 3 samples wrong")
    assert fig.get_suptitle() == ""


def test_rise_samples_floors_tiny_losses_without_a_spike(runs):
    s = runs["zero"]
    d = s.samples
    cc = d.correct_from & d.correct_to
    assert (d.loss_to[cc] == 0).sum() >= 30
    fig = plots.plot_rise_samples(s)
    (ax,) = fig.axes
    low, high = band_edges(one(fig, "correct_to_correct", PolyCollection))
    q10 = np.quantile(d.loss_to[cc], 0.1)
    assert q10 < 1e-3 and low[1] == pytest.approx(1e-3)  # drawn at the floor, not below
    assert high[0] == pytest.approx(max(np.quantile(d.loss_from[cc], 0.9), 1e-3))
    polys = [c for c in ax.collections if isinstance(c, PolyCollection)]
    drawn = [path.vertices[:, 1] for c in polys for path in c.get_paths()]
    drawn += [np.asarray(seg)[:, 1] for seg in one(fig, "wrong_to_wrong").get_segments()]
    drawn += [one(fig, "wrong_to_wrong_ends").get_offsets()[:, 1]]
    drawn += [line.get_ydata() for line in ax.get_lines() if "_to_" in str(line.get_gid())]
    assert min(float(np.min(y)) for y in drawn) >= 1e-3 * (1 - 1e-9)  # nothing below the floor
    assert ax.get_ylim()[0] < 1e-3
    labels = [t.get_text() for t in drawn_texts(fig)]
    assert "≤ 0.001" in labels
    assert_readable(fig)


def test_rise_samples_many_wrong_samples_get_quantile_bands(runs):
    s = runs["many_wrong"]
    d = s.samples
    ww = ~d.correct_from & ~d.correct_to
    assert ww.sum() > 200  # more than the documented RISE_LINES_MAX
    fig = plots.plot_rise_samples(s)
    assert by_gid(fig, "wrong_to_wrong") == [] and by_gid(fig, "wrong_to_wrong_ends") == []
    for gid, (qa, qb) in (
        ("wrong_to_wrong_10_90", (0.1, 0.9)),
        ("wrong_to_wrong_25_75", (0.25, 0.75)),
    ):
        low, high = band_edges(one(fig, gid, PolyCollection))
        np.testing.assert_allclose(
            low, [np.quantile(d.loss_from[ww], qa), np.quantile(d.loss_to[ww], qa)]
        )
        np.testing.assert_allclose(
            high, [np.quantile(d.loss_from[ww], qb), np.quantile(d.loss_to[ww], qb)]
        )
    np.testing.assert_allclose(
        one(fig, "wrong_to_wrong_median", Line2D).get_ydata(),
        [np.median(d.loss_from[ww]), np.median(d.loss_to[ww])],
    )
    title = one_line(fig.axes[0].get_title())
    rose = int((d.loss_to[ww] > d.loss_from[ww]).sum())
    assert title.startswith(
        f"default · epoch {s.comparison.from_epoch} → {s.comparison.to_epoch}: "
    )
    assert f"{rose:,} of {int(ww.sum()):,} samples wrong at both epochs got more wrong" in title
    assert_readable(fig)


def test_rise_samples_says_why_without_samples(runs):
    assert "nothing to compare" in plots.plot_rise_samples(runs["one"]).axes[0].get_title()
    fig = plots.plot_rise_samples(runs["unaligned"])
    assert fig.axes[0].get_title() == "default · epoch 1 → 2: samples are not aligned across epochs"
    assert by_gid(fig, "wrong_to_wrong") == []
    assert_readable(fig)


# -- every figure at the edges ------------------------------------------------------------


@pytest.mark.parametrize("name", ["one", "binary", "long", "unaligned"])
def test_every_figure_works_and_reads(runs, name):
    """(The rising and zero-loss runs are checked figure by figure above.)"""
    s = runs[name]
    for plot in (
        plots.plot_loss_accuracy,
        plots.plot_loss_split,
        plots.plot_transitions,
        plots.plot_rise_samples,
        plots.plot_loss_distribution,
    ):
        fig = plot(s)
        assert isinstance(fig, Figure)
        assert_readable(fig)


def test_one_epoch(runs):
    s = runs["one"]
    assert s.comparison is None
    fig = plots.plot_loss_accuracy(s)
    assert fig.axes[0].get_xticks().tolist() == [1]
    assert fig.axes[0].get_title().startswith("default · epoch 1: mean loss")
    fig = plots.plot_loss_split(s)
    row = s.per_epoch[0]
    assert one(fig, "contribution_correct", Rectangle).get_height() == pytest.approx(
        row.contribution_correct
    )
    wrong = one(fig, "contribution_wrong", Rectangle)
    assert wrong.get_y() == pytest.approx(row.contribution_correct)
    assert wrong.get_y() + wrong.get_height() == pytest.approx(row.loss)
    assert "nothing to compare" in plots.plot_transitions(s).axes[0].get_title()
    assert "nothing to compare" in plots.plot_loss_distribution(s).axes[0].get_title()


def test_two_hundred_epochs_thin_the_ticks(runs):
    s = runs["long"]
    fig = plots.plot_loss_accuracy(s)
    fig.draw_without_rendering()
    labels = [t for t in fig.axes[0].xaxis.get_majorticklabels() if t.get_text()]
    assert 3 <= len(labels) <= 12
    assert all(float(t.get_text().replace("−", "-")).is_integer() for t in labels)
    assert one(fig, "loss", Line2D).get_marker() in (None, "None", "")
    assert len(one(fig, "loss", Line2D).get_xdata()) == 200


def test_binary_run(runs):
    s = runs["binary"]
    assert s.n_classes == 2
    fig = plots.plot_transitions(s)
    for key in CELLS:
        assert one(fig, key, Rectangle).get_height() == pytest.approx(
            s.comparison.transitions[key].contribution
        )


# -- drawing into given axes -------------------------------------------------------------
# A plot given ``ax``/``axes`` draws there and returns that axes' (root) figure: the
# expected data below are computed with numpy from HAND_LOSS, not read from the report.


@pytest.mark.parametrize("in_subfigure", [False, True])
def test_loss_accuracy_draws_into_the_given_axes(runs, in_subfigure):
    expected = hand_made_arrays()
    fig = Figure()
    parent = fig.subfigures(1, 2)[1] if in_subfigure else fig
    ax = parent.add_subplot()
    assert plots.plot_loss_accuracy(runs["hand"], ax=ax) is fig
    (loss,) = with_gid(ax.get_lines(), "loss")
    np.testing.assert_array_equal(loss.get_xdata(), [1, 2])
    np.testing.assert_allclose(loss.get_ydata(), expected["loss"], rtol=1e-6)
    (twin,) = [a for a in fig.axes if a is not ax]  # the accuracy axes, and no other
    assert twin.get_shared_x_axes().joined(ax, twin)
    (acc,) = with_gid(twin.get_lines(), "accuracy")
    np.testing.assert_allclose(acc.get_ydata(), expected["accuracy"])  # [50, 50]
    assert [line.get_xdata()[0] for line in with_gid(ax.get_lines(), "compared_from")] == [1]
    assert one_line(ax.get_title()).startswith("default · epochs 1–2: loss rose 0.375 nats")
    assert ax.get_legend() is not None and fig.legends == []
    assert fig.get_suptitle() == ""


def test_loss_split_draws_into_the_given_axes(runs):
    expected = hand_made_arrays()
    fig = Figure(figsize=(8, 6.5))
    top, bottom = fig.subplots(2, 1)
    assert plots.plot_loss_split(runs["hand"], axes=(top, bottom)) is fig
    assert fig.axes == [top, bottom]
    x = np.array([1.0, 2.0])
    (correct_area,) = with_gid(top.collections, "contribution_correct")
    (wrong_area,) = with_gid(top.collections, "contribution_wrong")
    cc, cw = expected["contribution_correct"], expected["contribution_wrong"]  # [0.15, 0.125]
    np.testing.assert_allclose(area_top(correct_area, x), cc, rtol=1e-6)
    np.testing.assert_allclose(area_top(wrong_area, x), cc + cw, rtol=1e-6)
    (loss,) = with_gid(top.get_lines(), "loss")
    np.testing.assert_allclose(loss.get_ydata(), expected["loss"], rtol=1e-6)
    (wrong,) = with_gid(bottom.get_lines(), "loss_wrong")
    (correct,) = with_gid(bottom.get_lines(), "loss_correct")
    np.testing.assert_allclose(wrong.get_ydata(), expected["loss_wrong"], rtol=1e-6)
    np.testing.assert_allclose(correct.get_ydata(), expected["loss_correct"], rtol=1e-6)
    assert bottom.get_yscale() == "log" and top.get_yscale() == "linear"
    assert with_gid(top.get_lines(), "loss_wrong") == []
    # a given pair gets the finding as the top panel's title, no figure title
    assert one_line(top.get_title()).startswith(
        "default · epoch 1 → 2: wrong samples' mean loss rose from 1.25 to 2.05"
    )
    assert fig.get_suptitle() == ""
    with pytest.raises(ValueError, match="pair"):
        plots.plot_loss_split(runs["hand"], axes=[top])


def test_transitions_draws_into_the_given_axes(runs):
    expected = hand_made_arrays()
    fig = Figure(figsize=(8, 4.8))
    ax = fig.add_subplot()
    assert plots.plot_transitions(runs["hand"], ax=ax) is fig
    assert fig.axes == [ax]
    bars = [with_gid(ax.patches, key) for key in CELLS]
    assert all(len(b) == 1 for b in bars)
    # [+0.025, +0.125, −0.175, +0.4]
    np.testing.assert_allclose([b.get_height() for (b,) in bars], expected["cells"], atol=1e-7)
    (total,) = with_gid(ax.patches, "delta_loss")
    assert total.get_height() == pytest.approx(float(expected["delta_loss"]), abs=1e-7)
    (line,) = with_gid(ax.get_lines(), "delta_loss_line")
    assert line.get_ydata()[0] == pytest.approx(0.375, abs=1e-7)
    assert len(with_gid(ax.texts, "bar_note")) == 5
    assert one_line(ax.get_title()).startswith(
        "default · epoch 1 → 2: wrong → wrong samples account for 107%"
    )


def test_transitions_says_why_in_the_given_axes(runs):
    fig = Figure()
    ax = fig.add_subplot()
    assert plots.plot_transitions(runs["hand_one"], ax=ax) is fig
    assert fig.axes == [ax] and not ax.axison
    assert ax.get_title() == "default · epoch 1: no transitions, nothing to compare"
    (message,) = with_gid(ax.texts, "message")
    assert message.get_text() == runs["hand_one"].note  # the report's own words
    assert message.get_text().startswith("only one epoch")


def test_loss_distribution_draws_into_the_given_axes(runs):
    expected = hand_made_arrays()
    fig = Figure(figsize=(9.5, 4.6))
    left, right = fig.subplots(1, 2)
    assert plots.plot_loss_distribution(runs["hand"], axes=(left, right)) is fig
    assert fig.axes == [left, right]
    for ax, group in ((left, "wrong"), (right, "correct")):
        for when in ("from", "to"):
            gid = f"{group}_{when}"
            values = expected[gid]  # wrong: [1.0, 1.5] → [1.0, 3.1]; correct: [0.1, 0.5] → …
            (step,) = with_gid(ax.patches, gid)
            counts, edges, _ = step.get_data()
            reference, _ = np.histogram(values, bins=edges)
            np.testing.assert_array_equal(counts, reference)
            assert counts.sum() == 2
            (median,) = with_gid(ax.get_lines(), f"{gid}_median")
            assert median.get_xdata()[0] == pytest.approx(np.median(values), rel=1e-6)
        other = "correct" if group == "wrong" else "wrong"
        assert with_gid(ax.patches, f"{other}_from") == []
        assert ax.get_xscale() == "log"
    assert one_line(left.get_title()).startswith(
        "default · epoch 1 → 2: median loss of wrong samples rose from 1.25"
    )
    assert fig.get_suptitle() == ""
    with pytest.raises(ValueError, match="pair"):
        plots.plot_loss_distribution(runs["hand"], axes=[left, right, left])


# -- confusion ---------------------------------------------------------------------------


def test_confusion_small_annotates_integer_counts():
    matrix = np.array([[50, 3, 0], [12, 40, 1], [0, 0, 123456789]])
    labels = ["cat", "dog", "bird"]
    fig = plots.plot_confusion(matrix, labels)
    image = one(fig, "share", AxesImage)
    rows = matrix.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(image.get_array(), matrix / rows)
    counts = [t.get_text() for t in by_gid(fig, "count", Text)]
    assert counts == [str(v) for v in matrix.ravel()]
    assert "123456789" in counts and not any("e" in c for c in counts)
    ax = image.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == labels
    assert [t.get_text() for t in ax.get_yticklabels()] == labels
    assert ax.get_xlabel() == "predicted class" and ax.get_ylabel() == "true class"
    assert suptitle(fig) == "Accuracy >99.9%; most confused: dog → cat (12 samples, 23% of dog)"
    assert_readable(fig)


def test_confusion_draws_into_the_given_axes():
    matrix = np.array([[5, 1, 2], [0, 6, 0], [3, 0, 4]])
    fig = Figure()
    ax = fig.add_subplot()
    assert plots.plot_confusion(matrix, ["a", "b", "c"], ax=ax) is fig
    assert fig.axes == [ax]  # no colour bar in a given axes
    (image,) = ax.get_images()
    assert image.get_gid() == "share"
    rows = np.array([[8], [6], [7]])
    np.testing.assert_allclose(image.get_array(), matrix / rows)
    assert [t.get_text() for t in with_gid(ax.texts, "count")] == [
        "5", "1", "2", "0", "6", "0", "3", "0", "4"
    ]  # fmt: skip
    # accuracy 15/21 = 71.4%; largest off-diagonal cell c → a, 3 of c's 7 samples = 42.9%
    assert ax.get_title() == "Accuracy 71%; most confused: c → a (3 samples, 43% of c)"
    assert fig.get_suptitle() == ""


def test_confusion_binary_and_empty_rows():
    fig = plots.plot_confusion(np.array([[914, 43], [0, 0]]), ["neg", "pos"])
    np.testing.assert_allclose(
        one(fig, "share", AxesImage).get_array(), [[914 / 957, 43 / 957], [0, 0]]
    )
    assert [t.get_text() for t in by_gid(fig, "count", Text)] == ["914", "43", "0", "0"]
    assert_readable(fig)


def test_confusion_many_classes_lists_top_pairs():
    rng = np.random.default_rng(1)
    c = 100
    matrix = rng.poisson(0.3, size=(c, c)) + np.diag(rng.integers(20, 60, c))
    matrix[17, 42] = 30
    matrix[3, 99] = 25
    labels = [f"class_{i}" for i in range(c)]
    fig = plots.plot_confusion(matrix, labels)
    assert by_gid(fig, "count") == []  # no cell annotations
    listing = one(fig, "top_pairs", Text).get_text()
    assert "class_17 → class_42: 30" in listing
    assert listing.index("class_17 → class_42") < listing.index("class_3 → class_99")
    outlined = by_gid(fig, "top_pair", Rectangle)
    assert len(outlined) == 10  # the documented TOP_PAIRS
    cells = {(round(r.get_y() + 0.5), round(r.get_x() + 0.5)) for r in outlined}  # (true, pred)
    assert {(17, 42), (3, 99)} <= cells
    off = matrix.copy()
    np.fill_diagonal(off, 0)
    others = [off[i, j] for i in range(c) for j in range(c) if i != j and (i, j) not in cells]
    assert min(off[i, j] for i, j in cells) >= max(others)
    ax = one(fig, "share", AxesImage).axes
    assert len(ax.get_xticks()) <= 25
    assert "class_17 → class_42" in suptitle(fig)
    assert_readable(fig)

    # in a given axes there is no side panel: the top three pairs go into the title
    given = Figure(figsize=(9, 9)).add_subplot()
    fig = plots.plot_confusion(matrix, labels, ax=given)
    assert fig is given.figure and fig.axes == [given]
    assert by_gid(fig, "top_pairs") == []
    assert (
        given.get_title()
        .split("\n")[1]
        .startswith("Top confusions: class_17 → class_42 (30); class_3 → class_99 (25); ")
    )


def test_confusion_top_pairs_given():
    matrix = np.array([[5, 1, 2], [0, 6, 0], [3, 0, 4]])
    labels = ["a", "b", "c"]
    fig = plots.plot_confusion(matrix, labels, top_pairs=[{"true": "c", "pred": "a", "count": 3}])
    assert "c → a (3 samples, 43% of c)" in suptitle(fig)
    fig = plots.plot_confusion(matrix, labels, top_pairs=[(0, 2, 2)], title="Mine")
    assert suptitle(fig) == "Mine"
    with pytest.raises(ValueError, match="2 names but matrix has 3"):
        plots.plot_confusion(matrix, ["a", "b"])


def test_confusion_accepts_the_confusion_report(runs):
    from predaudit.report.confusion import Confusion

    matrix = np.array([[5, 1], [4, 6]])
    pair = Confusion(1, 0, "pos", "neg", 4, 0.4, 2.0)
    fig = plots.plot_confusion(matrix, ["neg", "pos"], top_pairs=[pair])
    assert "pos → neg (4 samples, 40% of pos)" in suptitle(fig)


# The hand-made confusion run: 6 samples of 3 classes, one-hot scores of the predictions.
#
#   sample        s0   s1   s2   s3   s4   s5
#   true           0    0    1    1    2    2        (cat, dog, bird)
#   pred epoch 1   0    1    1    1    2    2        wrong: s1
#   pred epoch 2   0    1    0    1    1    2        wrong: s1 s2 s4
#
# The count difference (epoch 2 − epoch 1), rows true: [[0, 0, 0], [+1, −1, 0], [0, +1, −1]];
# 2 more wrong samples, dog → cat and bird → dog grew by one each.
DIFF_TRUE = np.array([0, 0, 1, 1, 2, 2])
DIFF_PRED = np.array([[0, 1, 1, 1, 2, 2], [0, 1, 0, 1, 1, 2]])
DIFF_NAMES = ["cat", "dog", "bird"]


@pytest.fixture(scope="module")
def diff_split(tmp_path_factory):
    from predaudit.analysis.confusion import split_confusion

    path = tmp_path_factory.mktemp("diff")
    np.save(path / "logits.npy", (5.0 * np.eye(3)[DIFF_PRED]).astype(np.float32))
    np.save(path / "labels.npy", DIFF_TRUE)
    (stats,) = predaudit.load_run(path).splits.values()
    return split_confusion(stats, diff=("1", "2"), class_names=DIFF_NAMES)


def test_confusion_diff_is_the_count_difference(diff_split):
    from matplotlib.colors import TwoSlopeNorm
    from sklearn.metrics import confusion_matrix

    d = diff_split.diff
    expected = confusion_matrix(DIFF_TRUE, DIFF_PRED[1]) - confusion_matrix(DIFF_TRUE, DIFF_PRED[0])
    np.testing.assert_array_equal(expected, [[0, 0, 0], [1, -1, 0], [0, 1, -1]])
    fig = plots.plot_confusion_diff(
        d.matrix, DIFF_NAMES, from_epoch=d.from_epoch, to_epoch=d.to_epoch, split=diff_split.name
    )
    image = one(fig, "change", AxesImage)
    array = image.get_array()
    np.testing.assert_array_equal(array.data, expected)
    np.testing.assert_array_equal(np.ma.getmaskarray(array), np.eye(3, dtype=bool))  # diagonal
    norm = image.norm
    assert isinstance(norm, TwoSlopeNorm)
    assert norm.vcenter == 0 and norm.vmin == -norm.vmax == -1  # ± the largest change off it
    assert norm(0) == 0.5
    counts = [t.get_text() for t in by_gid(fig, "count", Text)]
    assert counts == ["·", "·", "·", "+1", "−1", "·", "·", "+1", "−1"]
    ax = image.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == DIFF_NAMES
    assert suptitle(fig) == (
        "default · epoch 1 → 2: 2 more wrong samples; grew most: dog predicted as cat (+1), "
        "bird predicted as dog (+1)"
    )
    # a confusion that grew is vermillion, one that shrank blue, no change white
    cmap = image.get_cmap()
    assert cmap(norm(1))[:3] == pytest.approx(rgb(VERMILLION), abs=0.01)  # a 256-colour table
    assert cmap(norm(-1))[:3] == pytest.approx(rgb(BLUE), abs=0.01)
    assert cmap(norm(0))[:3] == pytest.approx((1, 1, 1), abs=0.01)
    assert_readable(fig)


def test_many_classes_confusion_diff_names_the_grown_confusions_once():
    from sklearn.metrics import confusion_matrix

    c = 30  # above ANNOTATE_MAX_CLASSES: no cell numbers, so the title carries three
    names = [f"c{k}" for k in range(c)]
    true = np.repeat(np.arange(c), 6)
    before, after = true.copy(), true.copy()
    for t, q, k in ((4, 7, 5), (1, 2, 3), (9, 0, 3), (12, 13, 1)):  # k samples of t -> q
        after[np.flatnonzero(true == t)[:k]] = q
    delta = confusion_matrix(true, after, labels=range(c)) - confusion_matrix(
        true, before, labels=range(c)
    )
    fig = plots.plot_confusion_diff(delta, names, from_epoch=1, to_epoch=2, split="test")
    assert suptitle(fig) == (  # 5 + 3 + 3 + 1 more wrong; (1, 2) before (9, 0) at a tie
        "test · epoch 1 → 2: 12 more wrong samples; grew most: c4 predicted as c7 (+5), "
        "c1 predicted as c2 (+3), c9 predicted as c0 (+3)"
    )
    assert not by_gid(fig, "count", Text)
    outlined = sorted(
        (round(r.get_y() + 0.5), round(r.get_x() + 0.5))
        for r in by_gid(fig, "grown_pair", Rectangle)
    )
    assert outlined == [(1, 2), (4, 7), (9, 0), (12, 13)]
    ax = one(fig, "change", AxesImage).axes
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"c{k}" for k in range(0, c, 2)]
    assert_readable(fig)


def test_confusion_diff_draws_into_the_given_axes(diff_split):
    d = diff_split.diff
    fig = Figure()
    ax = fig.add_subplot()
    out = plots.plot_confusion_diff(d.matrix, DIFF_NAMES, from_epoch=1, to_epoch=2, ax=ax)
    assert out is fig and fig.axes == [ax]  # no colour bar in a given axes
    (image,) = ax.get_images()
    np.testing.assert_array_equal(image.get_array().data, d.matrix)
    assert ax.get_title().startswith("epoch 1 → 2: 2 more wrong samples")
    assert fig.get_suptitle() == ""


def test_confusion_figures_of_a_diff(diff_split, tmp_path, made_figures):
    paths = plots.confusion_figures_for(diff_split, tmp_path)
    assert paths == [tmp_path / "confusion.png", tmp_path / "confusion_diff.png"]
    for p in paths:
        assert p.read_bytes().startswith(MAGIC["png"])
    assert_released(made_figures)
    # the matrix is drawn at the diff's `to` epoch, and its title says so: at epoch 2
    # 3 of 6 are right (50%); the largest off-diagonal cell is the first of three 1s, cat → dog
    fig = plots.plot_confusion(
        diff_split.epoch.matrix, DIFF_NAMES, split=diff_split.name, epoch=diff_split.epoch.epoch
    )
    assert suptitle(fig) == (
        "default · epoch 2: accuracy 50%; most confused: cat → dog (1 sample, 50% of cat)"
    )


def test_top_confusions():
    m = np.array([[9, 2, 2], [5, 9, 0], [0, 1, 9]])
    assert plots.top_confusions(m, 3) == [(1, 0, 5), (0, 1, 2), (0, 2, 2)]
    assert plots.top_confusions(np.eye(3, dtype=int) * 4) == []


# -- writing -----------------------------------------------------------------------------

MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "svg": b"<?xml", "pdf": b"%PDF-"}


@pytest.fixture
def made_figures(monkeypatch) -> list[weakref.ref]:
    """Weak references to every Figure created during the test (by predaudit.plots)."""
    made: list[weakref.ref] = []
    init = Figure.__init__

    def tracking(self, *args, **kwargs):
        init(self, *args, **kwargs)
        made.append(weakref.ref(self))

    monkeypatch.setattr(Figure, "__init__", tracking)
    return made


def assert_released(made: list[weakref.ref]) -> None:
    gc.collect()
    assert made and [r for r in made if r() is not None] == []
    assert plt.get_fignums() == []


def test_write_analyze_figures(runs, tmp_path, made_figures):
    out = tmp_path / "out" / "test"
    paths = plots.write_analyze_figures(runs["rising"], out)
    names = ["loss_accuracy", "loss_split", "transitions", "rise_samples"]
    assert paths == [out / f"{n}.png" for n in names]
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.png" for n in names)
    for p in paths:
        assert p.read_bytes().startswith(MAGIC["png"])
    assert len(made_figures) == 4
    assert_released(made_figures)


def test_analyze_figures_skips_what_cannot_be_drawn(runs, tmp_path):
    assert list(plots.ANALYZE_FIGURES) == [
        "loss_accuracy",
        "loss_split",
        "transitions",
        "rise_samples",
    ]
    assert plots.analyze_figures(runs["rising"]) == list(plots.ANALYZE_FIGURES)
    assert plots.analyze_figures(runs["one"]) == ["loss_accuracy", "loss_split"]
    assert plots.analyze_figures(runs["unaligned"]) == [
        "loss_accuracy",
        "loss_split",
        "transitions",
    ]
    paths = plots.write_analyze_figures(runs["one"], tmp_path, fmt="svg")
    assert paths == [tmp_path / "loss_accuracy.svg", tmp_path / "loss_split.svg"]
    assert sorted(tmp_path.iterdir()) == paths
    for p in paths:
        assert p.read_bytes().startswith(MAGIC["svg"])


@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
def test_write_confusion_figure(tmp_path, fmt, made_figures):
    path = plots.write_confusion_figure(
        np.array([[3, 1], [0, 4]]), ["a", "b"], tmp_path / "confusion.png", fmt=fmt
    )
    assert path == tmp_path / f"confusion.{fmt}"
    assert path.read_bytes().startswith(MAGIC[fmt])
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    assert_released(made_figures)


@pytest.mark.parametrize("fmt", ["svg", "pdf"])
def test_writing_is_byte_stable(tmp_path, fmt):
    """Committed README images change only when the figure does (no dates, no random ids)."""
    matrix = np.array([[3, 1], [0, 4]])
    a = plots.write_confusion_figure(matrix, ["a", "b"], tmp_path / "a.png", fmt=fmt)
    b = plots.write_confusion_figure(matrix, ["a", "b"], tmp_path / "b.png", fmt=fmt)
    assert a.read_bytes() == b.read_bytes()


def test_bad_format(runs, tmp_path):
    with pytest.raises(ValueError, match="png, svg, pdf"):
        plots.write_analyze_figures(runs["rising"], tmp_path, fmt="jpg")
    with pytest.raises(ValueError, match="png, svg, pdf"):
        plots.write_confusion_figure(np.eye(2, dtype=int), ["a", "b"], tmp_path / "c", fmt="gif")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_save_leaves_no_temp_file(runs, tmp_path, monkeypatch):
    def broken(self, *args, **kwargs):
        raise RuntimeError("disk full")

    # every format draws on an Agg canvas or saves through savefig: break both
    monkeypatch.setattr(Figure, "savefig", broken)
    monkeypatch.setattr(FigureCanvasAgg, "draw", broken)
    with pytest.raises(RuntimeError):
        plots.write_analyze_figures(runs["rising"], tmp_path)
    assert list(tmp_path.iterdir()) == []
