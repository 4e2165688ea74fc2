"""Ambiguous or inconsistent inputs are refused with one line, never read as a guess."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from click.testing import CliRunner

from predaudit.cli import main


def run(path: Path) -> tuple[int, str]:
    res = CliRunner().invoke(main, ["inspect", str(path)])
    return res.exit_code, res.stderr


def test_integer_one_hot_labels_beside_single_epoch_logits(tmp_path: Path) -> None:
    """[4, 3] integer one-hot labels beside [4, 3] logits: 4 samples of 3 classes, or
    4 epochs of 3 binary samples? Reading it as the second gave wrong numbers."""
    np.save(tmp_path / "logits.npy", np.random.default_rng(0).normal(size=(4, 3)))
    np.save(tmp_path / "labels.npy", np.eye(3, dtype=np.int64)[[0, 1, 2, 0]])
    code, err = run(tmp_path)
    assert code == 3
    assert err == (
        f"Error: {tmp_path / 'labels.npy'}, {tmp_path / 'logits.npy'}: integer labels of shape "
        "(4, 3) beside scores of shape (4, 3) could be one-hot labels of 4 samples of 3 "
        "classes or per-epoch labels of 4 epochs of 3 binary samples; save class indices [N] "
        "(or one-hot rows as floats), or one label file per epoch\n"
    )
    # the same labels as class indices, or as float one-hot rows, read as 4 samples
    np.save(tmp_path / "labels.npy", np.array([0, 1, 2, 0]))
    assert run(tmp_path)[0] == 0
    np.save(tmp_path / "labels.npy", np.eye(3)[[0, 1, 2, 0]])
    assert run(tmp_path)[0] == 0


def test_ids_that_appear_after_the_first_epoch(tmp_path: Path) -> None:
    """Epoch 1 without ids cannot be aligned with later epochs that have them."""
    rng = np.random.default_rng(1)
    y = np.array([0, 1, 2, 0, 1])
    np.savez(tmp_path / "epoch_1.npz", logits=rng.normal(size=(5, 3)), labels=y)
    np.savez(tmp_path / "epoch_2.npz", logits=rng.normal(size=(5, 3)), labels=y, ids=np.arange(5))
    code, err = run(tmp_path)
    assert code == 3
    assert err == (
        f"Error: {tmp_path / 'epoch_1.npz'}, {tmp_path / 'epoch_2.npz'}: epoch 2 has sample ids "
        "but epoch 1 has none; save the ids at every epoch\n"
    )
