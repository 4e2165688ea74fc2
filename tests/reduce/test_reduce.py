"""The per-sample reduction (docs/design.md) against independent references.

PyTorch's ``cross_entropy`` / ``binary_cross_entropy_with_logits`` and
scikit-learn's ``log_loss`` are computed in float64 from the very values
predaudit sees (float16/bfloat16/float32 inputs are widened first), and the
per-sample loss must agree to a relative 1e-6. Saturated inputs are pinned to
hand-computed finite values.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import torch
from sklearn.metrics import log_loss

from predaudit.reduce import (
    EpochStats,
    KindEvidence,
    decide_kind,
    reduce_detect,
    reduce_scores,
    scan_kind,
)

F = torch.nn.functional

RTOL = 1e-6
FIELDS = ("loss", "pred", "correct", "p_true", "confidence", "margin")
# p = 0 is floored at the smallest positive normal number of the input dtype (issue 11,
# point 7); for float64 inputs that is 2.2e-308, a loss of 708.40 nats.
LOG_TINY = float(np.log(np.finfo(np.float64).tiny))


# -- helpers ---------------------------------------------------------------------------------


def logits_data(n: int, c: int, dtype: type, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random logits with a mix of hard, easy and very confident samples."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c)) * rng.choice([0.3, 1.0, 3.0, 8.0], size=(n, 1))
    y = rng.integers(0, c, n)
    boost = rng.choice([0.0, 0.0, 4.0, 12.0, 25.0], size=n)
    x[np.arange(n), y] += boost  # confident correct rows: loss down to ~1e-12
    return x.astype(dtype), y


def ce_ref(x: np.ndarray, target: np.ndarray) -> np.ndarray:
    """torch cross_entropy in float64 (class indices or probability targets)."""
    t = torch.from_numpy(np.asarray(target))
    return F.cross_entropy(torch.from_numpy(x.astype(np.float64)), t, reduction="none").numpy()


def softmax64(x: np.ndarray) -> np.ndarray:
    return torch.softmax(torch.from_numpy(x.astype(np.float64)), dim=1).numpy()


def to_bf16_bits(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """bfloat16 made by torch: (uint16 bit patterns, the same values as float64)."""
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(torch.bfloat16)
    return t.view(torch.int16).numpy().view(np.uint16), t.to(torch.float64).numpy()


def assert_loss_close(actual: np.ndarray, ref: np.ndarray, x: np.ndarray) -> None:
    """Relative 1e-6, beyond the float64 reference's own rounding.

    torch computes ``logsumexp(z) - z[y]`` (and the binary ``max(-s, 0) +
    log(...)``) in float64, which loses the relative precision of losses far
    below 1e-9 (a cancellation of numbers of size ``|z|``); the absolute slack
    is that rounding, ``16 eps max|z|`` (about 1e-13 here). The exact-reference
    test below pins such rows in relative terms.
    """
    finite = np.abs(x[np.isfinite(x)].astype(np.float64))
    atol = 16 * np.finfo(np.float64).eps * max(1.0, float(finite.max(initial=0.0)))
    np.testing.assert_allclose(actual, ref, rtol=RTOL, atol=atol)


def margin_ref(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    z = z.astype(np.float64)
    r = np.arange(len(y))
    other = z.copy()
    other[r, y] = -np.inf
    return z[r, y] - other.max(axis=1)


def assert_same_stats(a: EpochStats, b: EpochStats) -> None:
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)
    counts = ("n_clipped", "n_floored", "n_nonfinite", "n_dead_rows", "n_outside", "n_unnormalized")
    assert [getattr(a, k) for k in counts] == [getattr(b, k) for k in counts]


# -- logits against torch --------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logits_match_torch_cross_entropy(dtype: type) -> None:
    x, y = logits_data(600, 37, dtype)
    st = reduce_scores(x, y, kind="logits", chunk_rows=50)
    assert_loss_close(st.loss, ce_ref(x, y), x)
    p = softmax64(x)
    r = np.arange(len(y))
    np.testing.assert_array_equal(st.pred, x.argmax(axis=1))
    np.testing.assert_array_equal(st.correct, x.argmax(axis=1) == y)
    np.testing.assert_allclose(st.p_true, p[r, y], rtol=RTOL)
    np.testing.assert_allclose(st.confidence, p.max(axis=1), rtol=RTOL)
    np.testing.assert_allclose(st.margin, margin_ref(x, y), rtol=1e-12)
    assert (st.n_clipped, st.n_nonfinite, st.n_dead_rows) == (0, 0, 0)
    assert st.loss.dtype == np.float64


def test_float16_logits_match_torch() -> None:
    x, y = logits_data(400, 21, np.float16)
    st = reduce_scores(x, y, kind="logits", chunk_rows=33)
    assert_loss_close(st.loss, ce_ref(x, y), x)
    np.testing.assert_allclose(st.margin, margin_ref(x, y), rtol=1e-12)


def test_bfloat16_logits_match_torch() -> None:
    x, y = logits_data(400, 21, np.float32)
    bits, values = to_bf16_bits(x)
    st = reduce_scores(bits, y, kind="logits", dtype="bfloat16", chunk_rows=33)
    assert_loss_close(st.loss, ce_ref(values, y), values)
    np.testing.assert_array_equal(st.pred, values.argmax(axis=1))
    np.testing.assert_allclose(st.margin, margin_ref(values, y), rtol=1e-12)


def confident_rows(n: int, c: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """float32 logits whose losses go down to 1e-25, with row maxima from -80 to 250."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c)) * rng.choice([0.5, 3.0, 10.0], size=(n, 1))
    y = rng.integers(0, c, n)
    x[np.arange(n), y] += rng.uniform(0, 60, n)
    x += rng.choice([-80.0, -25.0, 0.0, 30.0, 80.0, 95.0, 250.0], size=(n, 1))
    return x.astype(np.float32), y


