"""Exact losses from probabilities (issue 11, point 7; docs/design.md, "Per-sample reduction").

Without ``clip`` the loss of a probability (or log-probability) is the float64
``-log p_y`` of the stored value; only ``p_y = 0`` (a -inf logit or log-probability)
is floored, at the smallest positive normal number of the input dtype, and counted
in ``n_floored``. ``clip=ε`` reproduces an ε-clipped loss such as Keras's
``-log(clip(p, ε, 1 − ε))``. A given ``--input-kind`` is checked against the data.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import mpmath
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from sklearn.metrics import log_loss

import predaudit
from predaudit.cli import main
from predaudit.errors import InputError, OptionError
from predaudit.reduce import reduce_detect, reduce_scores

F = torch.nn.functional
KERAS_EPS = 1e-7


def tiny(dtype: type) -> float:
    return float(np.finfo(dtype).tiny)


def softmax(x: np.ndarray) -> np.ndarray:
    return torch.softmax(torch.from_numpy(x.astype(np.float64)), dim=1).numpy()


def nll_of_log(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """PyTorch: ``nll_loss(log(p.double()), y)``, per sample."""
    lp = torch.log(torch.from_numpy(np.asarray(p)).double())
    return F.nll_loss(lp, torch.from_numpy(y), reduction="none").numpy()


def keras(p: np.ndarray, eps: float = KERAS_EPS) -> np.ndarray:
    """Keras's clipped cross-entropy of the true-class probabilities, in numpy (float64)."""
    return -np.log(np.clip(np.asarray(p, dtype=np.float64), eps, 1 - eps))


