"""``analyze``'s data map comes from the store's running moments of p_true; it must be the
accumulator's over every epoch bit for bit, and agree with Cartography's own metrics."""

from __future__ import annotations

import numpy as np
import pytest

import predaudit
from predaudit.analysis.dynamics import accumulate, data_map, wrong_to_wrong_regions
from predaudit.analysis.wrong_to_wrong import stored_data_map
from predaudit.errors import InputError
from predaudit.io.arrays import arrays_layout
from predaudit.store.build import compute_split
from tests.dynamics import reference as ref


def _run(dtype: type, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    e, n, c = 7, 2500, 5
    y = rng.integers(0, c, n)
    x = rng.standard_normal((e, n, c)) * 2
    x[:, np.arange(n), y] += np.linspace(0, 3, e)[:, None]
    return x.astype(dtype), y


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("spill", [False, True])
def test_stored_data_map_is_the_accumulators(dtype: type, spill: bool) -> None:
    x, y = _run(dtype)
    labels = [y.copy() for _ in range(x.shape[0])]
    labels[2][::50] = -100  # ignored at one epoch: out of the map
    stats = compute_split(arrays_layout(list(x), labels), spill=spill)
    stored = stored_data_map(stats)
    assert stored is not None
    res = accumulate(stats, list(stats.epochs), label_votes=False)
    np.testing.assert_array_equal(stored.index, res.index)
    np.testing.assert_array_equal(stored.confidence, res.confidence)
    np.testing.assert_array_equal(stored.variability, res.variability)
    assert (stored.n_epochs, stored.first_epoch, stored.last_epoch) == (
        res.n_epochs,
        res.first_epoch,
        res.last_epoch,
    )


def test_stored_data_map_matches_cartography() -> None:
    x, y = _run(np.float64)
    stats = predaudit.from_arrays(x, y).splits["default"]
    stored = stored_data_map(stats)
    assert stored is not None
    # the reference is per-sample Python (a fifth of the samples) and its softmax float32
    guids = np.arange(0, y.size, 5)
    df, _ = ref.compute_train_dy_metrics(ref.cartography_input(x, y, guids), ref.cartography_args())
    assert df["guid"].tolist() == guids.tolist()
    np.testing.assert_allclose(stored.confidence[guids], df["confidence"], rtol=0, atol=2e-7)
    np.testing.assert_allclose(stored.variability[guids], df["variability"], rtol=0, atol=2e-7)


def test_wrong_to_wrong_regions_same_with_and_without_moments() -> None:
    x, y = _run(np.float32)
    stats = predaudit.from_arrays(x, y).splits["default"]
    got, why = wrong_to_wrong_regions(stats, start=1, end=7)
    stats.p_true_moments = None  # as statistics built by hand: the accumulator's path
    assert stored_data_map(stats) is None
    want, why2 = wrong_to_wrong_regions(stats, start=1, end=7)
    assert why is why2 is None and got == want
    _, found = data_map(stats, list(stats.epochs), label_votes=False)
    assert got is not None and sum(got.regions.values()) + got.not_in_map == got.n


def test_without_stable_labels_there_is_no_stored_map() -> None:
    """The readers refuse an aligned run whose labels change between epochs; statistics
    that say so anyway (``labels_stable`` False) take the accumulator's path."""
    x, y = _run(np.float32)
    labels = [y.copy() for _ in range(x.shape[0])]
    labels[4][7] = (labels[4][7] + 1) % 5
    with pytest.raises(InputError, match="changes label between epochs"):
        compute_split(arrays_layout(list(x), labels, ids=np.arange(y.size)))
    stats = compute_split(arrays_layout(list(x), y, ids=np.arange(y.size)))
    assert stats.labels_stable and stored_data_map(stats) is not None
    stats.labels_stable = False
    assert stored_data_map(stats) is None
