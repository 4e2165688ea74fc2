"""The loss decomposition and the hypothesis, against independent references.

References: PyTorch's cross_entropy for per-sample losses, scikit-learn's
log_loss for mean losses, scipy's wilcoxon on independently computed Δℓ,
and hand-computed cases.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import wilcoxon
from sklearn.metrics import log_loss

import predaudit
from predaudit.analysis.analyze import analyze_split
from predaudit.analysis.decomposition import (
    choose_comparison,
    per_epoch,
    shift_share,
    transitions,
)
from predaudit.analysis.hypothesis import judge
from predaudit.analysis.stattests import bootstrap_ci, wilcoxon_greater
from predaudit.errors import OptionError
from predaudit.report.analyze import EpochRow


def make_run(rng, e=6, n=400, c=5, grow=0.6):
    """Logits whose scale grows with the epoch: wrong samples get more confidently wrong."""
    y = rng.integers(0, c, n)
    base = rng.normal(size=(n, c))
    base[np.arange(n), y] += 1.2
    logits = np.stack([base * (1 + grow * k) + 0.05 * rng.normal(size=(n, c)) for k in range(e)])
    return logits.astype(np.float64), y


def save_stacked(folder, logits, y, ids=None):
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "logits.npy", logits)
    np.save(folder / "labels.npy", y)
    if ids is not None:
        np.save(folder / "ids.npy", ids)
    return folder


@pytest.fixture
def run(tmp_path):
    rng = np.random.default_rng(1)
    logits, y = make_run(rng)
    return (
        logits,
        y,
        predaudit.load_run(save_stacked(tmp_path / "run", logits, y)).splits["default"],
    )


def torch_losses(logits, y):
    t = torch.tensor(logits, dtype=torch.float64)
    return (
        torch.nn.functional.cross_entropy(
            t.reshape(-1, t.shape[-1]), torch.tensor(np.tile(y, t.shape[0])), reduction="none"
        )
        .numpy()
        .reshape(t.shape[0], -1)
    )


def softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def test_per_epoch_matches_log_loss_and_hand_split(run):
    logits, y, stats = run
    rows = per_epoch(stats)
    ref = torch_losses(logits, y)
    for e, row in enumerate(rows):
        p = softmax(logits[e])
        assert row.loss == pytest.approx(log_loss(y, p, labels=range(5)), rel=1e-9)
        correct = p.argmax(1) == y
        assert row.accuracy == correct.mean()
        assert row.n_correct == correct.sum()
        assert row.loss_correct == pytest.approx(ref[e][correct].mean(), rel=1e-9)
        assert row.loss_wrong == pytest.approx(ref[e][~correct].mean(), rel=1e-9)
        assert row.contribution_wrong == pytest.approx(ref[e][~correct].sum() / len(y), rel=1e-9)
        assert row.contribution_correct + row.contribution_wrong == pytest.approx(
            row.loss, abs=1e-12
        )


def test_transitions_match_hand_computation_and_sum_to_delta(run):
    logits, y, stats = run
    ref = torch_losses(logits, y)
    correct = softmax(logits).argmax(-1) == y
    a, b = 1, 6
    cells = transitions(stats, start=a, end=b)
    d = ref[b - 1] - ref[a - 1]
    for name, (ca, cb) in {
        "correct_to_correct": (True, True),
        "correct_to_wrong": (True, False),
        "wrong_to_correct": (False, True),
        "wrong_to_wrong": (False, False),
    }.items():
        mask = (correct[a - 1] == ca) & (correct[b - 1] == cb)
        assert cells[name].n == mask.sum()
        assert cells[name].contribution == pytest.approx(d[mask].sum() / len(y), abs=1e-12)
        if mask.any():
            assert cells[name].mean_delta == pytest.approx(d[mask].mean(), rel=1e-9)
    total = sum(c.contribution for c in cells.values())
    assert total == pytest.approx(ref[b - 1].mean() - ref[a - 1].mean(), abs=1e-9)


@pytest.mark.parametrize("seed", range(20))
def test_cells_and_shift_share_sum_to_delta_property(tmp_path, seed):
    rng = np.random.default_rng(seed)
    e, n, c = int(rng.integers(2, 5)), int(rng.integers(1, 60)), int(rng.integers(2, 6))
    logits = rng.normal(size=(e, n, c)) * rng.uniform(0.1, 8)
    y = rng.integers(0, c, n)
    if seed % 4 == 0:  # every sample correct at the first epoch: an empty wrong group
        logits[0, np.arange(n), y] += 100
    if seed % 4 == 1:  # every sample wrong at the last epoch
        logits[-1, np.arange(n), y] -= 100
    stats = predaudit.load_run(save_stacked(tmp_path / "r", logits, y)).splits["default"]
    rows = per_epoch(stats)
    for a in stats.epochs:
        for b in stats.epochs:
            delta = rows[b - 1].loss - rows[a - 1].loss
            cells = transitions(stats, start=a, end=b)
            assert sum(x.contribution for x in cells.values()) == pytest.approx(delta, abs=1e-9)
            s = shift_share(rows[a - 1], rows[b - 1])
            assert s.composition + s.correct_severity + s.wrong_severity == pytest.approx(
                delta, abs=1e-9
            )


def _row(loss_c, loss_w, acc):
    n = 10
    nc = round(acc * n)
    cc = 0.0 if loss_c is None else loss_c * nc / n
    cw = 0.0 if loss_w is None else loss_w * (n - nc) / n
    return EpochRow(1, n, cc + cw, acc, nc, loss_c, loss_w, cc, cw)


def test_shift_share_empty_groups_by_hand():
    # wrong group empty at a: it takes its mean loss from b, so wrong_severity is 0
    a, b = _row(0.2, None, 1.0), _row(0.3, 2.0, 0.8)
    s = shift_share(a, b)
    assert s.wrong_severity == 0.0
    assert s.composition == pytest.approx(-0.2 * ((0.2 + 0.3) / 2 - 2.0))
    assert s.correct_severity == pytest.approx(0.9 * 0.1)
    assert s.composition + s.correct_severity + s.wrong_severity == pytest.approx(b.loss - a.loss)
    # correct group empty at both: contributes 0
    a, b = _row(None, 1.0, 0.0), _row(None, 1.5, 0.0)
    s = shift_share(a, b)
    assert (s.composition, s.correct_severity) == (0.0, 0.0)
    assert s.wrong_severity == pytest.approx(0.5)


def test_default_comparison_and_epoch_words(run):
    logits, y, stats = run
    losses = torch_losses(logits, y).mean(1)
    best = int(np.argmin(losses)) + 1
    a, b, reason = choose_comparison(stats)
    assert b == 6
    if best == 6:
        assert (a, reason) == (1, "first")
    else:
        assert (a, reason) == (best, "best_loss")
    assert choose_comparison(stats, start="first", end="last") == (1, 6, "given")
    assert choose_comparison(stats, start=2, end="4") == (2, 4, "given")
    with pytest.raises(OptionError, match="no epoch 99"):
        choose_comparison(stats, start=99)
    with pytest.raises(OptionError, match="expected an epoch label"):
        choose_comparison(stats, end="latest")


def test_best_loss_default_and_first_when_best_is_last(tmp_path):
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 50)
    base = rng.normal(size=(50, 3))
    base[np.arange(50), y] += 2
    # U-shaped loss: best at epoch 3 of 5
    scales = [0.5, 1.0, 1.5, 1.0, 0.6]
    wrong = base.copy()
    logits = np.stack([base * s if i < 3 else wrong * s for i, s in enumerate(scales)])
    stats = predaudit.load_run(save_stacked(tmp_path / "u", logits, y)).splits["default"]
    losses = torch_losses(logits, y).mean(1)
    assert choose_comparison(stats)[0] == int(np.argmin(losses)) + 1
    # monotone decreasing loss: best is the last epoch, so from = first
    logits = np.stack([base * s for s in (0.5, 1.0, 2.0)])
    stats = predaudit.load_run(save_stacked(tmp_path / "d", logits, y)).splits["default"]
    assert choose_comparison(stats) == (1, 3, "first")


def test_hypothesis_supported_with_independent_wilcoxon(run):
    logits, y, stats = run
    ref = torch_losses(logits, y)
    correct = softmax(logits).argmax(-1) == y
    rep = analyze_split(stats, start=1, end=6)
    h = rep.hypothesis
    ww = ~correct[0] & ~correct[5]
    d = ref[5] - ref[0]
    delta_loss = ref[5].mean() - ref[0].mean()
    assert delta_loss > 0
    share = d[ww].sum() / len(y) / delta_loss
    p = wilcoxon(d[ww], alternative="greater").pvalue
    assert h.share == pytest.approx(share, rel=1e-9)
    assert h.p_value == pytest.approx(p, rel=1e-6)
    assert h.verdict == ("supported" if share >= 0.5 and p < 0.05 else "rejected")
    assert h.verdict == "supported"
    assert h.driver == "wrong_to_wrong"
    assert f"{ww.sum():,} samples wrong at both epochs" in h.statement
    lo, hi = h.ci95
    assert lo < d[ww].sum() / len(y) < hi


def test_bootstrap_matches_naive_resampling_and_is_deterministic():
    rng = np.random.default_rng(0)
    n = 300
    in_cell = rng.random(n) < 0.2
    delta = np.where(in_cell, rng.normal(1.0, 1.0, n), 0.0)
    lo, hi = bootstrap_ci(delta[in_cell], n)
    assert (lo, hi) == bootstrap_ci(delta[in_cell], n)  # fixed seed: reruns identical
    naive = np.array([delta[rng.integers(0, n, n)].sum() / n for _ in range(4000)])
    nlo, nhi = np.percentile(naive, [2.5, 97.5])
    assert lo == pytest.approx(nlo, abs=0.015)
    assert hi == pytest.approx(nhi, abs=0.015)


def test_wilcoxon_all_zero_is_one():
    assert wilcoxon_greater(np.zeros(5)) == 1.0


def test_rejected_names_the_driver():
    from predaudit.report.analyze import Cell

    cells = {
        "correct_to_correct": Cell(80, 0.08, 0.1),
        "correct_to_wrong": Cell(5, 0.02, 0.4),
        "wrong_to_correct": Cell(5, -0.01, -0.2),
        "wrong_to_wrong": Cell(10, 0.01, 0.1),
    }
    h = judge(cells, np.full(10, 0.1), delta_loss=0.10, n_total=100, start=1, end=2, aligned=True)
    assert h.verdict == "rejected"
    assert h.driver == "correct_to_correct"
    assert h.share == pytest.approx(0.1)
    assert "correct predictions losing confidence" in h.statement


def test_not_applicable_cases():
    from predaudit.report.analyze import Cell

    cells = {
        k: Cell(1, 0.0, 0.0)
        for k in ("correct_to_correct", "correct_to_wrong", "wrong_to_correct", "wrong_to_wrong")
    }
    h = judge(cells, np.zeros(1), delta_loss=-0.1, n_total=4, start=1, end=2, aligned=True)
    assert (h.verdict, h.reason, h.p_value) == ("not_applicable", "loss_did_not_rise", None)
    cells["wrong_to_wrong"] = Cell(0, 0.0, None)
    h = judge(cells, np.zeros(0), delta_loss=0.1, n_total=4, start=1, end=2, aligned=True)
    assert (h.verdict, h.reason) == ("not_applicable", "no_wrong_to_wrong")
    h = judge(None, None, delta_loss=0.1, n_total=4, start=1, end=2, aligned=False)
    assert (h.verdict, h.reason) == ("not_applicable", "not_aligned")
    assert "save sample ids" in h.statement.lower()


def test_shuffling_with_ids_changes_nothing(tmp_path):
    rng = np.random.default_rng(5)
    logits, y = make_run(rng, e=4, n=120)
    ids = np.arange(1000, 1120)
    base = predaudit.load_run(save_stacked(tmp_path / "a", logits, y, ids)).splits["default"]
    perm = rng.permutation(120)
    shuf = predaudit.load_run(
        save_stacked(tmp_path / "b", logits[:, perm], y[perm], ids[perm])
    ).splits["default"]
    ra, rb = analyze_split(base, top=5), analyze_split(shuf, top=5)
    assert_same_but_temperature(ra.to_dict(), rb.to_dict())


def assert_same_but_temperature(a: dict, b: dict) -> None:
    """Equal reports; T* (fitted over the rows in file order) equal up to rounding."""
    ta, tb = a["comparison"].pop("temperature"), b["comparison"].pop("temperature")
    assert a == b
    assert set(ta) == set(tb)
    for k, v in ta.items():
        assert v == (tb[k] if not isinstance(v, float) else pytest.approx(tb[k], rel=1e-12)), k


def test_stacked_and_per_epoch_give_the_same_report(tmp_path):
    rng = np.random.default_rng(6)
    logits, y = make_run(rng, e=5, n=90)
    stacked = save_stacked(tmp_path / "stacked", logits, y)
    per = tmp_path / "per"
    per.mkdir()
    for e in range(5):
        perm = rng.permutation(90)
        np.savez(per / f"epoch_{e + 1}.npz", logits=logits[e][perm], labels=y[perm], ids=perm)
    a = analyze_split(predaudit.load_run(stacked).splits["default"], top=3).to_dict()
    b = analyze_split(predaudit.load_run(per).splits["default"], top=3).to_dict()
    a.pop("has_ids"), b.pop("has_ids")
    assert_same_but_temperature(a, b)


def test_unaligned_run_reports_per_epoch_and_shift_share_only(tmp_path):
    rng = np.random.default_rng(7)
    logits, y = make_run(rng, e=3, n=60)
    folder = tmp_path / "u"
    folder.mkdir()
    for e in range(3):
        np.save(folder / f"logits_epoch_{e + 1}.npy", logits[e])
        np.save(folder / f"labels_epoch_{e + 1}.npy", rng.permutation(y))
    stats = predaudit.load_run(folder).splits["default"]
    assert not stats.aligned
    rep = analyze_split(stats)
    assert rep.comparison.transitions is None
    assert "save sample ids" in rep.comparison.transitions_reason
    assert rep.hypothesis.verdict == "not_applicable"
    assert rep.comparison.shift_share is not None
    assert len(rep.per_epoch) == 3


def test_one_epoch_has_no_comparison(tmp_path):
    rng = np.random.default_rng(8)
    logits, y = make_run(rng, e=1, n=30)
    stats = predaudit.load_run(save_stacked(tmp_path / "one", logits, y)).splits["default"]
    rep = analyze_split(stats)
    assert rep.comparison is None and rep.hypothesis is None
    assert "only one epoch" in rep.note


def test_ignored_samples_are_left_out(tmp_path):
    rng = np.random.default_rng(9)
    logits, y = make_run(rng, e=3, n=80)
    y_ign = y.copy()
    y_ign[:10] = -100
    stats = predaudit.load_run(save_stacked(tmp_path / "ign", logits, y_ign)).splits["default"]
    ref = predaudit.load_run(save_stacked(tmp_path / "ref", logits[:, 10:], y[10:])).splits[
        "default"
    ]
    a, b = analyze_split(stats).to_dict(), analyze_split(ref).to_dict()
    assert a.pop("n_ignored") == 10 and b.pop("n_ignored") == 0
    assert a["n_samples"] == 70
    assert a == b


def test_bootstrap_normal_limit_agrees_with_exact_for_large_cells():
    rng = np.random.default_rng(11)
    n = 20000
    cell = rng.gamma(2.0, 1.5, 1000) - 1.0  # skewed, as loss changes are
    # many replicates, so that Monte Carlo noise is well below the tolerance
    exact = bootstrap_ci(cell, n, replicates=20000, max_exact_draws=10**9)
    approx = bootstrap_ci(cell, n, replicates=20000, max_exact_draws=0)
    width = exact[1] - exact[0]
    assert approx[0] == pytest.approx(exact[0], abs=0.02 * width)
    assert approx[1] == pytest.approx(exact[1], abs=0.02 * width)


@pytest.mark.parametrize("seed", range(40))
def test_wilcoxon_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.choice([3, 8, 13, 20, 50, 51, 200]))
    d = rng.normal(rng.normal(0, 0.5), 1, n)
    if seed % 3 == 0:
        d = np.round(d, 1)  # ties
    if seed % 5 == 0:
        d[: n // 4] = 0.0  # zeros are dropped
    nonzero = d[d != 0]
    ref = wilcoxon(nonzero, alternative="greater").pvalue
    assert wilcoxon_greater(d) == pytest.approx(ref, rel=1e-12, abs=1e-300)
