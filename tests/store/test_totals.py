"""Per-epoch totals (``SplitStats.epoch_totals``) summed in blocks of counted rows.

References: ``math.fsum`` of the counted rows (exactly rounded) and PyTorch's
``cross_entropy`` through the real build path; the blocks must not depend on the
threads, and ignoring a row must be exactly dropping it.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from predaudit.io.arrays import arrays_layout
from predaudit.store.build import compute_split
from predaudit.store.stats import TOTAL_BLOCK, epoch_row_totals

N = 3 * TOTAL_BLOCK + 12345  # four blocks when every row counts


def _epoch(seed: int, n: int = N) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    loss = rng.exponential(size=n) * rng.choice([1e-6, 1.0, 30.0], size=n)
    correct = rng.random(n) < 0.8
    valid = rng.random(n) > 0.1
    valid[: TOTAL_BLOCK // 2] = False  # the first blocks of counted rows span more rows
    return loss, correct, valid


def _fsum_totals(loss: np.ndarray, correct: np.ndarray, valid: np.ndarray) -> list[float]:
    lv, cv = loss[valid], correct[valid]
    return [
        float(lv.size),
        float(cv.sum()),
        math.fsum(lv),
        math.fsum(lv[cv]),
        math.fsum(lv[~cv]),
    ]


@pytest.mark.parametrize("seed", range(3))
def test_block_sums_are_within_rounding_of_the_exact_sums(seed: int) -> None:
    loss, correct, valid = _epoch(seed)
    got = epoch_row_totals(loss, correct, valid, threads=2)
    ref = _fsum_totals(loss, correct, valid)
    assert got[:2].tolist() == ref[:2]  # counts: exact
    np.testing.assert_allclose(got[2:], ref[2:], rtol=1e-14, atol=0)
    every = np.ones_like(valid)
    np.testing.assert_allclose(
        epoch_row_totals(loss, correct, every, threads=2), _fsum_totals(loss, correct, every),
        rtol=1e-14, atol=0,
    )  # fmt: skip


def test_the_totals_do_not_depend_on_the_threads() -> None:
    loss, correct, valid = _epoch(7)
    for v in (valid, np.ones_like(valid)):
        one = epoch_row_totals(loss, correct, v, threads=1)
        for threads in (2, 3, None):
            got = epoch_row_totals(loss, correct, v, threads=threads)
            np.testing.assert_array_equal(got.view(np.int64), one.view(np.int64))


def test_ignoring_a_row_is_exactly_dropping_it() -> None:
    loss, correct, valid = _epoch(11)
    assert np.count_nonzero(valid) > 2 * TOTAL_BLOCK  # several blocks
    ignored = epoch_row_totals(loss, correct, valid, threads=2)
    dropped = epoch_row_totals(
        loss[valid], correct[valid], np.ones(int(valid.sum()), dtype=bool), threads=2
    )
    np.testing.assert_array_equal(ignored.view(np.int64), dropped.view(np.int64))


def test_an_infinite_loss_stays_in_its_own_sum() -> None:
    loss, correct, valid = _epoch(3)
    wrong = int(np.flatnonzero(valid & ~correct)[-1])  # in the last block
    loss[wrong] = math.inf
    n, n_c, total, s_c, s_w = epoch_row_totals(loss, correct, valid, threads=2)
    assert total == math.inf and s_w == math.inf
    assert s_c == pytest.approx(math.fsum(loss[valid & correct]), rel=1e-14)


def test_one_block_is_numpys_sums_of_its_rows() -> None:
    """An epoch of at most TOTAL_BLOCK counted rows: numpy's own sums of those rows."""
    loss, correct, valid = _epoch(5, n=TOTAL_BLOCK + 1000)
    assert np.count_nonzero(valid) <= TOTAL_BLOCK
    got = epoch_row_totals(loss, correct, valid)
    lv, cv = loss[valid], correct[valid]
    want = [lv.size, cv.sum(), lv.sum(), lv[cv].sum(), lv[~cv].sum()]
    np.testing.assert_array_equal(got, np.array(want, dtype=np.float64))


def test_the_build_path_gives_torch_sums_whatever_the_threads() -> None:
    rng = np.random.default_rng(1)
    e, n, c = 2, 2 * TOTAL_BLOCK + 777, 4
    x = (rng.normal(size=(e, n, c)) * 3).astype(np.float32)
    y = rng.integers(0, c, n)
    y[rng.random(n) < 0.05] = -100
    one = compute_split(arrays_layout(list(x), y), threads=1)
    two = compute_split(arrays_layout(list(x), y), threads=2)
    assert one.epoch_totals is not None and two.epoch_totals is not None
    np.testing.assert_array_equal(one.epoch_totals, two.epoch_totals)
    valid = y != -100
    for i in range(e):
        ref = torch.nn.functional.cross_entropy(
            torch.from_numpy(x[i]).double(), torch.from_numpy(y), reduction="none"
        ).numpy()
        right = x[i].argmax(axis=1) == y
        n_i, n_c, total, s_c, s_w = two.epoch_totals[i]
        assert (n_i, n_c) == (valid.sum(), (right & valid).sum())
        assert total == pytest.approx(ref[valid].sum(), rel=1e-7)  # the float32 kernel
        assert s_c == pytest.approx(ref[valid & right].sum(), rel=1e-7)
        assert s_w == pytest.approx(ref[valid & ~right].sum(), rel=1e-7)
    # statistics without totals compute them again from the columns: the same bits
    again = dataclasses.replace(two, epoch_totals=None).totals()
    np.testing.assert_array_equal(again, two.epoch_totals)
