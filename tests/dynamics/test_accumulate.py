"""DynamicsAccumulator: hand-computed cases, streaming vs batch, O(N) state, input checks."""

from __future__ import annotations

import numpy as np
import pytest

from predaudit.dynamics import DynamicsAccumulator, DynamicsResult


def feed(
    epochs,
    *,
    p_true,
    correct,
    pred,
    confidence,
    valid=None,
    margin=None,
    labels=None,
    brier=None,
    input_kind="logits",
    el2n_epoch=None,
) -> DynamicsResult:
    """Accumulate [E, N] arrays one epoch at a time."""
    p_true = np.asarray(p_true, dtype=float)
    e, n = p_true.shape
    valid = np.ones((e, n), dtype=bool) if valid is None else np.asarray(valid)
    acc = DynamicsAccumulator(n, input_kind=input_kind, el2n_epoch=el2n_epoch)
    for i, t in enumerate(epochs):
        acc.update(
            t,
            p_true=p_true[i],
            correct=np.asarray(correct[i], dtype=bool),
            pred=np.asarray(pred[i], dtype=np.int64),
            confidence=np.asarray(confidence[i], dtype=float),
            valid=valid[i],
            margin=None if margin is None else margin[i],
            labels=None if labels is None else labels[i],
            brier=None if brier is None else brier[i],
        )
    return acc.result()


def one_sample(correct_seq, *, epochs=None, pred_seq=None, conf_seq=None) -> DynamicsResult:
    e = len(correct_seq)
    c = np.array(correct_seq, dtype=bool)[:, None]
    pred = np.where(c, 0, 1) if pred_seq is None else np.array(pred_seq)[:, None]
    conf = np.full((e, 1), 0.7) if conf_seq is None else np.array(conf_seq, float)[:, None]
    return feed(
        list(range(1, e + 1)) if epochs is None else epochs,
        p_true=np.where(c, 0.8, 0.1),
        correct=c,
        pred=pred,
        confidence=conf,
    )


# -- hand-computed cases -------------------------------------------------------------------


def test_forgetting_and_first_learned_by_hand():
    r = one_sample([1, 0, 1, 1, 0], epochs=[10, 20, 30, 40, 50])
    assert r.forgetting_events.tolist() == [2]
    assert r.first_learned.tolist() == [10]
    assert r.never_learned.tolist() == [False]
    assert r.correct_epochs.tolist() == [3]
    assert r.correctness.tolist() == [0.6]
    r = one_sample([0, 0, 1, 0, 1, 1, 0, 0])
    assert r.forgetting_events.tolist() == [2]
    assert r.first_learned.tolist() == [3]
    r = one_sample([0, 1, 1, 1])
    assert r.forgetting_events.tolist() == [0]
    assert r.first_learned.tolist() == [2]


def test_never_learned_has_no_sentinel_count():
    r = one_sample([0, 0, 0, 0], epochs=[3, 4, 5, 6])
    assert r.never_learned.tolist() == [True]
    assert r.forgetting_events.tolist() == [0]
    assert r.correct_epochs.tolist() == [0]
    # censored at the epoch after the last one seen, documented; read with the mask
    assert r.first_learned.tolist() == [7]


def test_confidence_and_variability_by_hand():
    # p_true 0.2, 0.4, 0.9: mean 0.5, population variance (0.09 + 0.01 + 0.16) / 3
    r = feed(
        [1, 2, 3],
        p_true=[[0.2], [0.4], [0.9]],
        correct=[[False], [False], [True]],
        pred=[[1], [1], [0]],
        confidence=[[0.8], [0.6], [0.9]],
        margin=[[-1.0], [-0.5], [3.0]],
    )
    assert r.confidence[0] == pytest.approx(0.5, abs=1e-15)
    assert r.variability[0] == pytest.approx(np.sqrt(0.26 / 3), abs=1e-15)
    assert r.aum[0] == pytest.approx(0.5, abs=1e-15)


