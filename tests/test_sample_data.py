"""Checks on the committed ``sample_data/`` run (made by scripts/make_sample_data.py).

Only numpy / scipy / scikit-learn / zipfile are used here: these tests check the data
itself, independently of predaudit (the script that made it runs predaudit's recorder).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
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

    # per_epoch/ is what predaudit.Recorder wrote: one file per epoch, rows sorted by id
    files = sorted((SAMPLE / "per_epoch" / split).iterdir())
    assert [f.name for f in files] == [f"epoch_{e:04d}.npz" for e in range(1, n_epochs + 1)]
    for e, path in enumerate(files):
        with np.load(path, allow_pickle=False) as npz:
            assert npz.files == ["logits", "labels", "ids", "__meta__"]
            ids, ep_labels, ep_logits = npz["ids"], npz["labels"], npz["logits"]
            meta = json.loads(str(npz["__meta__"]))
        assert ids.dtype == np.int64
        assert ep_labels.dtype == np.int64
        assert ep_logits.dtype == np.float32
        np.testing.assert_array_equal(ids, np.arange(n))
        np.testing.assert_array_equal(ep_labels, labels)
        np.testing.assert_array_equal(ep_logits, logits[e])
        assert meta["format"] == "predaudit.recorder/1"
        assert (meta["split"], meta["epoch"], meta["kind"]) == (split, e + 1, "logits")
        assert (meta["dtype"], meta["n_samples"]) == ("float32", n)


def test_the_script_reproduces_the_shipped_files(tmp_path: Path) -> None:
    """scripts/make_sample_data.py, run again, writes the same files: the same names, zip
    members and timestamps, README and metadata (but for the predaudit version, which moves
    with releases), the same ids and labels, and the same logits (bit for bit on this
    machine; to 1e-5 here, should another BLAS build round a matrix product differently)."""
    script = SAMPLE.parent / "scripts" / "make_sample_data.py"
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    subprocess.run(
        [sys.executable, str(script), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
        env=env,
        timeout=600,
    )
    shipped = sorted(p.relative_to(SAMPLE) for p in SAMPLE.rglob("*") if p.is_file())
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()) == shipped
    assert (tmp_path / "README.md").read_text() == (SAMPLE / "README.md").read_text()
    for rel in shipped:
        if rel.suffix == ".npy":
            a, b = np.load(SAMPLE / rel), np.load(tmp_path / rel)
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)
        elif rel.suffix == ".npz":
            with zipfile.ZipFile(SAMPLE / rel) as za, zipfile.ZipFile(tmp_path / rel) as zb:
                assert za.namelist() == zb.namelist()
                assert [i.date_time for i in za.infolist()] == [i.date_time for i in zb.infolist()]
            with np.load(SAMPLE / rel) as a, np.load(tmp_path / rel) as b:
                ma, mb = json.loads(str(a["__meta__"])), json.loads(str(b["__meta__"]))
                ma.pop("predaudit"), mb.pop("predaudit")
                assert ma == mb
                np.testing.assert_array_equal(a["ids"], b["ids"])
                np.testing.assert_array_equal(a["labels"], b["labels"])
                np.testing.assert_allclose(b["logits"], a["logits"], rtol=1e-5, atol=1e-5)


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
