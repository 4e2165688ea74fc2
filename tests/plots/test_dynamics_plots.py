"""The dynamics figures hold the data: their artists read back against the report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure

import predaudit
from predaudit.analysis.dynamics import RISERS, dynamics_report
from predaudit.plots.dynamics import (
    LOSS_FLOOR,
    dynamics_figures_for,
    labelled_samples,
    plot_data_map,
    plot_forgetting,
    plot_loss_trajectories,
)
from predaudit.plots.style import CORRECT, WRONG

STACKED = Path(__file__).resolve().parents[2] / "sample_data" / "stacked"


@pytest.fixture(scope="module")
def split():
    run = predaudit.load_run(STACKED, split="test", calibration=True)
    return dynamics_report(run).splits["test"]


def by_gid(ax, gid):
    return [a for a in ax.get_children() if a.get_gid() == gid]


def test_the_data_map_holds_every_sample(split):
    fig = plot_data_map(split)
    ax = fig.axes[0]
    (points,) = by_gid(ax, "samples")
    assert isinstance(points, PathCollection)
    s = split.samples
    xy = points.get_offsets()
    got = sorted(zip(xy[:, 0], xy[:, 1], points.get_array(), strict=True))
    want = sorted(zip(s.variability, s.confidence, s.correctness, strict=True))
    np.testing.assert_allclose(np.array(got), np.array(want))
    th = split.thresholds
    for gid, value in (
        ("easy_confidence", th.easy_confidence),
        ("hard_confidence", th.hard_confidence),
    ):
        (line,) = by_gid(ax, gid)
        assert line.get_ydata()[0] == pytest.approx(value)
    (line,) = by_gid(ax, "ambiguous_variability")
    assert line.get_xdata()[0] == pytest.approx(th.ambiguous_variability)
    labels = {a.get_gid(): a for a in ax.texts if (a.get_gid() or "").startswith("label_")}
    rows = labelled_samples(split)
    assert set(labels) == {f"label_{i}" for i in rows}
    for i in rows:
        assert labels[f"label_{i}"].get_text() == f"id {s.ids[i]}"
        assert labels[f"label_{i}"].xy == pytest.approx((s.variability[i], s.confidence[i]))
    title = ax.get_title()
    assert f"{split.region_counts['ambiguous']} of {split.n_samples} samples ambiguous" in title


def test_the_forgetting_histogram_counts_every_sample(split):
    fig = plot_forgetting(split)
    ax = fig.axes[0]
    s = split.samples
    bars = {g: [p for p in ax.patches if p.get_gid() == g] for g in
            ("never_learned", "never_forgotten", "forgotten")}  # fmt: skip
    (never,) = bars["never_learned"]
    (kept,) = bars["never_forgotten"]
    assert never.get_height() == s.never_learned.sum() and never.get_x() < kept.get_x()
    assert kept.get_height() == ((s.forgetting_events == 0) & ~s.never_learned).sum()
    expected = np.bincount(s.forgetting_events)[1:]
    assert [p.get_height() for p in bars["forgotten"]] == expected.tolist()
    total = sum(p.get_height() for group in bars.values() for p in group)
    assert total == split.n_samples
    assert f"{split.forgotten_at_least_once} of {split.n_samples} samples" in ax.get_title()


def test_figures_are_written(split, tmp_path):
    paths = dynamics_figures_for(split, tmp_path, fmt="svg")
    assert [p.name for p in paths] == [
        "data_map.svg",
        "forgetting_events.svg",
        "loss_trajectories.svg",
    ]
    assert all(p.stat().st_size > 1000 for p in paths)


def test_figures_can_draw_into_given_axes(split):
    fig = Figure()
    a, b = fig.subplots(1, 2)
    assert plot_data_map(split, ax=a) is fig
    assert plot_forgetting(split, ax=b) is fig
    assert plot_loss_trajectories(split, ax=a) is fig
    assert by_gid(a, "samples") and any(p.get_gid() == "forgotten" for p in b.patches)


def test_the_loss_trajectories_are_the_per_sample_losses(split):
    logits = torch.from_numpy(np.load(STACKED / "test_logits.npy")).double()  # (E, N, C)
    labels = torch.from_numpy(np.load(STACKED / "test_labels.npy"))
    e, n, c = logits.shape
    want = F.cross_entropy(logits.reshape(-1, c), labels.repeat(e), reduction="none")
    want = want.reshape(e, n).numpy()  # (E, N), epochs 1..E
    assert split.epochs == list(range(1, e + 1)) and split.n_samples == n
    ids = split.samples.ids
    rise = want[-1] - want[0]
    top = np.argsort(-rise, kind="stable")[:RISERS]
    risers = split.risers
    assert [ids[r] for r in risers.rows] == top.tolist()

    fig = plot_loss_trajectories(split)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    assert len(ax.lines) == RISERS
    wrong_last = logits[-1].argmax(1).numpy() != labels.numpy()
    for k, row in enumerate(risers.rows):
        (line,) = by_gid(ax, f"loss_{row}")
        sample = ids[row]
        assert line.get_xdata().tolist() == split.epochs
        np.testing.assert_allclose(
            line.get_ydata(), np.maximum(want[:, sample], LOSS_FLOOR), rtol=1e-5
        )
        assert line.get_color() == (WRONG if wrong_last[sample] else CORRECT)
        (label,) = by_gid(ax, f"id_{row}")
        assert label.get_text() == f"id {sample}"
        assert risers.wrong_last[k] == wrong_last[sample]
    title = ax.get_title()
    assert f"from epoch 1 to epoch {e}" in title and "first to last epoch" in title
    assert f"{int(wrong_last[top].sum())} wrong at epoch {e}" in title