def test_suspect_class_by_hand():
    # wrong at epochs 1, 2, 4, 5 predicting 3, 3, 3, 3 (correct at 3): one class, confidence
    # 0.5, 0.6, 0.8, 0.9 at t = 1, 2, 4, 5: least-squares slope 0.1 per epoch.
    r = one_sample([0, 0, 1, 0, 0], pred_seq=[3, 3, 0, 3, 3], conf_seq=[0.5, 0.6, 0.99, 0.8, 0.9])
    assert r.suspect_class.tolist() == [3]
    assert r.suspect_epochs.tolist() == [4]
    assert r.suspect_mean_confidence[0] == pytest.approx(0.7, abs=1e-15)
    assert r.suspect_slope[0] == pytest.approx(0.1, abs=1e-14)


def test_suspect_vote_by_hand():
    # wrong predictions 2, 5, 5, 2, 5, 5: two classes, both kept in a slot: exact counts
    r = one_sample([0] * 6, pred_seq=[2, 5, 5, 2, 5, 5])
    assert r.suspect_class.tolist() == [5]
    assert r.suspect_epochs.tolist() == [4]
    assert r.suspect_exact.tolist() == [True]
    # 1, 2, 3, 3, 3: the first 3 finds both slots taken and cancels a vote of each; the
    # second takes a slot afresh: 3 is the suspect, counted twice though predicted three
    # times (the documented lower bound), and flagged as not exact
    r = one_sample([0] * 5, pred_seq=[1, 2, 3, 3, 3])
    assert r.suspect_class.tolist() == [3]
    assert r.suspect_epochs.tolist() == [2]
    assert r.suspect_exact.tolist() == [False]
    # correct epochs do not vote: 4, (correct), 4, 7 -> 4 with two epochs
    r = one_sample([0, 1, 0, 0], pred_seq=[4, 0, 4, 7])
    assert (r.suspect_class.tolist(), r.suspect_epochs.tolist()) == ([4], [2])
    # a tie of counts goes to the lower class
    r = one_sample([0, 0], pred_seq=[6, 3])
    assert (r.suspect_class.tolist(), r.suspect_epochs.tolist()) == ([3], [1])
    # never wrong: no suspect
    r = one_sample([1, 1, 1])
    assert r.suspect_class.tolist() == [-1]
    assert r.suspect_epochs.tolist() == [0]
    assert np.isnan(r.suspect_mean_confidence[0]) and np.isnan(r.suspect_slope[0])
    # one wrong epoch: mean defined, slope not
    r = one_sample([1, 0, 1], conf_seq=[0.9, 0.4, 0.9])
    assert r.suspect_mean_confidence[0] == 0.4
    assert np.isnan(r.suspect_slope[0])


# -- streaming equals batch -------------------------------------------------------------------


def batch_reference(epochs, p, c, pred, conf, margin, valid):
    """The same definitions over whole [E, N] arrays (numpy reductions, scalar Misra-Gries)."""
    keep = valid.all(axis=0)
    p, c, pred, conf, margin = (a[:, keep] for a in (p, c, pred, conf, margin))
    e, n = p.shape
    learned = c.any(axis=0)
    out = {
        "confidence": p.mean(axis=0),
        "variability": p.std(axis=0),
        "correct_epochs": c.sum(axis=0),
        "forgetting_events": (c[:-1] & ~c[1:]).sum(axis=0),
        "never_learned": ~learned,
        "first_learned": np.where(learned, np.asarray(epochs)[c.argmax(axis=0)], epochs[-1] + 1),
        "aum": margin.mean(axis=0),
    }
    cls = np.full(n, -1)
    cnt = np.zeros(n, dtype=int)
    exact = np.ones(n, dtype=bool)
    mean_x = np.full(n, np.nan)
    slope = np.full(n, np.nan)
    for j in range(n):
        # slots: [class, votes, points (epoch label, confidence)]
        slots = [[-1, 0, []], [-1, 0, []]]
        for i in range(e):
            if c[i, j]:
                continue
            x, point = pred[i, j], (epochs[i], conf[i, j])
            match = [s for s in slots if s[0] == x]
            free = sorted((s for s in slots if s[1] == 0), key=lambda s: len(s[2]))
            if match:
                match[0][1] += 1
                match[0][2].append(point)
            elif free:
                exact[j] &= not free[0][2]
                free[0][:] = [x, 1, [point]]
            else:
                exact[j] = False
                for s in slots:
                    s[1] -= 1
        best = max(slots, key=lambda s: (len(s[2]), s[1], -s[0]))
        if best[2]:
            cls[j], cnt[j] = best[0], len(best[2])
            t, x = np.array(best[2]).T
            mean_x[j] = x.mean()
            if len(best[2]) > 1:
                slope[j] = np.polyfit(t, x, 1)[0]
    out.update(suspect_class=cls, suspect_epochs=cnt, suspect_mean_confidence=mean_x)
    out["suspect_exact"] = exact
    out["suspect_slope"] = slope
    return np.flatnonzero(keep), out