def test_confident_float32_rows_match_an_exact_reference() -> None:
    """Losses far below 1e-6 keep their relative precision (torch's float64 does not)."""
    x, y = confident_rows(70, 30, seed=5)
    st = reduce_scores(x, y, kind="logits", chunk_rows=9)
    assert st.loss.min() < 1e-20
    mpmath.mp.dps = 50
    for i in range(len(y)):
        row = [mpmath.mpf(float(v)) for v in x[i]]
        top = max(row)
        exact = top + mpmath.log(mpmath.fsum(mpmath.exp(v - top) for v in row)) - row[y[i]]
        assert st.loss[i] == pytest.approx(float(exact), rel=RTOL, abs=0), (i, x[i].max())


# -- binary logits and probabilities ---------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_logit_matches_bce_with_logits(dtype: type) -> None:
    rng = np.random.default_rng(1)
    s = np.concatenate([rng.standard_normal(300) * 4, [-60.0, -30.0, 0.0, 30.0, 60.0]])
    s = s.astype(dtype)
    y = rng.integers(0, 2, s.shape[0])
    st = reduce_scores(s, y, kind="logits")
    s64, y64 = torch.from_numpy(s.astype(np.float64)), torch.from_numpy(y.astype(np.float64))
    ref = F.binary_cross_entropy_with_logits(s64, y64, reduction="none").numpy()
    assert_loss_close(st.loss, ref, s)
    p1, p0 = torch.sigmoid(s64).numpy(), torch.sigmoid(-s64).numpy()
    np.testing.assert_array_equal(st.pred, (s > 0).astype(np.int64))
    np.testing.assert_allclose(st.p_true, np.where(y == 1, p1, p0), rtol=RTOL)
    np.testing.assert_allclose(st.confidence, np.maximum(p1, p0), rtol=RTOL)
    np.testing.assert_array_equal(st.margin, np.where(y == 1, s, -s).astype(np.float64))
    assert st.n_clipped == 0


