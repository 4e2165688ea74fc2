"""The column kernel (few classes) against the row kernel, and both against references.

``predaudit.reduce.columns.MAX_CLASSES`` chooses the kernel: forced to 0 every
shape takes the row kernel, forced high every shape (with class indices) takes
the column kernel. The two must give the same numbers bit for bit on random and
adversarial rows: ties, zeros of both signs, -inf classes, dead rows, ±1e4, rows
on either side of the unshifted float32 range [-20, 88], rows recomputed in
float64, NaN/+inf, float16, bfloat16, ignored samples, clip, probabilities and
log-probabilities. The only allowed difference is the sign of a zero margin of
probabilities when two zeros tie (``max`` does not say which zero it returns);
the row sums of probabilities are in numpy's own summation order, which numpy
has used for many releases: should it change, the exact comparison of
``max_rowsum_dev`` and of the losses here is what would show it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import mpmath
import numpy as np
import pytest
import torch
from sklearn.metrics import log_loss

from predaudit.reduce import (
    EpochStats,
    KindEvidence,
    multiclass,
    reduce_detect,
    reduce_scores,
    scan_kind,
)
from predaudit.reduce import columns as columns_module

F = torch.nn.functional
FLOATS = ("loss", "p_true", "confidence", "margin")
COUNTS = ("n_clipped", "n_floored", "n_nonfinite", "n_dead_rows", "n_outside", "n_unnormalized")
F32 = np.float32


@pytest.fixture
def column_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts the chunks the column kernels see (so a test knows which kernel ran)."""
    calls: list[int] = []
    for name in ("logits_columns", "probs_columns"):
        real = getattr(multiclass, name)

        def spy(*args: object, _real: object = real, **kwargs: object) -> object:
            calls.append(1)
            return _real(*args, **kwargs)  # type: ignore[operator]

        monkeypatch.setattr(multiclass, name, spy)
    yield calls


def run(kernel: str, scores: np.ndarray, labels: np.ndarray | None, **kw: object):
    """``reduce_detect`` with the kernel forced (``kind=None`` detects); ``scan_kind``
    without labels."""
    old = columns_module.MAX_CLASSES
    columns_module.MAX_CLASSES = 1 << 30 if kernel == "columns" else 0
    try:
        if labels is None:
            return scan_kind(scores, **kw)  # type: ignore[arg-type]
        return reduce_detect(scores, labels, **kw)  # type: ignore[arg-type]
    finally:
        columns_module.MAX_CLASSES = old


def bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64).view(np.uint64)


def assert_identical(
    a: tuple[str, EpochStats, KindEvidence],
    b: tuple[str, EpochStats, KindEvidence],
    *,
    zero_sign: tuple[str, ...] = (),
) -> None:
    """Same kind, same evidence, pred/correct/counts equal, float fields bit for bit."""
    assert a[0] == b[0]
    assert a[2] == b[2]  # KindEvidence: every field exactly
    sa, sb = a[1], b[1]
    np.testing.assert_array_equal(sa.pred, sb.pred)
    np.testing.assert_array_equal(sa.correct, sb.correct)
    assert [getattr(sa, k) for k in COUNTS] == [getattr(sb, k) for k in COUNTS]
    for f in FLOATS:
        u, v = getattr(sa, f), getattr(sb, f)
        if f in zero_sign:
            np.testing.assert_array_equal(u, v, err_msg=f)  # IEEE equality, NaNs alike
        else:
            np.testing.assert_array_equal(bits(u), bits(v), err_msg=f)


def both(scores: np.ndarray, labels: np.ndarray, calls: list[int], **kw: object) -> None:
    before = len(calls)
    col = run("columns", scores, labels, **kw)
    assert len(calls) > before, "the column kernel did not run"
    assert_identical(col, run("rows", scores, labels, **kw), **_zero_sign(kw))


def _zero_sign(kw: dict[str, object]) -> dict[str, tuple[str, ...]]:
    return {"zero_sign": ("margin",)} if kw.get("kind") in ("probs", "log_probs") else {}


# -- data ------------------------------------------------------------------------------------


def random_logits(n: int, c: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c)) * rng.choice([0.3, 1.0, 3.0, 8.0], size=(n, 1))
    y = rng.integers(0, c, n)
    x[np.arange(n), y] += rng.choice([0.0, 0.0, 4.0, 12.0, 25.0], size=n)
    return x, y


