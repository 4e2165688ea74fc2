"""Checks on the committed ``sample_data/`` run (made by scripts/make_sample_data.py).

Only numpy / scipy / scikit-learn are used here: these tests check the data itself,
independently of predaudit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.special import softmax
from sklearn.metrics import log_loss

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
SPLITS = ("train", "test")
N_CLASSES = 10


def load_stacked(split: str) -> tuple[np.ndarray, np.ndarray]:
    logits = np.load(SAMPLE / "stacked" / f"{split}_logits.npy", allow_pickle=False)
    labels = np.load(SAMPLE / "stacked" / f"{split}_labels.npy", allow_pickle=False)
    return logits, labels


@pytest.mark.parametrize("split", SPLITS)
def test_layouts_hold_identical_data(split: str) -> None:
    logits, labels = load_stacked(split)
    n_epochs, n, n_classes = logits.shape
    assert logits.dtype == np.float32
    assert labels.dtype == np.int64
    assert labels.shape == (n,)
    assert n_classes == N_CLASSES
    assert 0 < n_epochs <= 30

    files = sorted((SAMPLE / "per_epoch" / split).glob("epoch_*.npz"))
    assert [f.name for f in files] == [f"epoch_{e:03d}.npz" for e in range(1, n_epochs + 1)]
    for e, path in enumerate(files):
        with np.load(path, allow_pickle=False) as npz:
            assert sorted(npz.files) == ["ids", "labels", "logits"]
            ids, ep_labels, ep_logits = npz["ids"], npz["labels"], npz["logits"]
        assert ids.dtype == np.int64
        assert ep_labels.dtype == np.int64
        assert ep_logits.dtype == np.float32
        # rows are shuffled, but ids are a permutation of 0..n-1
        assert not np.array_equal(ids, np.arange(n))
        assert np.array_equal(np.sort(ids), np.arange(n))
        order = np.argsort(ids)
        np.testing.assert_array_equal(ep_labels[order], labels)
        np.testing.assert_array_equal(ep_logits[order], logits[e])


def test_test_loss_rises_while_accuracy_stays_flat() -> None:
    logits, labels = load_stacked("test")
    probs = softmax(logits.astype(np.float64), axis=-1)
    losses = np.array([log_loss(labels, p, labels=range(N_CLASSES)) for p in probs])
    accs = (logits.argmax(axis=-1) == labels).mean(axis=1)
    best = int(losses.argmin())

    assert best < len(losses) // 2  # the minimum comes early
    assert losses[-1] > 1.3 * losses[best]  # ... and the loss then rises clearly
    assert abs(accs[-1] - accs[best]) <= 0.02  # while accuracy stays flat

    train_logits, train_labels = load_stacked("train")
    assert (train_logits[-1].argmax(axis=-1) == train_labels).mean() >= 0.99


def test_total_size_under_5mb() -> None:
    total = sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file())
    assert total < 5_000_000