def test_binary_probability_matches_log_loss() -> None:
    rng = np.random.default_rng(2)
    p = rng.uniform(0.001, 0.999, 200)
    y = rng.integers(0, 2, 200)
    st = reduce_scores(p, y, kind="probs")
    ref = [log_loss([y[i]], [p[i]], labels=[0, 1], normalize=False) for i in range(200)]
    np.testing.assert_allclose(st.loss, ref, rtol=RTOL, atol=0)
    np.testing.assert_array_equal(st.pred, (p > 0.5).astype(np.int64))
    np.testing.assert_allclose(st.p_true, np.where(y == 1, p, 1 - p))
    np.testing.assert_allclose(st.margin, np.where(y == 1, 1, -1) * np.log(p / (1 - p)))


# -- probabilities and log-probabilities -----------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_probabilities_match_log_loss(dtype: type) -> None:
    x, y = logits_data(120, 9, np.float64, seed=3)
    p = softmax64(x)
    p = np.clip(p, 1e-6, None)  # away from sklearn's and predaudit's clipping
    p = (p / p.sum(axis=1, keepdims=True)).astype(dtype)
    st = reduce_scores(p, y, kind="probs", chunk_rows=17)
    labels = list(range(9))
    ref = [log_loss([y[i]], p[i : i + 1], labels=labels, normalize=False) for i in range(120)]
    np.testing.assert_allclose(st.loss, ref, rtol=RTOL, atol=0)
    r = np.arange(120)
    np.testing.assert_array_equal(st.p_true, p[r, y].astype(np.float64))
    np.testing.assert_array_equal(st.confidence, p.max(axis=1).astype(np.float64))
    np.testing.assert_allclose(st.margin, margin_ref(np.log(p.astype(np.float64)), y), rtol=1e-6)
    assert st.n_clipped == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_probabilities_match_nll_loss(dtype: type) -> None:
    x, y = logits_data(300, 15, np.float64, seed=4)
    lp = torch.log_softmax(torch.from_numpy(x), dim=1).numpy().astype(dtype)
    st = reduce_scores(lp, y, kind="log_probs")
    lp64 = torch.from_numpy(lp.astype(np.float64))
    ref = F.nll_loss(lp64, torch.from_numpy(y), reduction="none").numpy()
    # Exact losses (issue 11, point 7): this test used to floor losses above -log 1e-7 =
    # 16.12 nats and count them as clipped; every finite log-probability is now exact.
    assert ref.max() > 16.2
    np.testing.assert_allclose(st.loss, ref, rtol=RTOL, atol=0)
    assert (st.n_clipped, st.n_floored) == (0, 0)
    np.testing.assert_allclose(st.confidence, np.exp(lp.astype(np.float64)).max(axis=1))
    np.testing.assert_array_equal(st.pred, lp.argmax(axis=1))


# -- labels: soft, one-hot, ignored ----------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_soft_targets_match_torch(dtype: type) -> None:
    x, _ = logits_data(200, 6, dtype, seed=6)
    rng = np.random.default_rng(7)
    q = rng.dirichlet(np.ones(6) * 0.5, size=200)
    q[:20] = np.eye(6)[rng.integers(0, 6, 20)] * 0.7 + 0.05  # peaked rows
    st = reduce_scores(x, q, kind="logits", chunk_rows=31)
    assert_loss_close(st.loss, ce_ref(x, q), x)
    y = q.argmax(axis=1)
    np.testing.assert_array_equal(st.correct, x.argmax(axis=1) == y)
    np.testing.assert_allclose(st.p_true, softmax64(x)[np.arange(200), y], rtol=RTOL)


def test_soft_targets_on_probabilities_and_log_probabilities() -> None:
    x, _ = logits_data(50, 4, np.float64, seed=8)
    q = np.random.default_rng(9).dirichlet(np.ones(4), size=50)
    p = softmax64(x)
    # Exact losses (issue 11, point 7): these used to pin -log(clip(p, 1e-7, 1 - 1e-7)) and
    # max(log p, log 1e-7); without --clip both are the exact -sum q log p now.
    expected = -(q * np.log(p)).sum(axis=1)
    np.testing.assert_allclose(reduce_scores(p, q, kind="probs").loss, expected, rtol=1e-12)
    lp = np.log(p)
    np.testing.assert_allclose(reduce_scores(lp, q, kind="log_probs").loss, expected, rtol=1e-12)
    ref = F.cross_entropy(torch.from_numpy(lp), torch.from_numpy(q), reduction="none").numpy()
    np.testing.assert_allclose(reduce_scores(lp, q, kind="log_probs").loss, ref, rtol=1e-12)