def adversarial_logits(c: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """float32 rows that take every branch of the logits kernels."""
    rng = np.random.default_rng(seed)
    blocks = []
    # ties: few distinct values, whole rows equal, zeros of both signs
    blocks.append(rng.integers(-1, 2, (60, c)).astype(F32))
    blocks.append(np.repeat(rng.standard_normal((20, 1)), c, axis=1).astype(F32))
    blocks.append(rng.choice(np.array([0.0, -0.0, -1.0], dtype=F32), (60, c)))
    # -inf classes (the true class too, every class but one)
    z = rng.standard_normal((60, c)).astype(F32)
    z[rng.random((60, c)) < 0.3] = -np.inf
    z[:10, 1:] = -np.inf
    z[np.arange(10), 0] = rng.standard_normal(10)
    blocks.append(z)
    # ±1e4 and huge gaps: shifted rows, overflowing differences
    big = rng.choice(np.array([1e4, -1e4, 0.0, 3e38, -3e38], dtype=F32), (60, c))
    big[:, 0] = rng.choice(np.array([1e4, -1e4], dtype=F32), 60)
    blocks.append(big)
    # maxima just inside and outside the unshifted range [-20, 88]
    edges = np.array([-20.0, 88.0], dtype=F32)
    down, up = np.nextafter(edges, F32(-np.inf)), np.nextafter(edges, F32(np.inf))
    around = np.concatenate([edges, down, up])
    near = (rng.standard_normal((60, c)) * 3 - 40).astype(F32)
    near[:, 0] = rng.choice(around, 60)
    blocks.append(near)
    # confident rows whose true class is the max: the float64 recheck of shifted rows
    conf = rng.standard_normal((60, c)) * rng.choice([0.5, 3.0], size=(60, 1))
    conf[:, 0] += rng.uniform(15, 60, 60)
    conf += rng.choice([-80.0, -25.0, 0.0, 95.0, 250.0], size=(60, 1))
    blocks.append(conf.astype(F32))
    x = np.concatenate(blocks)
    x = x[:, rng.permutation(c)] if c > 1 else x
    y = rng.integers(0, c, len(x))
    y[::4] = np.argmax(np.nan_to_num(x[::4], neginf=-3.4e38), axis=1)  # many true-class maxima
    return x, y


def to_bf16_bits(x: np.ndarray) -> np.ndarray:
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(torch.bfloat16)
    return t.view(torch.int16).numpy().view(np.uint16)


CLASSES = [1, 2, 3, 7, 8, 9, 10, 16, 17, 24, 32, 48]


# -- the two kernels agree -------------------------------------------------------------------


@pytest.mark.parametrize("c", CLASSES)
def test_random_logits_bit_for_bit(c: int, column_calls: list[int]) -> None:
    x, y = random_logits(2000, c, seed=c)
    for scores in (x.astype(F32), x, x.astype(np.float16)):
        both(scores, y, column_calls)
        both(scores, y, column_calls, kind="logits", chunk_rows=37, threads=3)
    both(to_bf16_bits(x), y, column_calls, dtype="bfloat16")


@pytest.mark.parametrize("c", CLASSES)
def test_adversarial_logits_bit_for_bit(c: int, column_calls: list[int]) -> None:
    x, y = adversarial_logits(c, seed=100 + c)
    with np.errstate(over="ignore"):
        for scores in (x, x.astype(np.float64), x.astype(np.float16)):
            for kw in ({}, {"clip": 1e-7}, {"chunk_rows": 13, "threads": 2}):
                both(scores, y, column_calls, kind="logits", **kw)
    both(to_bf16_bits(x), y, column_calls, kind="logits", dtype="bfloat16")


def test_ignored_samples_and_dead_rows(column_calls: list[int]) -> None:
    x, y = adversarial_logits(10, seed=7)
    y[::3] = -100
    both(x, y, column_calls, kind="logits")
    both(x, y, column_calls, kind="logits", clip=1e-7)
    dead = x.copy()
    dead[[5, 77]] = -np.inf
    col = run("columns", dead, y, kind="logits", chunk_rows=50)
    assert col[1].n_dead_rows == 2
    assert_identical(col, run("rows", dead, y, kind="logits", chunk_rows=50))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_and_plus_inf_evidence(bad: float, column_calls: list[int]) -> None:
    x, y = random_logits(300, 6, seed=9)
    x = x.astype(F32)
    x[[3, 150, 151], [0, 5, 2]] = bad
    for kw in ({}, {"kind": "logits", "chunk_rows": 40}, {"kind": "probs"}, {"kind": "log_probs"}):
        col = run("columns", x, y, **kw)
        assert col[1].n_nonfinite == 3
        assert_identical(col, run("rows", x, y, **kw), zero_sign=("margin",))


@pytest.mark.parametrize("c", [2, 5, 10, 31])
def test_probabilities_and_log_probabilities(c: int, column_calls: list[int]) -> None:
    x, y = random_logits(1500, c, seed=20 + c)
    p = torch.softmax(torch.from_numpy(x), dim=1).numpy()
    p[::11, 0] = 0.0
    p[::17] = np.eye(c)[y[::17]]  # one-hot rows: p = 1 and exact zeros
    with np.errstate(divide="ignore"):
        lp = np.log(p)
    for scores in (p.astype(F32), p, p.astype(np.float16)):
        both(scores, y, column_calls)  # detected as probabilities
        both(scores, y, column_calls, kind="probs", clip=1e-7, chunk_rows=29, threads=2)
    for scores in (lp, lp.astype(F32)):
        both(scores, y, column_calls)
        both(scores, y, column_calls, kind="log_probs", clip=1e-7)
    both(to_bf16_bits(p), y, column_calls, kind="probs", dtype="bfloat16")
    off = p.astype(F32) * 1.01  # not normalised: counted alike
    both(off, y, column_calls, kind="probs")


@pytest.mark.parametrize("c", [3, 10, 17])
def test_scan_kind_evidence_is_the_same(c: int) -> None:
    x, y = random_logits(900, c, seed=c)
    p = torch.softmax(torch.from_numpy(x), dim=1).numpy()
    bad = x.astype(F32)
    bad[5, 0] = np.nan
    with np.errstate(divide="ignore"):
        cases = [x.astype(F32), p, p.astype(np.float16), np.log(p), np.log(p).astype(F32), bad]
    for scores in cases:
        for kw in ({}, {"chunk_rows": 31, "threads": 2}):
            assert run("columns", scores, None, **kw) == run("rows", scores, None, **kw)
    dead = np.log(p)
    dead[7] = -np.inf
    assert run("columns", dead, None).max_lse_abs == math.inf


def test_no_rows_and_one_row(column_calls: list[int]) -> None:
    x, y = random_logits(1, 5, seed=0)
    both(x.astype(F32), y, column_calls, kind="logits")
    for kernel in ("columns", "rows"):
        kind, st, ev = run(kernel, np.zeros((0, 5), F32), np.zeros(0, np.int64), kind="logits")
        assert st.loss.shape == (0,) and ev.n_nonfinite == 0


def test_soft_targets_take_the_row_kernel(column_calls: list[int]) -> None:
    x, _ = random_logits(200, 6, seed=3)
    q = np.random.default_rng(4).dirichlet(np.ones(6), size=200)
    col = run("columns", x.astype(F32), q, kind="logits")
    assert not column_calls
    assert_identical(col, run("rows", x.astype(F32), q, kind="logits"))


def test_the_threshold_chooses_the_kernel(column_calls: list[int]) -> None:
    c = columns_module.MAX_CLASSES
    for n_classes, expected in [(c, True), (c + 1, False)]:
        x, y = random_logits(50, n_classes, seed=n_classes)
        column_calls.clear()
        reduce_scores(x, y, kind="logits")
        assert bool(column_calls) == expected


def test_labels_outside_the_classes_fail_as_before(column_calls: list[int]) -> None:
    x, y = random_logits(20, 4, seed=1)
    y[3] = 4
    with pytest.raises(IndexError):
        reduce_scores(x, y, kind="logits")
    assert not column_calls


# -- both kernels against the references -----------------------------------------------------


def ce_ref(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    t = torch.from_numpy(x.astype(np.float64))
    return F.cross_entropy(t, torch.from_numpy(y), reduction="none").numpy()


def assert_loss_close(actual: np.ndarray, ref: np.ndarray, x: np.ndarray) -> None:
    """Relative 1e-6 beyond the float64 reference's own rounding (as in test_reduce.py)."""
    atol = 16 * np.finfo(np.float64).eps * max(1.0, float(np.abs(x.astype(np.float64)).max()))
    np.testing.assert_allclose(actual, ref, rtol=1e-6, atol=atol)


@pytest.mark.parametrize("kernel", ["columns", "rows"])
@pytest.mark.parametrize("c", [3, 10, 32])
def test_logits_match_torch_in_either_kernel(kernel: str, c: int) -> None:
    x, y = random_logits(800, c, seed=40 + c)
    for dt in (F32, np.float64, np.float16):
        xs = x.astype(dt)
        _, st, _ = run(kernel, xs, y, kind="logits", chunk_rows=101)
        assert_loss_close(st.loss, ce_ref(xs, y), xs)
        probs = torch.softmax(torch.from_numpy(xs.astype(np.float64)), dim=1).numpy()
        np.testing.assert_allclose(st.p_true, probs[np.arange(len(y)), y], rtol=1e-6, atol=1e-15)
        np.testing.assert_allclose(st.confidence, probs.max(axis=1), rtol=1e-6)
        np.testing.assert_array_equal(st.pred, np.argmax(xs, axis=1))
        other = xs.astype(np.float64)
        other[np.arange(len(y)), y] = -np.inf
        margin = xs.astype(np.float64)[np.arange(len(y)), y] - other.max(axis=1)
        np.testing.assert_array_equal(st.margin, margin)


@pytest.mark.parametrize("kernel", ["columns", "rows"])
def test_confident_rows_match_an_exact_reference_in_either_kernel(kernel: str) -> None:
    """Losses far below 1e-6 keep their relative precision (mpmath at 50 digits).

    The reference is ``(max - z_y) + log1p(sum of exp(z_k - max) over every class but one
    arg-max)``, so that a loss of 1e-55 is not lost in ``log(1 + 1e-55)``.
    """
    x, y = adversarial_logits(12, seed=5)
    keep = np.isfinite(x).all(axis=1) & (np.abs(x).max(axis=1) < 1e3)
    x, y = x[keep], y[keep]
    _, st, _ = run(kernel, x, y, kind="logits", chunk_rows=9)
    assert st.loss.min() < 1e-20
    mpmath.mp.dps = 50
    for i in range(len(y)):
        row = [mpmath.mpf(float(v)) for v in x[i]]
        am = int(np.argmax(x[i]))
        top = row[am]
        rest = mpmath.fsum(mpmath.exp(v - top) for k, v in enumerate(row) if k != am)
        exact = (top - row[y[i]]) + mpmath.log1p(rest)
        assert st.loss[i] == pytest.approx(float(exact), rel=1e-6, abs=0), i


@pytest.mark.parametrize("kernel", ["columns", "rows"])
def test_probabilities_match_sklearn_and_torch_in_either_kernel(kernel: str) -> None:
    x, y = random_logits(600, 7, seed=8)
    p = torch.softmax(torch.from_numpy(x), dim=1).numpy()
    _, st, _ = run(kernel, p, y, kind="probs", chunk_rows=50)
    logp = torch.log(torch.from_numpy(p))
    ref = F.nll_loss(logp, torch.from_numpy(y), reduction="none").numpy()
    np.testing.assert_allclose(st.loss, ref, rtol=1e-12)
    fine = (p[np.arange(len(y)), y] > 1e-12) & (np.arange(len(y)) < 60)  # sklearn clips at eps
    sk = [log_loss([t], [r], labels=np.arange(7)) for t, r in zip(y[fine], p[fine], strict=True)]
    np.testing.assert_allclose(st.loss[fine], sk, rtol=1e-9)
    lp = np.log(p)
    _, st, _ = run(kernel, lp, y, kind="log_probs")
    nll = F.nll_loss(torch.from_numpy(lp), torch.from_numpy(y), reduction="none").numpy()
    np.testing.assert_allclose(st.loss, nll, rtol=1e-12)


def test_large_classes_take_the_row_kernel_and_match_torch(column_calls: list[int]) -> None:
    x, y = random_logits(300, 100, seed=2)
    st = reduce_scores(x.astype(F32), y, kind="logits", chunk_rows=64)
    assert not column_calls
    assert_loss_close(st.loss, ce_ref(x.astype(F32), y), x.astype(F32))
    assert math.isfinite(float(st.loss.sum()))
