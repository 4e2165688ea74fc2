"""The confusion figures over ``PLOT_MAX_CLASSES`` classes: bars of the confused pairs.

The bars are read back from the figures and compared with the pairs counted by
``collections.Counter`` from the samples (not with the report the figure was drawn from).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from matplotlib.patches import Rectangle

from predaudit.analysis import confusion as cf
from predaudit.plots import confusion_figures_for
from predaudit.plots.confusion_pairs import (
    PLOT_MAX_CLASSES,
    plot_confusion_changes,
    plot_top_confusions,
)
from predaudit.store import SplitStats

C = PLOT_MAX_CLASSES + 1


def stats(labels: np.ndarray, pred: np.ndarray) -> SplitStats:
    """Hand-built statistics of E epochs: labels and predictions [E, N], loss 1."""
    e, n = pred.shape
    ones = np.ones((e, n))
    return SplitStats(
        name="test", epochs=list(range(1, e + 1)), n_classes=C, input_kind="reduced",
        kind_detected=False, label_format="index", dtype="float32", has_ids=False,
        aligned=True, n_clipped=0, files=[], pattern="", ids=None, labels=labels,
        valid=np.ones((e, n), bool), loss=ones, pred=pred, correct=pred == labels,
        p_true=ones, confidence=ones, margin=ones,
    )  # fmt: skip


@pytest.fixture(scope="module")
def split():
    rng = np.random.default_rng(3)
    n = 3000
    y = rng.integers(0, C, n)
    pred = np.stack([y.copy(), y.copy()])
    for e, rate in ((0, 0.3), (1, 0.15)):
        hit = rng.random(n) < rate
        pred[e, hit] = (y[hit] + 1 + rng.integers(0, 3, hit.sum())) % C
    return y, pred, cf.split_confusion(stats(np.stack([y, y]), pred), diff=("first", "last"))


def bars(fig, gid):
    return [p for p in fig.axes[0].patches if isinstance(p, Rectangle) and p.get_gid() == gid]


def test_top_pairs_bars_are_the_counts(split):
    y, pred, s = split
    off = Counter((t, p) for t, p in zip(y.tolist(), pred[1].tolist(), strict=True) if t != p)
    ref = sorted(off.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    fig = plot_top_confusions(s.epoch.top_confusions, n_classes=C, accuracy=s.epoch.accuracy)
    assert [b.get_width() for b in bars(fig, "pair")] == [n for _, n in ref]
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert ticks == [f"{t} → {p}" for (t, p), _ in ref]
    assert f"{C:,} classes" in fig._suptitle.get_text()


def test_changes_bars_are_the_count_changes(split):
    y, pred, s = split
    a = Counter((t, p) for t, p in zip(y.tolist(), pred[0].tolist(), strict=True) if t != p)
    b = Counter((t, p) for t, p in zip(y.tolist(), pred[1].tolist(), strict=True) if t != p)
    change = {k: b[k] - a[k] for k in a.keys() | b.keys() if b[k] != a[k]}
    grew = sorted((v for v in change.values() if v > 0), reverse=True)[:10]
    shrank = sorted(v for v in change.values() if v < 0)[:10]
    d = s.diff
    fig = plot_confusion_changes(d.grew, d.shrank, n_classes=C, from_epoch=1, to_epoch=2)
    assert [r.get_width() for r in bars(fig, "grew")] == grew
    assert [r.get_width() for r in bars(fig, "shrank")] == shrank


def test_figures_for_many_classes_are_the_pair_charts(split, tmp_path):
    _, _, s = split
    paths = confusion_figures_for(s, tmp_path)
    assert [p.name for p in paths] == ["confusion.png", "confusion_diff.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in paths)


def test_no_pairs_says_so():
    fig = plot_top_confusions([], n_classes=C, accuracy=1.0, split="test", epoch=3)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["no confused pairs"]
    assert fig._suptitle.get_text().startswith("test · epoch 3: accuracy 100%")


def test_html_section_draws_the_pair_charts_not_a_matrix(split):
    from predaudit.render.html_confusion import confusion_section
    from predaudit.render.html_figures import FigureCounter

    _, _, s = split
    html = confusion_section(s, FigureCounter())
    assert html.count("<svg") == 2
    assert "most confused pairs" in html and "grew and shrank most" in html


def test_at_most_bars_max_bars_whatever_top(split):
    from predaudit.plots.confusion_pairs import BARS_MAX

    y, pred, _ = split
    s = cf.split_confusion(stats(np.stack([y, y]), pred), diff=("first", "last"), top=500)
    assert len(s.epoch.top_confusions) > BARS_MAX
    fig = plot_top_confusions(s.epoch.top_confusions, n_classes=C, accuracy=s.epoch.accuracy)
    widths = [b.get_width() for b in bars(fig, "pair")]
    assert widths == [p.count for p in s.epoch.top_confusions[:BARS_MAX]]
    d = s.diff
    fig = plot_confusion_changes(d.grew, d.shrank, n_classes=C, from_epoch=1, to_epoch=2)
    assert len(bars(fig, "grew")) == len(bars(fig, "shrank")) == BARS_MAX // 2


def test_class_names_with_dollars_are_text_not_mathtext():
    """A name like ``$\\frac{$`` made matplotlib's mathtext parser raise when saving."""
    import io

    from predaudit.plots import plot_confusion, plot_confusion_diff

    names = ["$\\frac{$", "b$x$", "c"]
    pair = type("P", (), {"true": names[0], "pred": names[1], "count": 3, "share_of_true": 0.5})
    figs = [
        plot_confusion(np.eye(3, dtype=int) + 1, names, split="$plit$", epoch=1),
        plot_confusion_diff(np.eye(3, dtype=int) - 1, names, from_epoch=1, to_epoch=2),
        plot_top_confusions([pair], n_classes=C, accuracy=0.5, split="$x"),
    ]
    for fig in figs:
        fig.savefig(io.BytesIO(), format="png")  # raised ValueError before
    ticks = [t.get_text() for t in figs[0].axes[0].get_xticklabels()]
    assert ticks == ["\\$\\frac{\\$", "b\\$x\\$", "c"]  # matplotlib draws \$ as $