def probabilities(n: int, c: int, seed: int, dtype: type = np.float64) -> tuple[np.ndarray, ...]:
    """Softmax rows with confident, saturated (0 and 1 exactly) and tiny probabilities."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c)) * rng.choice([0.5, 2.0, 10.0, 40.0], size=(n, 1))
    y = rng.integers(0, c, n)
    p = softmax(x).astype(dtype)
    return p, y


def bf16(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """bfloat16 made by torch: (uint16 bit patterns, the same values as float64)."""
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(torch.bfloat16)
    return t.view(torch.int16).numpy().view(np.uint16), t.to(torch.float64).numpy()


# -- exact losses against PyTorch, scikit-learn and mpmath -----------------------------------


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_probabilities_match_torch_nll_of_log(dtype: type) -> None:
    p, y = probabilities(500, 12, seed=1, dtype=dtype)
    r = np.arange(len(y))
    st = reduce_scores(p, y, kind="probs", chunk_rows=37)
    ok = p[r, y] > 0  # the exact loss wherever p(y) > 0; p(y) = 0 is floored
    ref = nll_of_log(p, y)
    if dtype != np.float16:  # float16 holds nothing below 6e-8 (16.6 nats) but 0
        assert ref[ok].max() > 17  # beyond the old 1e-7 clip (16.12 nats)
    np.testing.assert_allclose(st.loss[ok], ref[ok], rtol=1e-12, atol=0)
    np.testing.assert_array_equal(st.loss[~ok], -math.log(tiny(dtype)))
    assert (st.n_floored, st.n_clipped, st.n_outside) == (int((~ok).sum()), 0, 0)
    # the margin: log p_y - log of the best other p, with the same floor for p = 0
    p64 = p.astype(np.float64)
    other = p64.copy()
    other[r, y] = -1.0
    with np.errstate(divide="ignore"):
        lp_y, lp_o = np.log(p64[r, y]), np.log(other.max(axis=1))
    floor = math.log(tiny(dtype))
    margin = np.where(lp_y == -np.inf, floor, lp_y) - np.where(lp_o == -np.inf, floor, lp_o)
    np.testing.assert_allclose(st.margin, margin, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_probabilities_match_torch_nll(dtype: type) -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((300, 9)) * 30
    y = rng.integers(0, 9, 300)
    lp = torch.log_softmax(torch.from_numpy(x), dim=1).numpy().astype(dtype)
    st = reduce_scores(lp, y, kind="log_probs")
    ref = F.nll_loss(torch.from_numpy(lp.astype(np.float64)), torch.from_numpy(y), reduction="none")
    assert ref.max() > 100  # the old floor cut these at 16.12 nats
    np.testing.assert_array_equal(st.loss, ref.numpy() + 0.0)
    assert st.n_floored == 0


def test_probabilities_float16_and_bfloat16_match_torch() -> None:
    p, y = probabilities(400, 7, seed=3)
    p16 = p.astype(np.float16)
    ok = p16[np.arange(400), y] > 0
    st = reduce_scores(p16[ok], y[ok], kind="probs")
    np.testing.assert_allclose(st.loss, nll_of_log(p16[ok], y[ok]), rtol=1e-12, atol=0)
    bits, values = bf16(p)
    st = reduce_scores(bits, y, kind="probs", dtype="bfloat16", chunk_rows=50)
    ok = values[np.arange(400), y] > 0
    np.testing.assert_allclose(st.loss[ok], nll_of_log(values, y)[ok], rtol=1e-12, atol=0)
    assert (st.loss[~ok] == -math.log(tiny(np.float32))).all()
    assert st.n_floored == int((~ok).sum())


def test_binary_probabilities_match_log_loss_and_are_exact_near_one() -> None:
    rng = np.random.default_rng(4)
    p = np.concatenate([rng.uniform(0, 1, 200), [1e-12, 1 - 1e-12, 1e-300, 1 - 2**-53, 0.5]])
    y = rng.integers(0, 2, p.size)
    st = reduce_scores(p, y, kind="probs")
    # the class-0 term is log1p(-p): exact where 1 - p would lose digits
    exact = [-float(mpmath.log(v if t else 1 - mpmath.mpf(v))) for v, t in zip(p, y, strict=True)]
    np.testing.assert_allclose(st.loss, exact, rtol=1e-14, atol=0)
    # scikit-learn clips at float64's eps: compare away from it
    away = (p > 1e-6) & (p < 1 - 1e-6)
    ref = [log_loss([t], [v], labels=[0, 1], normalize=False) for v, t in zip(p, y, strict=True)]
    np.testing.assert_allclose(st.loss[away], np.array(ref)[away], rtol=1e-12, atol=0)


@pytest.mark.parametrize("kind", ["probs", "log_probs"])
def test_tiny_probabilities_against_mpmath(kind: str) -> None:
    values = [1e-30, 1e-100, 1e-300, 5e-324, 2.5e-310, 1e-7, 0.5, 1 - 1e-15, 1 - 2**-52]
    mpmath.mp.dps = 60
    rows, y = [], []
    for v in values:
        rows.append([v, 1.0 - v])
        y.append(0)
    p = np.array(rows)
    x = np.log(p) if kind == "log_probs" else p
    st = reduce_scores(x, np.array(y), kind=kind)
    for i, v in enumerate(values):
        exact = -mpmath.log(mpmath.mpf(float(x[i, 0])) if kind == "probs" else mpmath.e ** x[i, 0])
        if kind == "log_probs":
            exact = -mpmath.mpf(float(x[i, 0]))
        assert st.loss[i] == pytest.approx(float(exact), rel=1e-15, abs=0), v
    assert st.n_floored == 0


# -- the floor: the smallest positive normal number of the input dtype ------------------------


@pytest.mark.parametrize(
    ("dtype", "floor"),
    [("float16", tiny(np.float16)), ("float32", tiny(np.float32)), ("float64", tiny(np.float64)),
     ("bfloat16", tiny(np.float32))],
)  # fmt: skip
def test_the_floor_of_each_dtype(dtype: str, floor: float) -> None:
    expected = -math.log(floor)
    # derived, and the values the docs quote
    quoted = {"float16": 9.70, "float32": 87.34, "float64": 708.40, "bfloat16": 87.34}
    assert round(expected, 2) == quoted[dtype]
    p = np.array([[0.0, 1.0], [0.25, 0.75], [1.0, 0.0]])
    y = np.array([0, 1, 1])
    lp = np.log(np.where(p > 0, p, 1.0)) + np.where(p > 0, 0.0, -np.inf)
    z = np.array([[-np.inf, 1.0], [0.0, 1.0], [3.0, -np.inf]])
    for kind, scores in [("probs", p), ("log_probs", lp), ("logits", z)]:
        if dtype == "bfloat16":
            scores, _ = bf16(scores)
        else:
            scores = scores.astype(dtype)
        st = reduce_scores(scores, y, kind=kind, dtype="bfloat16" if dtype == "bfloat16" else "")
        assert st.loss[0] == st.loss[2] == expected, kind
        assert (st.n_floored, st.n_clipped) == (2, 0), kind
        assert np.isfinite(st.margin).all(), kind
        if kind != "logits":
            assert st.margin[0] == math.log(floor) and st.margin[2] == math.log(floor)
    # binary probabilities: p for class 1, 1 - p for class 0
    s = np.array([0.0, 1.0, 0.0, 1.0])
    yb = np.array([1, 0, 0, 1])
    scores_b = bf16(s)[0] if dtype == "bfloat16" else s.astype(dtype)
    st = reduce_scores(scores_b, yb, kind="probs", dtype="bfloat16" if dtype == "bfloat16" else "")
    assert st.loss.tolist() == [expected, expected, 0.0, 0.0]
    assert st.n_floored == 2


def test_n_floored_counts_only_samples_that_count_and_target_pairs() -> None:
    p = np.array([[0.0, 1.0], [0.0, 1.0], [0.5, 0.5], [1.0, 0.0]])
    st = reduce_scores(p, np.array([0, -100, 0, 1]), kind="probs")
    assert st.n_floored == 2  # the ignored row is not counted
    q = np.array([[0.5, 0.5], [0.0, 1.0], [0.2, 0.8], [0.3, 0.7]])
    st = reduce_scores(p, q, kind="probs")
    assert st.n_floored == 2  # (row, class) pairs with target mass on p = 0
    floor = -math.log(tiny(np.float64))
    assert st.loss[0] == pytest.approx(0.5 * floor, rel=1e-15)
    assert st.loss[3] == pytest.approx(0.7 * floor, rel=1e-15)


def test_a_loss_that_overflows_is_not_floored() -> None:
    x = np.array([[1e308, -1e308], [0.0, -np.inf]])
    with np.errstate(over="ignore"):
        st = reduce_scores(x, np.array([1, 1]), kind="logits")
    assert st.loss[0] == np.inf and st.loss[1] == -math.log(tiny(np.float64))
    assert st.n_floored == 1


# -- clip: Keras's -log(clip(p, ε, 1 − ε)) ---------------------------------------------------


def test_clip_1e_7_equals_keras_formula() -> None:
    p, y = probabilities(400, 10, seed=5)
    p[:5, :] = 0.0
    p[np.arange(5), y[:5]] = 1.0  # exactly 1 at the true class
    p[5:10, y[5:10]] = 0.0  # exactly 0 at the true class
    r = np.arange(len(y))
    st = reduce_scores(p, y, kind="probs", clip=KERAS_EPS)
    np.testing.assert_array_equal(st.loss, keras(p[r, y]))
    py = p[r, y]
    assert st.n_clipped == int(((py < KERAS_EPS) | (py > 1 - KERAS_EPS)).sum())
    assert st.n_floored == 0
    # the same from log-probabilities, and from logits (softmax, then clipped)
    with np.errstate(divide="ignore"):
        lp = np.log(p)
    st_lp = reduce_scores(lp, y, kind="log_probs", clip=KERAS_EPS)
    np.testing.assert_allclose(st_lp.loss, keras(py), rtol=1e-15, atol=0)
    z = np.random.default_rng(6).standard_normal((300, 6)) * 12
    yl = np.random.default_rng(7).integers(0, 6, 300)
    st_z = reduce_scores(z, yl, kind="logits", clip=KERAS_EPS)
    lsm = torch.log_softmax(torch.from_numpy(z), dim=1).numpy()[np.arange(300), yl]
    ref = -np.clip(lsm, np.log(KERAS_EPS), np.log(1 - KERAS_EPS))  # -log clip(softmax)
    # torch's log_softmax cancels in float64 where the loss is tiny: a relative 1e-9
    np.testing.assert_allclose(st_z.loss, ref, rtol=1e-9, atol=0)
    assert st_z.n_clipped == int(((lsm < np.log(KERAS_EPS)) | (lsm > np.log(1 - KERAS_EPS))).sum())


def test_clip_on_soft_targets_and_binary_scores() -> None:
    p, _ = probabilities(100, 5, seed=7)
    q = np.random.default_rng(8).dirichlet(np.ones(5), size=100)
    expected = -(q * np.log(np.clip(p, KERAS_EPS, 1 - KERAS_EPS))).sum(axis=1)
    st = reduce_scores(p, q, kind="probs", clip=KERAS_EPS)
    np.testing.assert_allclose(st.loss, expected, rtol=1e-12, atol=0)
    st = reduce_scores(np.log(p), q, kind="logits", clip=KERAS_EPS, chunk_rows=9)
    np.testing.assert_allclose(st.loss, expected, rtol=1e-10, atol=0)
    # binary: Keras's binary_crossentropy, -(y log(pc) + (1 - y) log(1 - pc))
    s = np.array([0.0, 1.0, 1e-9, 1 - 1e-9, 0.3, 0.8])
    yb = np.array([1, 0, 1, 0, 0, 1])
    pc = np.clip(s, KERAS_EPS, 1 - KERAS_EPS)
    ref = -(yb * np.log(pc) + (1 - yb) * np.log(1 - pc))
    st = reduce_scores(s, yb, kind="probs", clip=KERAS_EPS)
    np.testing.assert_array_equal(st.loss, ref)
    assert (st.n_clipped, st.n_floored) == (4, 0)
    sk = [log_loss([t], [v], labels=[0, 1], normalize=False) for v, t in zip(pc, yb, strict=True)]
    np.testing.assert_allclose(st.loss, sk, rtol=1e-9)


@pytest.mark.parametrize("clip", [0.0, -1e-7, 0.5, 0.7, float("nan")])
def test_clip_outside_the_open_interval_is_an_error(clip: float) -> None:
    p = np.array([[[0.5, 0.5]]])
    with pytest.raises(OptionError, match=r"^clip="):
        predaudit.from_arrays(p, np.array([0]), clip=clip)
    with pytest.raises(ValueError, match="clip"):
        reduce_scores(p[0], np.array([0]), kind="probs", clip=clip)


def test_clip_in_from_arrays_and_detection() -> None:
    p, y = probabilities(50, 4, seed=9)
    p[0, y[0]] = 0.0
    p[0] /= p[0].sum()
    run = predaudit.from_arrays(np.stack([p, p]), y, clip=KERAS_EPS)
    s = run.splits["default"]
    assert (s.input_kind, s.clip, s.n_floored) == ("probs", KERAS_EPS, 0)
    assert s.n_clipped == 2 * int(
        ((p[np.arange(50), y] < KERAS_EPS) | (p[np.arange(50), y] > 1 - KERAS_EPS)).sum()
    )
    np.testing.assert_array_equal(s.loss[0], keras(p[np.arange(50), y]))
    exact = predaudit.from_arrays(np.stack([p, p]), y).splits["default"]
    assert (exact.clip, exact.n_clipped, exact.n_floored) == (None, 0, 2)
    _, st, _ = reduce_detect(p, y, clip=KERAS_EPS)
    np.testing.assert_array_equal(st.loss, s.loss[0])


# -- a given --input-kind is checked against the data ----------------------------------------


def write_run(folder: Path, *epochs: np.ndarray, labels: np.ndarray) -> Path:
    folder.mkdir()
    for e, scores in enumerate(epochs, start=1):
        np.savez(folder / f"epoch_{e}.npz", scores=scores, labels=labels)
    return folder


def cli(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(main, list(args))
    return res.exit_code, res.stdout, res.stderr


def test_forced_probs_on_logits_is_an_input_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(10)
    y = rng.integers(0, 3, 20)
    p = softmax(rng.standard_normal((20, 3)))
    z = rng.standard_normal((20, 3)) * 3
    monkeypatch.chdir(tmp_path)
    write_run(Path("run"), p, z, labels=y)
    n_out = int(((z < 0) | (z > 1)).sum())
    n_rows = int((np.abs(z.sum(axis=1) - 1) > 1e-3).sum())
    code, out, err = cli("analyze", "run", "--input-kind", "probs", "--no-cache")
    assert (code, out) == (3, "")
    path = Path("run") / "epoch_2.npz"
    assert err == (
        f"Error: {path}: {n_out} probabilities lie outside [0, 1] and {n_rows} rows do not sum "
        "to 1 (within 1e-3) at epoch 2 (--input-kind probs)\n"
    )
    with pytest.raises(InputError, match=r"epoch_2\.npz: .* at epoch 2 \(--input-kind probs\)$"):
        predaudit.load_run("run", input_kind="probs")


def test_forced_probs_rows_not_summing_to_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = np.full((12, 4), 0.25)
    p[[1, 5, 7], 0] = 0.26  # in [0, 1], but the rows sum to 1.01
    monkeypatch.chdir(tmp_path)
    write_run(Path("run"), p, labels=np.zeros(12, dtype=np.int64))
    code, _, err = cli("inspect", "run", "--input-kind", "probs")
    assert code == 3
    assert err == (
        f"Error: {Path('run') / 'epoch_1.npz'}: 3 rows of probabilities do not sum to 1 "
        "(within 1e-3) at epoch 1 (--input-kind probs)\n"
    )
    p[[5, 7], 0] = 0.25
    (Path("run") / "epoch_1.npz").unlink()
    np.savez(Path("run") / "epoch_1.npz", scores=p, labels=np.zeros(12, dtype=np.int64))
    code, _, err = cli("inspect", "run", "--input-kind", "probs", "--no-cache")
    assert err.endswith(": 1 row of probabilities does not sum to 1 (within 1e-3) at epoch 1 "
                        "(--input-kind probs)\n")  # fmt: skip


def test_forced_log_probs_on_logits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(11)
    z = rng.standard_normal((30, 5)) * 2
    monkeypatch.chdir(tmp_path)
    write_run(Path("run"), z, labels=rng.integers(0, 5, 30))
    n_pos = int((z > 1e-6).sum())
    code, _, err = cli("analyze", "run", "--input-kind", "log_probs")
    assert code == 3
    assert err == (
        f"Error: {Path('run') / 'epoch_1.npz'}: {n_pos} log-probabilities are above 0 (by more "
        "than 1e-6) and 30 rows do not have a log-sum-exp of 0 (within 1e-3) at epoch 1 "
        "(--input-kind log_probs)\n"
    )
    # all-negative logits (shifted) are no log-probabilities either: their rows do not normalise
    shifted = z - z.max() - 1.0
    with pytest.raises(InputError, match=r": 30 rows of log-probabilities do not have a "):
        predaudit.from_arrays(shifted[None], rng.integers(0, 5, 30), input_kind="log_probs")


def test_forced_kinds_that_fit_pass_and_the_tolerance() -> None:
    p, y = probabilities(40, 3, seed=12)
    assert predaudit.from_arrays(p[None], y, input_kind="probs").splits["default"].n_floored >= 0
    lp = np.log(p)
    lp[0] = [5e-7, math.log(1e-9), math.log(1e-9)]  # rounding above 0, within 1e-6: log p = 0
    y[0] = 0
    s = predaudit.from_arrays(lp[None], y, input_kind="log_probs").splits["default"]
    assert s.loss[0, 0] == 0.0 and s.p_true[0, 0] == 1.0 and s.loss.min() >= 0.0
    lp[0, 0] = 2e-6
    with pytest.raises(InputError, match=r"1 log-probability is above 0 \(by more than 1e-6\)"):
        predaudit.from_arrays(lp[None], y, input_kind="log_probs")
    # a single score per sample: probabilities must lie in [0, 1]
    with pytest.raises(InputError, match=r"2 probabilities lie outside \[0, 1\] at epoch 1"):
        predaudit.from_arrays(np.array([[0.2, 1.5, -0.1]]), np.array([0, 1, 1]), input_kind="probs")


# -- the CLI and the outputs -----------------------------------------------------------------


def test_cli_clip_and_floor_in_every_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p, y = probabilities(60, 3, seed=13, dtype=np.float32)
    p2 = p.copy()
    p2[:4] = np.eye(3, dtype=np.float32)[(y[:4] + 1) % 3]  # confidently wrong: p(y) = 0
    monkeypatch.chdir(tmp_path)
    write_run(Path("run"), p, p2, labels=y)
    floor = -math.log(tiny(np.float32))
    n_zero = int((p[np.arange(60), y] == 0).sum() + (p2[np.arange(60), y] == 0).sum())
    code, out, _ = cli("analyze", "run", "--format", "json", "--no-cache")
    split = json.loads(out)["splits"]["default"]
    assert (code, split["n_floored"], split["n_clipped"], split["clip"]) == (0, n_zero, 0, None)
    assert split["per_epoch"][1]["loss"] == pytest.approx(
        float(np.mean(np.where(p2[np.arange(60), y] > 0, nll_of_log(p2, y), floor))), rel=1e-12
    )
    code, out, _ = cli("analyze", "run", "--format", "json", "--clip", "1e-7")
    split = json.loads(out)["splits"]["default"]
    assert (code, split["n_floored"], split["clip"]) == (0, 0, 1e-7)
    py = np.concatenate([p[np.arange(60), y], p2[np.arange(60), y]]).astype(np.float64)
    assert split["n_clipped"] == int(((py < 1e-7) | (py > 1 - 1e-7)).sum())
    assert split["per_epoch"][1]["loss"] == pytest.approx(float(keras(py[60:]).mean()), rel=1e-12)
    for fmt in ("table", "markdown"):
        text = cli("analyze", "run", "--format", fmt)[1]
        assert f"Losses: {n_zero} true-class probabilities of 0 floored" in text
        text = cli("confusion", "run", "--format", fmt, "--clip", "1e-7")[1]
        assert "Losses: probabilities clipped to [1e-7, 1 − 1e-7] (--clip);" in text
    conf = json.loads(cli("confusion", "run", "--format", "json")[1])["splits"]["default"]
    assert (conf["n_floored"], conf["n_clipped"], conf["clip"]) == (n_zero, 0, None)
    text = cli("inspect", "run")[1]
    assert "floored values (p = 0)" in text and "clip" not in text
    text = cli("inspect", "run", "--clip", "0.001", "--format", "markdown")[1]
    assert "| clip (--clip) | [0.001, 1 − 0.001] |" in text
    code, _, err = cli("inspect", "run", "--clip", "0.5")
    assert code == 2 and err.startswith("Error: --clip 0.5: expected a number ε with 0 < ε < 0.5")


def test_clip_is_part_of_the_cache_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    p, y = probabilities(30, 3, seed=14)
    p[0] = [0.0, 0.0, 1.0]
    y[0] = 0
    monkeypatch.chdir(tmp_path)
    write_run(Path("run"), p, labels=y)
    exact = json.loads(cli("inspect", "run", "--format", "json")[1])["splits"]["default"]
    clipped = json.loads(cli("inspect", "run", "--format", "json", "--clip", "1e-7")[1])
    clipped = clipped["splits"]["default"]
    again = json.loads(cli("inspect", "run", "--format", "json")[1])["splits"]["default"]
    assert (exact["n_floored"], exact["clip"]) == (again["n_floored"], again["clip"]) == (1, None)
    assert (clipped["n_floored"], clipped["clip"]) == (0, 1e-7) and clipped["n_clipped"] >= 1
    assert len(list((tmp_path / "cache" / "predaudit").glob("*.npz"))) == 2
