"""Temperature scaling against independent references.

* the per-chunk sums (NLL, d/dlogT, d²/dlogT²) against PyTorch: ``cross_entropy``
  of ``z / exp(u)`` in float64 and its first and second derivatives by autograd;
  the entropy against ``scipy.stats.entropy`` of ``scipy.special.softmax``;
* ``T*`` against ``scipy.optimize.minimize_scalar`` (bounded, on log T,
  ``xatol=1e-10``) to 1e-6 relative (a derivative-free minimiser of a smooth
  function gets about sqrt(machine eps) in x), and against ``scipy.optimize.brentq``
  on PyTorch's autograd derivative to 1e-8;
* ``NLL(1)`` against scikit-learn's ``log_loss``.

Scores: held-out digits (797 samples, 10 classes) from a logistic regression
(logits, and the same x3: overconfident) and an MLP (log-probabilities and
probabilities), plus synthetic overconfident logits.

First-order condition. With ``s = z/T``, ``p = softmax(s)``, ``u = log T``:
``dℓ/du = s_y - E_p[s]`` and the entropy is ``H = logsumexp(s) - E_p[s] = ℓ + dℓ/du``.
So ``mean ℓ - mean H = -d mean ℓ / du`` at *every* T, and the issue's claim
"at T* the mean NLL equals the mean predictive entropy" is exactly the
first-order condition ``mean z_y/T = mean E_p[z/T]``: true at an interior
optimum, false at a bound. Both halves are tested.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import optimize as scipy_optimize
from scipy import special as scipy_special
from scipy import stats as scipy_stats

from predaudit.calibration import (
    TemperatureSums,
    fit_temperature,
    fit_temperature_array,
    scaled_probabilities,
    temperature_sums,
)

RNG = np.random.default_rng(11)
LOG_LO, LOG_HI = math.log(1e-3), math.log(1e3)


@pytest.fixture(scope="module")
def digits() -> dict[str, np.ndarray]:
    """Held-out digits: logistic-regression logits (also x3) and an MLP's log-probs / probs."""
    from sklearn import datasets
    from sklearn import linear_model as linear
    from sklearn import neural_network as neural

    x, y = datasets.load_digits(return_X_y=True)
    x = x / 16.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: a short fit is what we want
        lr = linear.LogisticRegression(max_iter=100).fit(x[:1000], y[:1000])
        mlp = neural.MLPClassifier(hidden_layer_sizes=(32,), max_iter=150, random_state=0)
        mlp.fit(x[:1000], y[:1000])
    xt = x[1000:]
    logits = lr.decision_function(xt)
    return {
        "labels": y[1000:].astype(np.int64),
        "logits": logits,
        "logits_x3": 3.0 * logits,
        "log_probs": mlp.predict_log_proba(xt),
        "probs": mlp.predict_proba(xt),
    }


def _synthetic_overconfident(n=3000, c=5):
    """Logits of a model whose hits are 70% but whose scores say ~99%: T* well above 1."""
    y = RNG.integers(0, c, n)
    z = RNG.normal(size=(n, c))
    pred = np.where(RNG.random(n) < 0.7, y, RNG.integers(0, c, n))
    z[np.arange(n), pred] += 3.0
    return 3.0 * z, y


def _as_logits(scores, kind):
    if kind == "probs":
        return np.log(np.maximum(scores, np.finfo(scores.dtype).tiny))
    return np.asarray(scores, dtype=np.float64)


def _cases(digits):
    z_syn, y_syn = _synthetic_overconfident()
    y = digits["labels"]
    return [
        ("logits", digits["logits"], y, "logits"),
        ("logits_x3", digits["logits_x3"], y, "logits"),
        ("mlp_log_probs", digits["log_probs"], y, "log_probs"),
        ("mlp_probs", digits["probs"], y, "probs"),
        ("synthetic", z_syn, y_syn, "logits"),
    ]