@pytest.mark.parametrize("kind", ["logits", "probs", "log_probs"])
def test_one_hot_rows_give_exactly_the_index_statistics(kind: str) -> None:
    x, y = logits_data(100, 8, np.float32, seed=10)
    if kind == "probs":
        x = softmax64(x).astype(np.float32)
    elif kind == "log_probs":
        x = np.log(softmax64(x)).astype(np.float32)
    one_hot = np.eye(8)[y]
    assert_same_stats(reduce_scores(x, one_hot, kind=kind), reduce_scores(x, y, kind=kind))


@pytest.mark.parametrize("kind", ["logits", "probs", "log_probs"])
def test_ignored_samples(kind: str) -> None:
    x = np.array([[2.0, 0.0, -1.0], [0.0, 1.0, 0.5], [0.3, 0.3, 0.4]])
    if kind == "probs":
        x = np.array([[0.0, 0.5, 0.5], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4]])  # row 0 saturated
    elif kind == "log_probs":
        x = np.array([[-np.inf, 0.0, -60.0], [-2.0, -0.2, -3.0], [-1.2, -1.2, -0.9]])
    y = np.array([-100, 1, 2])
    st = reduce_scores(x, y, kind=kind)
    assert math.isnan(st.loss[0]) and math.isnan(st.p_true[0]) and math.isnan(st.margin[0])
    assert st.correct.tolist() == [False, True, True]
    kept = reduce_scores(x[1:], y[1:], kind=kind)
    np.testing.assert_array_equal(st.loss[1:], kept.loss)
    np.testing.assert_array_equal(st.margin[1:], kept.margin)
    # the saturated ignored row is not counted (a floor since exact losses, issue 11 point 7)
    assert (st.n_clipped, st.n_floored) == (kept.n_clipped, kept.n_floored) == (0, 0)


def test_ignored_rows_with_a_masked_class_are_not_clipped() -> None:
    x = np.array([[-np.inf, 1.0], [1.0, 2.0]])
    st = reduce_scores(x, np.array([-100, 1]), kind="logits")
    # a floor, not a clip, since exact losses (issue 11, point 7)
    assert (st.n_clipped, st.n_floored) == (0, 0)
    s = np.array([-np.inf, 0.0, 1e-9])
    assert reduce_scores(s, np.array([-100, 1, 0]), kind="logits").n_floored == 0
    assert reduce_scores(np.array([0.0, 1.0]), np.array([-100, -100]), kind="probs").n_floored == 0


# -- small cases by hand ---------------------------------------------------------------------


def test_logits_by_hand() -> None:
    st = reduce_scores(np.array([[0.0, math.log(3.0)]]), np.array([0]), kind="logits")
    assert st.loss[0] == pytest.approx(math.log(4.0), rel=1e-15)
    assert st.p_true[0] == pytest.approx(0.25, rel=1e-15)
    assert st.confidence[0] == pytest.approx(0.75, rel=1e-15)
    assert st.margin[0] == pytest.approx(-math.log(3.0), rel=1e-15)
    assert st.pred.tolist() == [1] and st.correct.tolist() == [False]


def test_probabilities_by_hand() -> None:
    st = reduce_scores(np.array([[0.2, 0.5, 0.3]]), np.array([2]), kind="probs")
    assert st.loss[0] == pytest.approx(-math.log(0.3), rel=1e-15)
    assert (st.p_true[0], st.confidence[0]) == (0.3, 0.5)
    assert st.margin[0] == pytest.approx(math.log(0.3 / 0.5), rel=1e-14)
    st = reduce_scores(np.log(np.array([[0.2, 0.5, 0.3]])), np.array([1]), kind="log_probs")
    assert st.loss[0] == pytest.approx(-math.log(0.5), rel=1e-15)
    assert st.p_true[0] == pytest.approx(0.5, rel=1e-15)
    assert st.margin[0] == pytest.approx(math.log(0.5 / 0.3), rel=1e-14)


