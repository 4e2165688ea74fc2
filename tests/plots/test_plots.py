"""The plots draw the report's numbers, work at the edges, and are written atomically.

No pixel comparisons: the tests read back what each Figure holds (line data, bar
heights, area outlines, texts) and compare it with the SplitAnalysis it was drawn
from; text overlap is checked on the rendered bounding boxes.
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
from matplotlib.collections import PolyCollection  # noqa: E402
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


def suptitle(fig: Figure) -> str:
    """The figure's title as one line (long titles are wrapped to fit)."""
    return " ".join(fig.get_suptitle().split())


# -- the synthetic runs tell the story ----------------------------------------------------


def test_rising_run_is_the_story(runs):
    s = runs["rising"]
    assert s.comparison is not None and s.comparison.transitions is not None
    assert s.comparison.delta_loss > 0
    assert s.hypothesis is not None and s.hypothesis.verdict == "supported"


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
    top_labels = [t.get_text() for a in fig.axes[0].child_axes for t in a.get_xticklabels()]
    assert top_labels == [f"best {comp.from_epoch}", f"last {comp.to_epoch}"]
    title = fig.axes[0].get_title()
    assert title.startswith(f"Loss rose {plots._num(comp.delta_loss)} nats")
    assert "accuracy" in title
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
    assert (
        fig.axes[0].get_title()
        == "Loss rose 0.110 nats (epoch 7 → 30) while accuracy stayed at 94%"
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
    assert correct_area.get_facecolor()[0][:3] == pytest.approx(
        matplotlib.colors.to_rgb(plots.CORRECT)
    )
    assert wrong_area.get_facecolor()[0][:3] == pytest.approx(matplotlib.colors.to_rgb(plots.WRONG))

    wrong = one(fig, "loss_wrong", Line2D)
    correct = one(fig, "loss_correct", Line2D)
    np.testing.assert_allclose(wrong.get_ydata(), [r.loss_wrong for r in s.per_epoch])
    np.testing.assert_allclose(correct.get_ydata(), [r.loss_correct for r in s.per_epoch])
    assert wrong.get_color() == plots.WRONG and correct.get_color() == plots.CORRECT
    assert wrong.axes.get_yscale() == "log"
    assert "nats" in wrong.axes.get_ylabel()
    comp = s.comparison
    assert suptitle(fig).startswith(
        f"Wrong samples' mean loss rose from {plots._num(s.row(comp.from_epoch).loss_wrong)} "
        f"to {plots._num(s.row(comp.to_epoch).loss_wrong)} nats"
    )
    assert_readable(fig)


def test_loss_split_floors_zero_losses_on_the_log_axis(runs):
    s = runs["zero"]
    assert min(r.loss_correct for r in s.per_epoch) >= 0
    fig = plots.plot_loss_split(s)
    y = one(fig, "loss_correct", Line2D).get_ydata()
    assert np.all(y >= plots.LOSS_FLOOR)
    low, _ = one(fig, "loss_correct", Line2D).axes.get_ylim()
    assert low > 0
    assert_readable(fig)


# -- transitions -------------------------------------------------------------------------


def test_transitions_bars_are_the_cells(runs):
    s = runs["rising"]
    comp = s.comparison
    fig = plots.plot_transitions(s)
    heights = {}
    for key in plots.CELL_ORDER:
        bar = one(fig, key, Rectangle)
        heights[key] = bar.get_height()
        assert bar.get_height() == pytest.approx(comp.transitions[key].contribution)
        assert bar.get_facecolor()[:3] == pytest.approx(
            matplotlib.colors.to_rgb(plots.CELL_COLORS[key])
        )
    assert plots.CELL_COLORS["wrong_to_wrong"] == plots.WRONG
    assert plots.CELL_COLORS["correct_to_correct"] == plots.CORRECT
    assert one(fig, "delta_loss", Rectangle).get_height() == pytest.approx(comp.delta_loss)
    assert sum(heights.values()) == pytest.approx(comp.delta_loss)
    line = one(fig, "delta_loss_line", Line2D)
    assert line.get_ydata()[0] == pytest.approx(comp.delta_loss)

    notes = [t.get_text() for t in by_gid(fig, "bar_note", Text)]
    assert len(notes) == 5
    for key, note in zip(plots.CELL_ORDER, notes, strict=False):
        assert f"n = {comp.transitions[key].n:,}" in note
    assert notes[-1].endswith(f"n = {sum(c.n for c in comp.transitions.values()):,}")
    ww = comp.transitions["wrong_to_wrong"]
    share = ww.contribution / comp.delta_loss
    assert notes[3].startswith(f"{plots._signed(ww.contribution)} (+{100 * share:.0f}%)")
    assert fig.axes[0].get_title() == (
        f"Wrong → wrong samples account for {share:.0%} of the "
        f"{plots._num(comp.delta_loss)}-nat rise"
    )
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
    assert one(fig, "wrong_to", StepPatch).get_facecolor()[:3] == pytest.approx(
        matplotlib.colors.to_rgb(plots.WRONG)
    )
    assert suptitle(fig).startswith("Median loss of wrong samples rose from")
    assert_readable(fig)


def test_loss_distribution_handles_zero_losses(runs):
    s = runs["zero"]
    d = s.samples
    assert (d.loss_to == 0).sum() >= 30
    fig = plots.plot_loss_distribution(s)
    step = one(fig, "correct_to", StepPatch)
    counts, edges, _ = step.get_data()
    assert counts.sum() == int(d.correct_to.sum())
    assert edges[0] == pytest.approx(plots.LOSS_FLOOR)
    assert np.all(np.isfinite(edges)) and edges[0] > 0
    assert "below 1e-12 counted in the first bin" in step.axes.get_xlabel()
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
    assert fig.axes[0].get_title().startswith("Epoch 1: mean loss")
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
    for key in plots.CELL_ORDER:
        assert one(fig, key, Rectangle).get_height() == pytest.approx(
            s.comparison.transitions[key].contribution
        )


def test_given_axes_are_used(runs):
    s = runs["rising"]
    fig = Figure()
    ax = fig.add_subplot()
    assert plots.plot_loss_accuracy(s, ax=ax) is fig
    assert plots.plot_transitions(s, ax=Figure().add_subplot()) is not fig
    fig2 = Figure()
    pair = fig2.subplots(1, 2)
    assert plots.plot_loss_distribution(s, axes=pair) is fig2
    fig3 = Figure()
    assert plots.plot_loss_split(s, axes=fig3.subplots(2, 1)) is fig3
    with pytest.raises(ValueError, match="pair"):
        plots.plot_loss_split(s, axes=[ax])


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
    assert len(by_gid(fig, "top_pair", Rectangle)) == plots.TOP_PAIRS
    ax = one(fig, "share", AxesImage).axes
    assert len(ax.get_xticks()) <= 25
    assert "class_17 → class_42" in suptitle(fig)
    assert_readable(fig)


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


def test_top_confusions():
    m = np.array([[9, 2, 2], [5, 9, 0], [0, 1, 9]])
    assert plots.top_confusions(m, 3) == [(1, 0, 5), (0, 1, 2), (0, 2, 2)]
    assert plots.top_confusions(np.eye(3, dtype=int) * 4) == []


# -- writing -----------------------------------------------------------------------------

MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "svg": b"<?xml", "pdf": b"%PDF-"}


