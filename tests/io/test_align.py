"""io/align.py: the per-epoch label and id checks still run when epochs repeat their arrays.

An epoch whose labels or ids have the bytes of the epoch before reuses what they gave;
these tests make a later epoch differ (bad labels, changed labels, new ids, other
orders) after identical ones and check that the error, the order and the statistics
are what checking every epoch from scratch gives.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from predaudit import load_run
from predaudit.errors import InputError
from predaudit.io import SplitReader, discover
from predaudit.io.align import same_bytes

E, N, C = 4, 30, 5
RNG = np.random.default_rng(3)
LOGITS = RNG.normal(size=(E, N, C)).astype(np.float32)
LABELS = RNG.integers(0, C, N)


def write(run: Path, labels: list[np.ndarray], ids: list[np.ndarray | None]) -> Path:
    run.mkdir(exist_ok=True)
    for e in range(E):
        extra = {} if ids[e] is None else {"ids": ids[e]}
        np.savez(run / f"epoch_{e + 1}.npz", logits=LOGITS[e], labels=labels[e], **extra)
    return run


def error(run: Path) -> str:
    with pytest.raises(InputError) as exc:
        load_run(run)
    return str(exc.value)


def test_a_bad_label_after_identical_epochs_is_found(tmp_path: Path) -> None:
    bad = LABELS.copy()
    bad[7] = C
    run = write(tmp_path / "r", [LABELS, LABELS, bad, LABELS], [np.arange(N)] * E)
    text = error(run)
    assert text.startswith(str(run / "epoch_3.npz")) and "outside [0, 5)" in text


def test_a_changed_label_with_the_same_ids_is_found(tmp_path: Path) -> None:
    moved = LABELS.copy()
    moved[4] = (moved[4] + 1) % C
    run = write(tmp_path / "r", [LABELS, LABELS, LABELS, moved], [np.arange(N)] * E)
    assert "1 sample changes label between epochs 1 and 4 (e.g. id 4)" in error(run)


def test_new_ids_after_identical_epochs_are_found(tmp_path: Path) -> None:
    ids = [np.arange(N)] * 3 + [np.arange(N) + 1]
    run = write(tmp_path / "r", [LABELS] * E, ids)
    assert "the sample ids differ between epochs 1 and 4" in error(run)


def test_duplicate_ids_after_identical_epochs_are_found(tmp_path: Path) -> None:
    dup = np.arange(N)
    dup[3] = 2
    run = write(tmp_path / "r", [LABELS] * E, [np.arange(N)] * 2 + [dup, np.arange(N)])
    text = error(run)
    assert text.startswith(str(run / "epoch_3.npz")) and "duplicated value" in text


def test_increasing_ids_need_no_order_and_give_the_shuffled_runs_numbers(tmp_path: Path) -> None:
    ids = np.arange(N) * 3 + 10
    sorted_run = write(tmp_path / "s", [LABELS] * E, [ids] * E)
    perms = [RNG.permutation(N) for _ in range(E)]
    (tmp_path / "p").mkdir()
    for e, p in enumerate(perms):
        np.savez(
            tmp_path / "p" / f"epoch_{e + 1}.npz", logits=LOGITS[e][p], labels=LABELS[p], ids=ids[p]
        )
    orders = [ep.order for ep in SplitReader(discover(sorted_run).splits["default"])]
    assert orders == [None] * E
    shuffled = [ep.order for ep in SplitReader(discover(tmp_path / "p").splits["default"])]
    for o, p in zip(shuffled, perms, strict=True):
        np.testing.assert_array_equal(o, np.argsort(p, kind="stable"))
    a = load_run(sorted_run).splits["default"]
    b = load_run(tmp_path / "p").splits["default"]
    for name in ("loss", "pred", "correct", "p_true", "confidence", "margin", "labels", "ids"):
        assert np.asarray(getattr(a, name)).tobytes() == np.asarray(getattr(b, name)).tobytes()


def test_without_ids_a_later_change_is_unaligned(tmp_path: Path) -> None:
    moved = LABELS.copy()
    moved[0] = (moved[0] + 1) % C
    run = write(tmp_path / "r", [LABELS, LABELS, LABELS, moved], [None] * E)
    reader = SplitReader(discover(run).splits["default"])
    for _ in reader:
        pass
    assert reader.aligned is False
    run2 = write(tmp_path / "q", [LABELS] * E, [None] * E)
    reader = SplitReader(discover(run2).splits["default"])
    for _ in reader:
        pass
    assert reader.aligned is True


def test_same_bytes_tells_negative_zero_and_nan_apart() -> None:
    a = np.array([0.0, 1.0])
    assert same_bytes(a, a.copy())
    assert not same_bytes(a, np.array([-0.0, 1.0]))  # equal values, other bytes
    nan = np.array([np.nan, 1.0])
    assert same_bytes(nan, nan.copy())
    assert not same_bytes(a, a.astype(np.float32))
    assert not same_bytes(a, a.reshape(1, 2))
    assert not same_bytes(a, None)
    assert not same_bytes(np.arange(6)[::2], np.arange(6)[::2].copy())  # not contiguous


def test_same_bytes_of_large_arrays() -> None:
    a = np.zeros((400, 400))  # 1.28 MB: compared in place, not copied
    b = a.copy()
    assert same_bytes(a, b)
    b[399, 399] = -0.0
    assert not same_bytes(a, b)