@pytest.mark.parametrize("kind", ["logits", "probs", "log_probs"])
def test_ties_go_to_the_lower_index(kind: str) -> None:
    x = np.array([[0.1, 0.4, 0.4, 0.1]])
    if kind == "log_probs":
        x = np.log(x)
    st = reduce_scores(x, np.array([2]), kind=kind)
    assert st.pred.tolist() == [1] and st.correct.tolist() == [False]
    assert st.margin[0] == 0.0
    st = reduce_scores(x, np.array([1]), kind=kind)
    assert st.correct.tolist() == [True] and st.margin[0] == 0.0


def test_binary_ties_predict_class_zero() -> None:
    assert reduce_scores(np.array([0.0]), np.array([1]), kind="logits").pred.tolist() == [0]
    assert reduce_scores(np.array([0.5]), np.array([1]), kind="probs").pred.tolist() == [0]


# -- saturated inputs ------------------------------------------------------------------------


def test_probabilities_of_exactly_zero_are_floored_and_one_is_exact() -> None:
    # Exact losses (issue 11, point 7): this test used to pin the 1e-7 clip (16.12 nats for
    # p = 0, 1e-7 nats for p = 1, both counted in n_clipped). Now p = 1 costs exactly 0 and
    # p = 0 is floored at float64's smallest normal number and counted in n_floored.
    p = np.array([[0.0, 1.0], [0.0, 1.0], [0.5, 0.5]])
    st = reduce_scores(p, np.array([0, 1, 0]), kind="probs")
    assert st.loss.tolist() == [-LOG_TINY, 0.0, math.log(2)]
    assert (st.n_floored, st.n_clipped) == (1, 0)
    assert np.all(np.isfinite(st.margin)) and st.margin[0] == LOG_TINY
    st = reduce_scores(np.array([0.0, 1.0, 1.0, 0.3]), np.array([1, 1, 0, 0]), kind="probs")
    np.testing.assert_allclose(st.loss, [-LOG_TINY, 0.0, -LOG_TINY, -math.log(0.7)], rtol=1e-15)
    assert (st.n_floored, st.n_clipped) == (2, 0) and np.all(np.isfinite(st.margin))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_logits_are_exact(dtype: type) -> None:
    x = np.array([[1e4, -1e4], [1e4, -1e4], [-1e4, 1e4, 0.0][:2]], dtype=dtype)
    st = reduce_scores(x, np.array([1, 0, 1]), kind="logits")
    assert st.loss.tolist() == [2e4, 0.0, 0.0]
    assert st.margin.tolist() == [-2e4, 2e4, 2e4]
    assert st.p_true.tolist() == [0.0, 1.0, 1.0]
    assert st.confidence.tolist() == [1.0, 1.0, 1.0]
    assert st.n_clipped == 0
    np.testing.assert_array_equal(st.loss, ce_ref(x, np.array([1, 0, 1])))


def test_masked_classes() -> None:
    inf = np.inf
    x = np.array([[2.0, -inf, 0.0], [2.0, -inf, 0.0], [0.0, -inf, -inf], [-inf, 0.0, -inf]])
    y = np.array([0, 1, 0, 0])
    st = reduce_scores(x, y, kind="logits")
    lse = 2.0 + math.log1p(math.exp(-2.0))
    assert st.loss[0] == pytest.approx(lse - 2.0, rel=1e-15)
    assert st.loss[0] == pytest.approx(ce_ref(x[:1], y[:1])[0], rel=RTOL)
    # an impossible true class: p floored at float64's smallest normal number (it was 1e-7
    # before exact losses, issue 11 point 7), counted in n_floored
    assert st.loss[1] == st.loss[3] == -LOG_TINY
    assert (st.n_floored, st.n_clipped) == (2, 0)
    assert st.p_true[1] == 0.0 and st.p_true[2] == 1.0
    assert st.margin[0] == 2.0
    assert st.margin[1] == pytest.approx(lse + LOG_TINY - 2.0)
    assert st.margin[2] == -LOG_TINY  # no finite other class: floored the same way
    assert st.margin[3] == LOG_TINY
    assert np.all(np.isfinite(st.loss)) and np.all(np.isfinite(st.margin))
    assert st.pred.tolist() == [0, 0, 0, 1]