def _torch_derivs(z, y, t):
    import torch

    u = torch.tensor(math.log(t), dtype=torch.float64, requires_grad=True)
    loss = torch.nn.functional.cross_entropy(
        torch.from_numpy(np.asarray(z, dtype=np.float64)) / torch.exp(u), torch.from_numpy(y)
    )
    (g,) = torch.autograd.grad(loss, u, create_graph=True)
    (h,) = torch.autograd.grad(g, u)
    return loss.item(), g.item(), h.item()


def _scipy_tstar(z, y):
    r = np.arange(y.size)

    def nll(u):
        return -scipy_special.log_softmax(z / math.exp(u), axis=1)[r, y].mean()

    res = scipy_optimize.minimize_scalar(
        nll, bounds=(LOG_LO, LOG_HI), method="bounded", options={"xatol": 1e-10}
    )
    return math.exp(res.x)


def _entropy(z, t):
    return scipy_stats.entropy(scipy_special.softmax(z / t, axis=1), axis=1).mean()


# --- the sums ----------------------------------------------------------------------------


@pytest.mark.parametrize("t", [0.05, 0.3, 1.0, 2.7, 40.0])
def test_sums_match_torch_autograd_and_scipy_entropy(digits, t):
    z, y = digits["logits"], digits["labels"]
    s = temperature_sums(z, y, temperature=t)
    loss, g, h = _torch_derivs(z, y, t)
    assert s.n == y.size
    assert s.loss / s.n == pytest.approx(loss, rel=1e-12)
    assert s.grad / s.n == pytest.approx(g, rel=1e-9, abs=1e-14)
    assert s.hess / s.n == pytest.approx(h, rel=1e-9, abs=1e-14)
    assert s.entropy / s.n == pytest.approx(_entropy(z, t), rel=1e-10)


def test_entropy_identity_holds_at_every_temperature(digits):
    """mean NLL - mean H = -d mean NLL / dlogT (both sides from independent references)."""
    z, y = digits["logits_x3"], digits["labels"]
    for t in (0.2, 1.0, 5.0):
        loss, g, _ = _torch_derivs(z, y, t)
        assert loss - _entropy(z, t) == pytest.approx(-g, rel=1e-9, abs=1e-12)


def test_sums_add_over_chunks(digits):
    z, y = digits["logits"], digits["labels"]
    whole = temperature_sums(z, y, temperature=1.7)
    parts = TemperatureSums.zero(1.7)
    for a in range(0, y.size, 100):
        parts = parts + temperature_sums(z[a : a + 100], y[a : a + 100], temperature=1.7)
    assert parts.n == whole.n and parts.n_correct == whole.n_correct
    assert parts.loss == pytest.approx(whole.loss, rel=1e-13)
    assert parts.grad == pytest.approx(whole.grad, rel=1e-12)
    with pytest.raises(ValueError):
        whole + TemperatureSums.zero(2.0)


# --- the fit -------------------------------------------------------------------------------


def test_fit_matches_scipy_and_sklearn(digits):
    from sklearn.metrics import log_loss

    for name, scores, y, kind in _cases(digits):
        fit = fit_temperature_array(scores, y, kind=kind)
        z = _as_logits(scores, kind)
        assert fit.status == "converged", name
        assert abs(fit.gradient) < 1e-9
        assert fit.temperature == pytest.approx(_scipy_tstar(z, y), rel=1e-6), name
        probs = scipy_special.softmax(z, axis=1)
        assert fit.nll_at_one == pytest.approx(
            log_loss(y, probs, labels=range(z.shape[1])), rel=1e-9
        )
        assert fit.nll <= fit.nll_at_one + 1e-15
        # T* is where mean NLL equals mean predictive entropy (the first-order condition)
        assert fit.nll == pytest.approx(_entropy(z, fit.temperature), abs=1e-9)
        assert fit.entropy == pytest.approx(_entropy(z, fit.temperature), rel=1e-10)
        assert 1 <= fit.iterations <= 20 and fit.passes == fit.iterations + 1


