"""A cache entry read for a command that reads few epochs (``load_cached(keep=...)``): only
the compared epochs are range-checked and readable, their rows are the full entry's bit for
bit, and a constant labels column is stored as one row."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from predaudit.analysis.epochs import best_epoch
from predaudit.io.discover import discover
from predaudit.store import cache
from predaudit.store.build import compute_split
from predaudit.store.columns import KeepEpochs, NotKept
from predaudit.store.stats import COLUMNS

E, N, C = 9, 3000, 1


@pytest.fixture(autouse=True)
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    return home / "predaudit"


def binary_run(folder: Path, dip: int = 4) -> Path:
    """One logit per sample, mean loss lowest at epoch index ``dip``."""
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, N)
    y[::41] = -100
    sign = np.where(y == 1, 1.0, -1.0)
    x = np.stack([rng.standard_normal(N) + sign * (3.0 - 0.5 * abs(e - dip)) for e in range(E)])
    folder.mkdir(parents=True)
    np.save(folder / "logits.npy", x.astype(np.float32))
    np.save(folder / "labels.npy", y)
    return folder


@pytest.mark.parametrize("spec", [(None, None), ("first", "last"), ("3", "6"), ("best", "7")])
def test_cached_kept_rows_are_the_entry_rows(tmp_path: Path, spec: tuple) -> None:  # type: ignore[type-arg]
    run = binary_run(tmp_path / "run")
    layout = discover(run).splits["default"]
    full = compute_split(layout)
    assert cache.store(layout, None, full)
    every = cache.load_cached(layout, None)
    kept = cache.load_cached(layout, None, keep=KeepEpochs(*spec))
    assert every is not None and kept is not None
    start, end = spec
    b = full.epochs[-1] if end in (None, "last") else int(end)
    wanted = {full.epochs[0], full.epochs[-1], b, best_epoch(full, upto=b)}
    wanted |= {int(s) for s in spec if s is not None and s.isdigit()}
    np.testing.assert_array_equal(kept.epoch_totals, full.epoch_totals)
    np.testing.assert_array_equal(kept.p_true_moments, full.p_true_moments)
    for name in COLUMNS[:8]:
        col = getattr(kept, name)
        assert col.shape == (E, N) and col.dtype == getattr(full, name).dtype
        for i, epoch in enumerate(full.epochs):
            if epoch in wanted:
                np.testing.assert_array_equal(col[i], getattr(full, name)[i], err_msg=name)
                np.testing.assert_array_equal(col[i], getattr(every, name)[i], err_msg=name)
            else:
                with pytest.raises(NotKept):
                    col[i]
    for i in range(E):  # without keep: every epoch
        np.testing.assert_array_equal(every.loss[i], full.loss[i])


def test_constant_labels_are_stored_once(tmp_path: Path, cache_home: Path) -> None:
    run = binary_run(tmp_path / "run")
    layout = discover(run).splits["default"]
    full = compute_split(layout)
    assert full.labels.strides[0] == 0  # the reduction's broadcast of the first row
    assert cache.store(layout, None, full)
    (entry,) = cache_home.glob("predaudit-*.npz")
    with np.load(entry) as z:
        header = json.loads(bytes(z["__header__"]).decode())
        assert sorted(header["constant_rows"]) == ["labels", "valid"]
        assert z["labels"].shape == (1, N) and z["loss"].shape == (E, N)
    back = cache.load_cached(layout, None)
    assert back is not None
    np.testing.assert_array_equal(back.labels, full.labels)
    np.testing.assert_array_equal(back.valid, full.valid)


def test_bad_values_at_a_kept_epoch_drop_the_entry(tmp_path: Path) -> None:
    import dataclasses

    run = binary_run(tmp_path / "run")
    layout = discover(run).splits["default"]
    full = compute_split(layout)
    loss = np.array(full.loss)
    loss[-1, 1] = -1.0  # the last epoch is always compared
    assert cache.store(layout, None, dataclasses.replace(full, loss=loss))
    assert cache.load_cached(layout, None, keep=KeepEpochs()) is None
    assert cache.store(layout, None, full)
    bad = np.array(full.p_true_moments)[:, :-1]
    assert cache.store(layout, None, dataclasses.replace(full, p_true_moments=bad))
    assert cache.load_cached(layout, None, keep=KeepEpochs()) is None


def test_changed_labels_keep_every_epoch(tmp_path: Path) -> None:
    run = binary_run(tmp_path / "run")
    y = np.load(run / "labels.npy")
    per_epoch = np.stack([y] * E)
    per_epoch[5, :10] = 1 - np.maximum(per_epoch[5, :10], 0)
    np.save(run / "labels.npy", per_epoch)
    layout = discover(run).splits["default"]
    full = compute_split(layout)
    assert not full.labels_stable
    assert cache.store(layout, None, full)
    back = cache.load_cached(layout, None, keep=KeepEpochs())
    assert back is not None
    for i in range(E):
        np.testing.assert_array_equal(back.loss[i], full.loss[i])