def test_masked_class_with_target_mass() -> None:
    x = np.array([[0.0, -np.inf, 0.0]])
    q = np.array([[0.5, 0.25, 0.25]])
    st = reduce_scores(x, q, kind="logits")
    # the floor was log 1e-7 before exact losses (issue 11, point 7)
    assert st.loss[0] == pytest.approx(0.75 * math.log(2) - 0.25 * LOG_TINY, rel=1e-14)
    assert (st.n_floored, st.n_clipped) == (1, 0)


def test_masked_log_probabilities() -> None:
    lp = np.array([[0.0, -np.inf], [0.0, -np.inf]])
    st = reduce_scores(lp, np.array([1, 0]), kind="log_probs")
    # the floor was log 1e-7 before exact losses (issue 11, point 7)
    assert st.loss.tolist() == [-LOG_TINY, 0.0]
    assert st.margin.tolist() == [LOG_TINY, -LOG_TINY]
    assert (st.n_floored, st.n_clipped) == (1, 0)


def test_binary_logit_of_minus_infinity() -> None:
    s = np.array([-np.inf, -np.inf, 3.0])
    st = reduce_scores(s, np.array([1, 0, 1]), kind="logits")
    # the floor was log 1e-7 before exact losses (issue 11, point 7)
    assert st.loss[0] == -LOG_TINY and st.loss[1] == 0.0
    assert st.margin[:2].tolist() == [LOG_TINY, -LOG_TINY]
    assert st.p_true[:2].tolist() == [0.0, 1.0]
    assert st.pred.tolist() == [0, 0, 1]
    assert (st.n_floored, st.n_clipped) == (1, 0)  # only where the true class was floored
    assert np.all(np.isfinite(st.loss)) and np.all(np.isfinite(st.margin))


# -- bad values ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["logits", "probs", "log_probs"])
def test_nan_and_plus_inf_are_counted(kind: str) -> None:
    x = np.zeros((50, 4))
    x[3, 1] = np.nan
    x[3, 2] = np.inf
    x[40, 0] = np.nan
    assert reduce_scores(x, np.zeros(50, dtype=np.int64), kind=kind, chunk_rows=7).n_nonfinite == 3
    assert reduce_scores(x[:, 0], np.zeros(50, dtype=np.int64), kind=kind).n_nonfinite == 1


def test_rows_with_every_class_masked_are_counted() -> None:
    x = np.zeros((10, 3))
    x[[2, 7]] = -np.inf
    st = reduce_scores(x, np.zeros(10, dtype=np.int64), kind="logits", chunk_rows=3)
    assert (st.n_dead_rows, st.n_nonfinite) == (2, 0)
    lp = np.log(np.full((10, 3), 1 / 3))
    lp[5] = -np.inf
    assert reduce_scores(lp, np.zeros(10, dtype=np.int64), kind="log_probs").n_dead_rows == 1


# -- chunking and threads change nothing -----------------------------------------------------