@pytest.fixture
def made_figures(monkeypatch) -> list[weakref.ref]:
    """Weak references to every figure predaudit.plots creates during the test."""
    made: list[weakref.ref] = []
    new_figure = plots._new_figure

    def tracking(figsize):
        fig = new_figure(figsize)
        made.append(weakref.ref(fig))
        return fig

    monkeypatch.setattr(plots, "_new_figure", tracking)
    return made


def assert_released(made: list[weakref.ref]) -> None:
    gc.collect()
    assert made and [r for r in made if r() is not None] == []
    assert plt.get_fignums() == []


def test_write_analyze_figures(runs, tmp_path, made_figures):
    out = tmp_path / "out" / "test"
    paths = plots.write_analyze_figures(runs["rising"], out)
    names = ["loss_accuracy", "loss_split", "transitions", "loss_distribution"]
    assert paths == [out / f"{n}.png" for n in names]
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.png" for n in names)
    for p in paths:
        assert p.read_bytes().startswith(MAGIC["png"])
    assert len(made_figures) == 4
    assert_released(made_figures)


def test_analyze_figures_skips_what_cannot_be_drawn(runs, tmp_path):
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

    monkeypatch.setattr(Figure, "savefig", broken)
    with pytest.raises(RuntimeError):
        plots.write_analyze_figures(runs["rising"], tmp_path)
    assert list(tmp_path.iterdir()) == []