def random_run(rng, e, n, c=4, p_invalid=0.0):
    z = rng.normal(size=(e, n, c)) * 2 + np.linspace(0, 3, e)[:, None, None] * (np.arange(c) == 0)
    labels = rng.integers(0, c, size=n)
    # the first half of the samples can only be predicted as their label or one other class
    two = np.arange(n) < n // 2
    other_class = (labels + rng.integers(1, c, size=n)) % c
    allowed = (np.arange(c) == labels[:, None]) | (np.arange(c) == other_class[:, None])
    z = z - 10.0 * (two[:, None] & ~allowed)
    p = np.exp(z - z.max(axis=2, keepdims=True))
    p /= p.sum(axis=2, keepdims=True)
    pred = z.argmax(axis=2)
    idx = np.broadcast_to(labels, (e, n))
    p_true = np.take_along_axis(p, idx[..., None], axis=2)[..., 0]
    other = z.copy()
    np.put_along_axis(other, idx[..., None], -np.inf, axis=2)
    margin = np.take_along_axis(z, idx[..., None], axis=2)[..., 0] - other.max(axis=2)
    valid = rng.random((e, n)) >= p_invalid
    return dict(
        p=p_true,
        c=(pred == labels) & valid,
        pred=pred,
        conf=p.max(axis=2),
        margin=margin,
        valid=valid,
        labels=labels,
    )