def test_fit_is_the_root_of_torchs_autograd_derivative(digits):
    """brentq on d mean NLL / dlogT from autograd: a reference precise to ~1e-14 in log T."""
    import torch  # noqa: F401  (a test dependency, never skipped)

    for name, scores, y, kind in _cases(digits):
        fit = fit_temperature_array(scores, y, kind=kind)
        z = _as_logits(scores, kind)
        root = scipy_optimize.brentq(
            lambda u, z=z, y=y: _torch_derivs(z, y, math.exp(u))[1],
            math.log(fit.temperature) - 0.5,
            math.log(fit.temperature) + 0.5,
            xtol=1e-14,
        )
        assert fit.temperature == pytest.approx(math.exp(root), rel=1e-8), name
        assert abs(_torch_derivs(z, y, fit.temperature)[1]) < 1e-9


def test_overconfident_scores_get_a_larger_temperature(digits):
    """Scaling logits by 3 scales T* by 3 (NLL(z/T) depends on z/T only)."""
    y = digits["labels"]
    t1 = fit_temperature_array(digits["logits"], y).temperature
    t3 = fit_temperature_array(digits["logits_x3"], y).temperature
    assert t3 == pytest.approx(3 * t1, rel=1e-8)
    z, ys = _synthetic_overconfident()
    assert fit_temperature_array(z, ys).temperature > 2


def test_accuracy_is_unchanged_by_temperature(digits):
    z, y = digits["logits"], digits["labels"]
    hits = np.argmax(z, axis=1) == y
    fit = fit_temperature_array(z, y)
    for t in (1e-3, 0.1, fit.temperature, 30.0, 1e3):
        p = scaled_probabilities(z, temperature=t)
        assert np.array_equal(np.argmax(p, axis=1) == y, hits)
        assert temperature_sums(z, y, temperature=t).n_correct == hits.sum()


@pytest.mark.parametrize("chunk_rows", [1, 7, 128, None])
def test_fit_does_not_depend_on_the_chunk_size(digits, chunk_rows):
    z, y = digits["logits_x3"][:300], digits["labels"][:300]
    ref = fit_temperature_array(z, y, chunk_rows=10_000)
    got = fit_temperature_array(z, y, chunk_rows=chunk_rows)
    assert got.temperature == pytest.approx(ref.temperature, rel=1e-12)
    assert got.nll == pytest.approx(ref.nll, rel=1e-12)
    assert got.iterations == ref.iterations


def test_streaming_fit_makes_one_pass_per_iteration(digits):
    z, y = digits["logits"], digits["labels"]
    calls = []

    def chunks():
        calls.append(1)
        for a in range(0, y.size, 250):
            yield z[a : a + 250].astype(np.float32), y[a : a + 250]

    fit = fit_temperature(chunks)
    assert len(calls) == fit.passes == fit.iterations + 1
    assert fit.temperature == pytest.approx(
        _scipy_tstar(z.astype(np.float32).astype(np.float64), y), rel=1e-6
    )


@pytest.mark.parametrize("dtype,rel", [(np.float32, 1e-6), (np.float16, 1e-2)])
def test_float32_and_float16_agree_with_float64(digits, dtype, rel):
    z, y = digits["logits"], digits["labels"]
    t64 = fit_temperature_array(z, y).temperature
    low = z.astype(dtype)
    fit = fit_temperature_array(low, y)
    assert fit.temperature == pytest.approx(t64, rel=rel)
    # and exactly the float64 fit of the widened values
    assert fit.temperature == fit_temperature_array(low.astype(np.float64), y).temperature