def _inputs(case: str) -> tuple[np.ndarray, np.ndarray, str, str]:
    x, y = logits_data(301, 13, np.float32, seed=11)
    x[::5], y[::5] = confident_rows(61, 13, seed=16)  # rows taking every float32 path
    y[::17] = -100
    if case == "logits32":
        return x, y, "logits", ""
    if case == "logits64":
        return x.astype(np.float64), y, "logits", ""
    if case == "float16":
        return x.astype(np.float16), y, "logits", ""
    if case == "bfloat16":
        return to_bf16_bits(x)[0], y, "logits", "bfloat16"
    if case == "probs":
        return softmax64(x).astype(np.float32), y, "probs", ""
    if case == "log_probs":
        return np.log(softmax64(x)), y, "log_probs", ""
    if case == "soft":
        q = np.random.default_rng(12).dirichlet(np.ones(13), size=301)
        return x, q, "logits", ""
    assert case == "binary"
    return x[:, 0], (y[:] % 2) * (y != -100) + -100 * (y == -100), "logits", ""


@pytest.mark.parametrize(
    "case", ["logits32", "logits64", "float16", "bfloat16", "probs", "log_probs", "soft", "binary"]
)
def test_chunked_threaded_equals_single_chunk(case: str) -> None:
    x, y, kind, dtype = _inputs(case)
    one = reduce_scores(x, y, kind=kind, dtype=dtype, chunk_rows=x.shape[0], threads=1)
    for rows, threads in [(1, 1), (7, 2), (13, 3), (129, 2), (300, 4), (None, None)]:
        st = reduce_scores(x, y, kind=kind, dtype=dtype, chunk_rows=rows, threads=threads)
        assert_same_stats(st, one)


def test_non_contiguous_scores() -> None:
    x, y = logits_data(64, 10, np.float32, seed=13)
    wide = np.asfortranarray(x)
    assert_same_stats(reduce_scores(wide, y, kind="logits"), reduce_scores(x, y, kind="logits"))
    sliced = np.concatenate([x, x], axis=1)[:, ::2]
    ref = reduce_scores(np.ascontiguousarray(sliced), y, kind="logits")
    assert_same_stats(reduce_scores(sliced, y, kind="logits", chunk_rows=5), ref)


# -- score kind ------------------------------------------------------------------------------


def test_kind_detection_in_the_reduction_pass() -> None:
    x, y = logits_data(200, 12, np.float32, seed=14)
    p = softmax64(x)
    for scores, kind in [(x, "logits"), (p, "probs"), (np.log(p), "log_probs")]:
        found, st, ev = reduce_detect(scores, y, chunk_rows=23)
        assert found == kind
        assert decide_kind(scan_kind(scores), binary=False) == kind
        assert_same_stats(st, reduce_scores(scores, y, kind=kind))
        assert (ev.min, ev.max, ev.n_nonfinite) == (scores.min(), scores.max(), 0)
    forced, st, _ = reduce_detect(p, y, kind="logits")
    assert forced == "logits"
    assert_same_stats(st, reduce_scores(p, y, kind="logits"))


def test_detection_evidence_matches_scan_kind() -> None:
    x, y = logits_data(100, 5, np.float64, seed=15)
    lp = np.log(softmax64(x))
    for scores in (x, lp, np.exp(lp)):
        a = reduce_detect(scores, y)[2]
        b = scan_kind(scores)
        assert (a.min, a.max, a.n_nonfinite) == (b.min, b.max, b.n_nonfinite)
        for f in ("max_rowsum_dev", "max_lse_abs"):
            va, vb = getattr(a, f), getattr(b, f)
            assert va == vb or abs(va - vb) < 1e-12, f


def test_detection_counts_bad_values() -> None:
    x = np.zeros((20, 3), dtype=np.float32)
    x[4, 0], x[9, 2] = np.nan, np.inf
    assert scan_kind(x, chunk_rows=3).n_nonfinite == 2
    _, st, ev = reduce_detect(x, np.zeros(20, dtype=np.int64))
    assert ev.n_nonfinite == st.n_nonfinite == 2


def test_binary_detection() -> None:
    y = np.array([0, 1, 1])
    assert reduce_detect(np.array([0.1, 0.9, 1.0]), y)[0] == "probs"
    assert reduce_detect(np.array([-0.1, 0.9, 3.0]), y)[0] == "logits"
    ev = scan_kind(np.array([0.1, 0.9]))
    assert ev == KindEvidence(0.1, 0.9, math.inf, math.inf, 0)