def test_streaming_equals_batch():
    rng = np.random.default_rng(7)
    e, n = 40, 300
    d = random_run(rng, e, n, p_invalid=0.002)
    epochs = list(range(0, 3 * e, 3))
    r = feed(
        epochs,
        p_true=d["p"],
        correct=d["c"],
        pred=d["pred"],
        confidence=d["conf"],
        valid=d["valid"],
        margin=d["margin"],
    )
    keep, ref = batch_reference(
        epochs, d["p"], d["c"], d["pred"], d["conf"], d["margin"], d["valid"]
    )
    assert 0 < r.n_excluded < n // 2
    np.testing.assert_array_equal(r.index, keep)
    np.testing.assert_array_equal(r.excluded, np.flatnonzero(~d["valid"].all(axis=0)))
    for name in ("correct_epochs", "forgetting_events", "never_learned", "first_learned"):
        np.testing.assert_array_equal(getattr(r, name), ref[name], err_msg=name)
    assert 0 < np.count_nonzero(~r.suspect_exact) < r.n_included  # both cases covered
    for name in ("suspect_class", "suspect_epochs", "suspect_exact"):
        np.testing.assert_array_equal(getattr(r, name), ref[name], err_msg=name)
    # Welford vs np.std / np.mean
    np.testing.assert_allclose(r.confidence, ref["confidence"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(r.variability, ref["variability"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(r.aum, ref["aum"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        r.suspect_mean_confidence, ref["suspect_mean_confidence"], rtol=0, atol=1e-12
    )
    np.testing.assert_allclose(r.suspect_slope, ref["suspect_slope"], rtol=0, atol=1e-10)
    assert r.correctness.tolist() == (ref["correct_epochs"] / e).tolist()


def test_welford_is_stable_for_tiny_variation_near_one():
    # p_true = 1 - 1e-9 * k: a naive sum-of-squares variance cancels completely here
    rng = np.random.default_rng(1)
    e, n = 200, 50
    p = 1.0 - 1e-9 * rng.random((e, n))
    ones = np.ones((e, n), dtype=bool)
    r = feed(range(e), p_true=p, correct=ones, pred=np.zeros((e, n), int), confidence=p)
    np.testing.assert_allclose(r.variability, p.std(axis=0), rtol=1e-6, atol=1e-18)
    assert (r.variability > 1e-10).all()


def test_result_is_repeatable_and_read_only():
    rng = np.random.default_rng(3)
    d = random_run(rng, 5, 20)
    acc = DynamicsAccumulator(20, input_kind="logits")
    for i in range(5):
        acc.update(
            i,
            p_true=d["p"][i],
            correct=d["c"][i],
            pred=d["pred"][i],
            confidence=d["conf"][i],
            valid=d["valid"][i],
            margin=d["margin"][i],
            labels=d["labels"],
        )
        r1 = acc.result()
    r2 = acc.result()
    for name in ("confidence", "variability", "suspect_slope", "first_learned", "labels"):
        np.testing.assert_array_equal(getattr(r1, name), getattr(r2, name))
    with pytest.raises(ValueError, match="read-only"):
        r1.confidence[0] = 0.0
    np.testing.assert_array_equal(r1.labels, d["labels"])


# -- O(N) state ----------------------------------------------------------------------------


def state_arrays_nbytes(acc: DynamicsAccumulator, n: int) -> int:
    """Bytes of the accumulator's attributes; fails on any attribute that could grow with E."""
    total = 0
    for name, value in vars(acc).items():
        if isinstance(value, np.ndarray):
            assert value.shape in ((n,), (2, n)), name
            total += value.nbytes
        else:
            assert value is None or isinstance(value, bool | int | str), (name, type(value))
    return total


def test_state_is_o_n_whatever_the_number_of_epochs():
    rng = np.random.default_rng(0)
    n = 1000
    acc = DynamicsAccumulator(n, input_kind="logits")
    sizes = []
    labels = rng.integers(0, 5, size=n)
    for t in range(500):
        pred = rng.integers(0, 5, size=n)
        acc.update(
            t,
            p_true=rng.random(n),
            correct=pred == labels,
            pred=pred,
            confidence=rng.random(n),
            valid=np.ones(n, bool),
            margin=rng.normal(size=n),
            labels=labels,
            brier=rng.random(n),
        )
        if t in (0, 1, 499):
            sizes.append(state_arrays_nbytes(acc, n))
    assert sizes[0] == sizes[1] == sizes[2] == acc.state_nbytes() == 180 * n
    assert acc.result().n_epochs == 500


def test_without_label_votes_the_rest_is_the_same_and_label_problems_refuse():
    """label_votes=False (analyze's data map): 67 bytes a sample, every other field equal."""
    from predaudit.dynamics import likely_label_problems

    rng = np.random.default_rng(3)
    n, e = 200, 7
    labels = rng.integers(0, 4, size=n)
    both = [DynamicsAccumulator(n, input_kind="logits", label_votes=v) for v in (True, False)]
    for t in range(e):
        pred = rng.integers(0, 4, size=n)
        args = dict(p_true=rng.random(n), correct=pred == labels, pred=pred,
                    confidence=rng.random(n), valid=rng.random(n) > 0.05,
                    margin=rng.normal(size=n), labels=labels)  # fmt: skip
        for acc in both:
            acc.update(t + 1, **args)
    full, lean = (acc.result() for acc in both)
    assert both[1].state_nbytes() == 67 * n and both[0].state_nbytes() == 180 * n
    assert full.label_votes and not lean.label_votes
    for name, value in vars(full).items():
        if name.startswith("suspect_") or name == "label_votes":
            continue
        other = getattr(lean, name)
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(value, other, err_msg=name)
        else:
            assert value == other, name
    assert (lean.suspect_class == -1).all() and (lean.suspect_epochs == 0).all()
    assert likely_label_problems(full).n_candidates >= 0
    with pytest.raises(ValueError, match="label_votes=True"):
        likely_label_problems(lean)


# -- EL2N ------------------------------------------------------------------------------------


def test_el2n_first_or_chosen_epoch():
    rng = np.random.default_rng(5)
    e, n = 6, 10
    d = random_run(rng, e, n)
    brier = rng.random((e, n))
    kw = dict(p_true=d["p"], correct=d["c"], pred=d["pred"], confidence=d["conf"])
    r = feed(range(10, 10 + e), brier=brier, **kw)
    assert r.el2n_epoch == 10
    np.testing.assert_array_equal(r.el2n, np.sqrt(brier[0]))
    r = feed(range(10, 10 + e), brier=brier, el2n_epoch=13, **kw)
    assert r.el2n_epoch == 13
    np.testing.assert_array_equal(r.el2n, np.sqrt(brier[3]))
    r = feed(range(10, 10 + e), **kw)
    assert r.el2n is None and r.el2n_epoch is None and r.aum is None


# -- input checks ----------------------------------------------------------------------------


def _args(n=3):
    return dict(
        p_true=np.full(n, 0.5),
        correct=np.zeros(n, bool),
        pred=np.ones(n, np.int64),
        confidence=np.full(n, 0.5),
        valid=np.ones(n, bool),
    )


@pytest.mark.parametrize("kind", ["probs", "log_probs"])
def test_margin_refused_for_probabilities(kind):
    acc = DynamicsAccumulator(3, input_kind=kind)
    with pytest.raises(ValueError, match="AUM .* logit margin.*not AUM"):
        acc.update(1, margin=np.zeros(3), **_args())
    acc.update(1, **_args())  # without margin: fine
    assert acc.result().aum is None


def test_input_errors():
    with pytest.raises(ValueError, match="input_kind"):
        DynamicsAccumulator(3, input_kind="softmax")
    with pytest.raises(ValueError, match="n_samples"):
        DynamicsAccumulator(-1, input_kind="logits")
    acc = DynamicsAccumulator(3, input_kind="logits")
    with pytest.raises(ValueError, match="no epoch"):
        acc.result()
    with pytest.raises(ValueError, match="shape"):
        acc.update(1, **{**_args(), "p_true": np.zeros(4)})
    with pytest.raises(ValueError, match="bool"):
        acc.update(1, **{**_args(), "correct": np.zeros(3)})
    with pytest.raises(ValueError, match="integer"):
        acc.update(1, **{**_args(), "pred": np.zeros(3)})
    with pytest.raises(ValueError, match="NaN or infinite"):
        acc.update(1, **{**_args(), "p_true": np.array([0.5, np.nan, 0.5])})
    with pytest.raises(ValueError, match="correct disagrees"):
        acc.update(1, labels=np.array([1, 0, 0]), **_args())
    with pytest.raises(ValueError, match="el2n_epoch"):
        DynamicsAccumulator(3, input_kind="logits", el2n_epoch=1).update(1, **_args())
    # a NaN at an invalid sample is fine (predaudit leaves ignored samples NaN)
    acc.update(1, margin=np.zeros(3), labels=np.array([0, 0, -100]),
               **{**_args(), "p_true": np.array([0.5, 0.5, np.nan]),
                  "valid": np.array([True, True, False])})  # fmt: skip
    with pytest.raises(ValueError, match="increase"):
        acc.update(1, margin=np.zeros(3), labels=np.array([0, 0, -100]), **_args())
    with pytest.raises(ValueError, match="margin must be given at every epoch"):
        acc.update(2, labels=np.array([0, 0, -100]), **_args())
    with pytest.raises(ValueError, match="labels must be given at every epoch"):
        acc.update(2, margin=np.zeros(3), **_args())
    with pytest.raises(ValueError, match="labels differ"):
        acc.update(2, margin=np.zeros(3), labels=np.array([0, 2, 0]), **_args())
    with pytest.raises(ValueError, match="epoch_label"):
        acc.update(2.5, margin=np.zeros(3), labels=np.array([0, 0, 0]), **_args())
    # a failed update changes nothing
    acc.update(2, margin=np.zeros(3), labels=np.array([0, 0, 7]), **_args())
    r = acc.result()
    assert (r.n_epochs, r.first_epoch, r.last_epoch) == (2, 1, 2)
    assert r.index.tolist() == [0, 1] and r.excluded.tolist() == [2]
    assert r.labels.tolist() == [0, 0]