def test_log_probs_and_probs_give_the_logits_temperature(digits):
    """log_softmax(z) and softmax(z) of the same logits: the same T* (softmax(./T) ignores
    a per-row shift; probabilities lose only rounding in p)."""
    z, y = digits["logits"], digits["labels"]
    t = fit_temperature_array(z, y).temperature
    lp = scipy_special.log_softmax(z, axis=1)
    assert fit_temperature_array(lp, y, kind="log_probs").temperature == pytest.approx(t, rel=1e-9)
    p = scipy_special.softmax(z, axis=1)
    assert fit_temperature_array(p, y, kind="probs").temperature == pytest.approx(t, rel=1e-7)


def test_zero_probabilities_are_floored_at_the_smallest_normal():
    """p = 0 is read as log(tiny of the dtype): the fit equals the fit of those logits."""
    p = np.array([[0.7, 0.3, 0.0], [0.0, 0.9, 0.1], [0.2, 0.0, 0.8], [0.5, 0.5, 0.0]])
    y = np.array([0, 2, 1, 1])
    for dtype in (np.float32, np.float64):
        pd = p.astype(dtype)
        tiny = float(np.finfo(dtype).tiny)
        z = np.log(np.maximum(pd.astype(np.float64), tiny))
        got = fit_temperature_array(pd, y, kind="probs")
        assert got.temperature == fit_temperature_array(z, y).temperature
        ref = _scipy_tstar(z, y)
        if dtype is np.float32:  # wrong by log(tiny) = -87.3: T* = 219
            assert got.status == "converged"
            assert got.temperature == pytest.approx(ref, rel=1e-6)
        else:  # wrong by -708: the optimum is past 1e3, where scipy ends up too
            assert got.status == "upper_bound" and got.temperature == 1e3 and got.gradient < 0
            assert ref == pytest.approx(1e3, rel=1e-6)
        with np.errstate(divide="ignore"):  # -inf where p = 0, floored the same way
            lp = np.log(pd)
        floored = np.maximum(lp.astype(np.float64), math.log(tiny))
        assert (
            fit_temperature_array(lp, y, kind="log_probs").temperature
            == fit_temperature_array(floored, y).temperature
        )


def test_ignored_labels_do_not_count(digits):
    z, y = digits["logits"], digits["labels"].copy()
    y[::5] = -100
    fit = fit_temperature_array(z, y)
    keep = y != -100
    ref = fit_temperature_array(z[keep], y[keep])
    assert fit.n == keep.sum()
    assert fit.temperature == pytest.approx(ref.temperature, rel=1e-12)
    logp = scipy_special.log_softmax(z[keep] / fit.temperature, axis=1)
    assert fit.nll == pytest.approx(-logp[np.arange(keep.sum()), y[keep]].mean(), rel=1e-12)


def test_binary_single_score_against_a_logistic_nll():
    """One logit per sample: NLL of sigmoid(z/T), T* against scipy on that formula."""
    z = RNG.normal(size=2000) * 4
    y = (RNG.random(2000) < scipy_special.expit(z / 2.5)).astype(np.int64)

    def nll(u):
        q = z / math.exp(u)
        return np.mean(np.logaddexp(0, q) - y * q)

    ref = scipy_optimize.minimize_scalar(
        nll, bounds=(LOG_LO, LOG_HI), method="bounded", options={"xatol": 1e-10}
    )
    fit = fit_temperature_array(z, y)
    assert fit.temperature == pytest.approx(math.exp(ref.x), rel=1e-6)
    assert fit.nll == pytest.approx(nll(math.log(fit.temperature)), rel=1e-12)
    p = scipy_special.expit(z)
    assert fit_temperature_array(p, y, kind="probs").temperature == pytest.approx(
        fit.temperature, rel=1e-6
    )


# --- degenerate cases: a clear status, no NaN, no warning --------------------------------------


def _no_nan(fit):
    for v in (fit.temperature, fit.nll_at_one, fit.nll, fit.entropy, fit.gradient):
        assert v is None or math.isfinite(v)


