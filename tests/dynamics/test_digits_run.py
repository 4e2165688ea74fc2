"""A realistic run: an MLP trained on sklearn's digits with 5 % flipped labels, 30 epochs.

The per-sample statistics are computed here from the logits with plain numpy,
independently of predaudit's reduction, and the accumulator's outputs are checked
against the reference implementations in ``reference.py`` (Cartography, Toneva's
example forgetting, AUM).
"""

from __future__ import annotations

import types

import numpy as np
import pytest
import sklearn  # noqa: F401  (a test dependency, never skipped)
import torch  # noqa: F401  (a test dependency, never skipped)

from dynamics import reference as ref
from predaudit.dynamics import (
    DynamicsAccumulator,
    DynamicsResult,
    likely_label_problems,
    regions,
    summarize,
)

N_EPOCHS = 30
FLIP_FRACTION = 0.05


@pytest.fixture(scope="module")
def run() -> types.SimpleNamespace:
    from sklearn.datasets import load_digits
    from sklearn.neural_network import MLPClassifier

    x, y = load_digits(return_X_y=True)
    x = x / 16.0
    n = y.size
    rng = np.random.default_rng(0)
    flipped = np.sort(rng.choice(n, size=int(FLIP_FRACTION * n), replace=False))
    given = y.copy()
    given[flipped] = (y[flipped] + rng.integers(1, 10, size=flipped.size)) % 10
    clf = MLPClassifier(
        hidden_layer_sizes=(32,), learning_rate_init=1e-2, batch_size=64, alpha=1e-3,
        random_state=0,
    )  # fmt: skip
    logits = []
    for _ in range(N_EPOCHS):
        clf.partial_fit(x, given, classes=np.arange(10))
        hidden = np.maximum(x @ clf.coefs_[0] + clf.intercepts_[0], 0.0)
        logits.append(hidden @ clf.coefs_[1] + clf.intercepts_[1])
    z = np.stack(logits)  # [E, N, C] float64
    # per-sample statistics, plain numpy
    rows = np.arange(n)
    p = np.exp(z - z.max(axis=2, keepdims=True))
    p /= p.sum(axis=2, keepdims=True)
    np.testing.assert_allclose(p[-1], clf.predict_proba(x), rtol=0, atol=1e-12)
    z_true = z[:, rows, given]
    z_other = z.copy()
    z_other[:, rows, given] = -np.inf
    onehot = np.eye(10)[given]
    # 12 samples have label -100 at epoch 7 (as predaudit's valid = label != -100)
    valid = np.ones((N_EPOCHS, n), dtype=bool)
    valid[6, rng.choice(n, size=12, replace=False)] = False
    return types.SimpleNamespace(
        n=n, epochs=list(range(1, N_EPOCHS + 1)), logits=z, probs=p, given=given, true=y,
        flipped=flipped, valid=valid,
        p_true=p[:, rows, given], pred=z.argmax(axis=2), confidence=p.max(axis=2),
        margin=z_true - z_other.max(axis=2), brier=((p - onehot) ** 2).sum(axis=2),
    )  # fmt: skip


def accumulate(run, *, input_kind="logits", with_invalid=True, **kw) -> DynamicsResult:
    acc = DynamicsAccumulator(run.n, input_kind=input_kind, **kw)
    for i, t in enumerate(run.epochs):
        valid = run.valid[i] if with_invalid else np.ones(run.n, dtype=bool)
        acc.update(
            t,
            p_true=run.p_true[i],
            correct=(run.pred[i] == run.given) & valid,
            pred=run.pred[i],
            confidence=run.confidence[i],
            valid=valid,
            margin=run.margin[i] if input_kind == "logits" else None,
            labels=np.where(valid, run.given, -100),
            brier=run.brier[i],
        )
    return acc.result()


@pytest.fixture(scope="module")
def result(run) -> DynamicsResult:
    return accumulate(run)


def reference_ids(run) -> np.ndarray:
    """The samples given to the (slow, per-sample Python) references: every flipped one
    and every other of the rest, about half of the run."""
    return np.union1d(run.flipped, np.arange(0, run.n, 2))


@pytest.fixture(scope="module")
def cartography(run):
    df, _ = ref.compute_train_dy_metrics(
        ref.cartography_input(run.logits, run.given, reference_ids(run)), ref.cartography_args()
    )
    return df


def restrict(result: DynamicsResult, ids: np.ndarray) -> types.SimpleNamespace:
    """The result's per-sample fields for the samples ``ids`` (positions, all included)."""
    at = np.searchsorted(result.index, ids)
    assert (result.index[at] == ids).all()
    return types.SimpleNamespace(
        **{
            name: value[at]
            if isinstance(value, np.ndarray) and value.shape == result.index.shape
            else value
            for name, value in vars(result).items()
        }
    )


def test_exclusion_of_samples_invalid_at_some_epoch(run, result):
    bad = np.flatnonzero(~run.valid.all(axis=0))
    assert bad.size == 12 and result.n_excluded == 12
    np.testing.assert_array_equal(result.excluded, bad)
    np.testing.assert_array_equal(result.index, np.setdiff1d(np.arange(run.n), bad))
    np.testing.assert_array_equal(result.labels, run.given[result.index])


def test_matches_cartography(run, result, cartography):
    df = cartography[cartography["guid"].isin(result.index)]
    assert df["guid"].tolist() == np.intersect1d(reference_ids(run), result.index).tolist()
    result = restrict(result, df["guid"].to_numpy())
    # Cartography takes softmax in float32 (torch.Tensor(logits)); ours is float64
    np.testing.assert_allclose(result.confidence, df["confidence"], rtol=0, atol=2e-7)
    np.testing.assert_allclose(result.variability, df["variability"], rtol=0, atol=2e-7)
    np.testing.assert_array_equal(result.correct_epochs, df["correctness"])
    forget = df["forgetfulness"].to_numpy()
    # documented difference: their 1000 for a never-learned sample is our mask (and 0 events)
    np.testing.assert_array_equal(forget == 1000, result.never_learned)
    assert result.never_learned.sum() > 10
    np.testing.assert_array_equal(
        result.forgetting_events[~result.never_learned], forget[~result.never_learned]
    )
    assert (result.forgetting_events[result.never_learned] == 0).all()
    assert (result.forgetting_events > 0).sum() > 20


def test_matches_toneva_example_forgetting(run, result):
    correct = (run.pred == run.given)[:, result.index]
    _, unlearned, _, first = ref.compute_forgetting_statistics(ref.toneva_input(correct), N_EPOCHS)
    n = result.n_included
    never = np.array([np.isnan(first[i]) for i in range(n)])
    np.testing.assert_array_equal(never, result.never_learned)
    counts = np.array([len(unlearned[i]) for i in range(n)])
    np.testing.assert_array_equal(counts, result.forgetting_events)
    # their first_learned is a 0-based presentation index; ours the epoch label
    learned_at = np.array([result.first_epoch + first[i] if not never[i] else -1 for i in range(n)])
    np.testing.assert_array_equal(learned_at[~never], result.first_learned[~never])
    # their ranking counts a never-learned example as forgotten at every presentation
    order, values = ref.sort_examples_by_forgetting([unlearned], [first], N_EPOCHS)
    ours = np.where(result.never_learned, N_EPOCHS, result.forgetting_events)
    np.testing.assert_array_equal(values, np.sort(ours))
    np.testing.assert_array_equal(ours[order], values)


def test_matches_aum(run, result):

    ids = reference_ids(run)
    calc = ref.AUMCalculator(save_dir="unused")
    for i in range(N_EPOCHS):
        calc.update(
            torch.from_numpy(run.logits[i, ids]), torch.from_numpy(run.given[ids]), ids.tolist()
        )
    aum = calc.finalize().set_index("sample_id")["aum"]
    assert sorted(aum.index) == ids.tolist()
    kept = np.intersect1d(ids, result.index)
    ours = restrict(result, kept).aum
    np.testing.assert_allclose(ours, aum.loc[kept].to_numpy(), rtol=1e-12, atol=1e-12)


def test_probabilities_give_the_same_dynamics_without_aum(run):
    from_logits = accumulate(run)
    from_probs = accumulate(run, input_kind="probs")
    assert from_probs.aum is None and from_logits.aum is not None
    for name, value in vars(from_logits).items():
        if name not in ("aum", "input_kind"):
            np.testing.assert_array_equal(getattr(from_probs, name), value, err_msg=name)
    with pytest.raises(ValueError, match="not AUM"):
        DynamicsAccumulator(run.n, input_kind="probs").update(
            1, p_true=run.p_true[0], correct=run.pred[0] == run.given, pred=run.pred[0],
            confidence=run.confidence[0], valid=np.ones(run.n, bool), margin=run.margin[0],
        )  # fmt: skip