def test_all_right_with_huge_margins_hits_the_lower_bound():
    """Every label is its row's unique max: each loss falls as T -> 0, so T* is the bound.

    (At T = 1 the derivative already underflows: a stationarity test alone would stop there.)
    """
    z = np.array([[60.0, 0.0, -5.0], [0.0, 45.0, 1.0], [-3.0, 2.0, 80.0]])
    y = np.array([0, 1, 2])
    fit = fit_temperature_array(z, y)
    assert fit.status == "lower_bound" and fit.hit_bound and not fit.converged
    assert fit.temperature == 1e-3
    assert fit.nll == 0.0 and fit.nll <= fit.nll_at_one
    _no_nan(fit)
    narrow = fit_temperature_array(z, y, bounds=(1.0, 10.0))
    assert narrow.status == "lower_bound" and narrow.temperature == 1.0
    # the same through the Newton loop when one sample is tied at the top (still never wrong)
    z2 = np.vstack([z, [[1.0, 1.0, 0.0]]])
    fit2 = fit_temperature_array(z2, np.array([0, 1, 2, 0]))
    assert fit2.status == "lower_bound" and fit2.temperature == 1e-3
    # loss at the bound: the tied sample's log 2, shared over 4 samples
    assert fit2.nll == pytest.approx(math.log(2) / 4, rel=1e-12)


def test_all_equal_scores_are_flat_at_one():
    z = np.tile(np.array([[2.0, 2.0, 2.0]]), (6, 1))
    z[3] = -1.0
    fit = fit_temperature_array(z, np.array([0, 1, 2, 0, 1, 2]))
    assert fit.status == "flat" and fit.converged and not fit.hit_bound
    assert fit.temperature == 1.0 and fit.iterations == 0
    assert fit.nll == fit.nll_at_one == pytest.approx(math.log(3), rel=1e-15)
    _no_nan(fit)


def test_single_sample_cases():
    # right, unique max: lower bound
    right = fit_temperature_array(np.array([[3.0, 1.0, 0.0]]), np.array([0]))
    assert right.status == "lower_bound"
    # the label at or below the row mean: the loss falls all the way to log C as T grows
    low = fit_temperature_array(np.array([[1.0, 2.0, 3.0]]), np.array([0]))
    assert low.status == "upper_bound" and low.temperature == 1e3
    assert low.gradient < 0  # still falling at the bound
    assert low.nll != pytest.approx(low.entropy, abs=1e-6)  # no first-order condition there
    # wrong but above the mean: an interior optimum
    z, y = np.array([[2.0, 1.5, -5.0]]), np.array([1])
    mid = fit_temperature_array(z, y)
    assert mid.status == "converged"
    assert mid.temperature == pytest.approx(_scipy_tstar(z, y), rel=1e-6)
    for f in (right, low, mid):
        _no_nan(f)


def test_all_ignored_and_empty_give_no_samples():
    for z, y in (
        (np.ones((3, 4)), np.full(3, -100)),
        (np.zeros((0, 4)), np.zeros(0, dtype=np.int64)),
    ):
        fit = fit_temperature_array(z, y)
        assert fit.status == "no_samples" and fit.n == 0 and fit.temperature == 1.0
        assert fit.nll is None and fit.nll_at_one is None and not fit.converged
    assert fit_temperature(lambda: iter(())).status == "no_samples"


def test_bad_inputs_raise():
    with pytest.raises(ValueError):
        fit_temperature_array(np.array([[0.0, np.nan]]), np.array([0]))
    with pytest.raises(ValueError):
        fit_temperature_array(np.array([[0.0, 1.0]]), np.array([2]))
    with pytest.raises(ValueError):
        fit_temperature_array(np.array([[0.0, -np.inf]]), np.array([0]))
    with pytest.raises(ValueError):
        fit_temperature_array(np.array([[0.5, 0.5]]), np.array([0]), bounds=(2.0, 3.0))
    with pytest.raises(ValueError):
        temperature_sums(np.array([[0.0, 1.0]]), np.array([0]), temperature=0.0)