def test_el2n(run, result):
    assert result.el2n_epoch == 1
    p0 = run.probs[0][result.index]
    el2n = np.linalg.norm(p0 - np.eye(10)[run.given[result.index]], axis=1)
    np.testing.assert_allclose(result.el2n, el2n, rtol=1e-12, atol=0)
    later = accumulate(run, el2n_epoch=10)
    assert later.el2n_epoch == 10
    np.testing.assert_allclose(later.el2n, np.sqrt(run.brier[9][later.index]), rtol=1e-15)


def test_flipped_labels_rank_high_among_label_problems(run, result):
    flipped = np.isin(result.index, run.flipped)
    n_flipped = int(flipped.sum())
    base_rate = n_flipped / result.n_included
    found = likely_label_problems(result)
    is_flipped = np.isin(found.index, run.flipped)
    k = n_flipped // 2
    assert is_flipped[:k].mean() >= 0.95 > 10 * base_rate
    assert is_flipped[:n_flipped].mean() >= 0.85  # precision at the number flipped
    assert is_flipped.sum() >= 0.9 * n_flipped  # recall over every candidate
    # the suspect class of a flipped sample is its real class
    hit = found.index[is_flipped]
    assert (found.suspect_class[is_flipped] == run.true[hit]).mean() >= 0.95
    np.testing.assert_array_equal(found.given_label, run.given[found.index])
    assert np.all(np.diff(found.score) <= 0)
    # suspect counts are exact for nearly every flipped sample
    assert result.suspect_exact[flipped].mean() >= 0.9
    # requiring a growing confidence keeps far fewer of them (the labels module docstring)
    growing = likely_label_problems(result, min_slope=0.0)
    assert np.isin(growing.index, run.flipped).sum() < 0.8 * is_flipped.sum()
    top = likely_label_problems(result, k=5)
    np.testing.assert_array_equal(top.index, found.index[:5])
    assert top.n_candidates == found.n_candidates


def _check_selection(ours, values, guids, theirs: list, threshold: float):
    """Our threshold set equals their ranked head without its extra last row, up to ties."""
    ours_set = set(guids[ours].tolist())
    head = set(theirs[:-1])  # they take head(num_samples + 1)
    assert head <= ours_set
    value_of = dict(zip(guids.tolist(), values.tolist(), strict=True))
    assert all(value_of[g] == threshold for g in ours_set - head)


def test_regions_match_cartography_selections(cartography):
    # Feed their confidence/variability to our regions and compare with their selection.
    conf = cartography["confidence"].to_numpy()
    var = cartography["variability"].to_numpy()
    found = regions(conf, var)
    th = found.thresholds
    n = conf.size
    assert (th.method, th.fraction, th.n) == ("quantile", 0.33, n)
    sel = lambda metric, worst: ref.select_filtered_guids(  # noqa: E731
        ref.cartography_args(metric=metric, worst=worst), cartography, 0.33, n
    )
    guids = cartography["guid"].to_numpy()
    for ours, values, metric, worst, threshold in (
        (found.in_ambiguous, var, "variability", False, th.ambiguous_variability),
        (found.in_hard, conf, "confidence", False, th.hard_confidence),
        (found.in_easy, conf, "confidence", True, th.easy_confidence),
    ):
        _check_selection(ours, values, guids, sel(metric, worst), threshold)
    k = int(0.33 * n)
    assert found.in_ambiguous.sum() >= k and found.in_hard.sum() >= k and found.in_easy.sum() >= k


def test_summary_and_regions_of_the_run(run, result):
    s = summarize(result, k=5)
    assert sum(s.region_counts.values()) == result.n_included
    assert s.never_learned == int(result.never_learned.sum())
    assert s.forgotten_at_least_once == int((result.forgetting_events > 0).sum())
    np.testing.assert_array_equal(
        s.most_ambiguous, result.index[np.argsort(-result.variability, kind="stable")[:5]]
    )
    np.testing.assert_array_equal(
        s.hardest, result.index[np.argsort(result.confidence, kind="stable")[:5]]
    )
    # Cartography's observation: mislabeled samples sit in the hard-to-learn region
    found = regions(result.confidence, result.variability)
    flipped = np.isin(result.index, run.flipped)
    assert found.in_hard[flipped].mean() >= 0.9
    assert found.labels()[flipped].tolist().count("hard-to-learn") >= 0.6 * flipped.sum()
