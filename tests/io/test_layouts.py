"""Run layouts (docs/design.md): stacked, per-epoch, splits, single files, label formats,
and the property that one set of predictions saved in every layout loads the same.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from predaudit import load_run
from predaudit.errors import InputError
from predaudit.io.discover import discover, parse_name

F = torch.nn.functional

E, N, C = 3, 6, 4


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    return rng.normal(scale=2.0, size=(E, N, C)), rng.integers(0, C, N)


def ref_loss(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Cross-entropy (E, N) by PyTorch; ``y`` may be (N,) indices or (N, C) targets."""
    xt = torch.from_numpy(np.asarray(x, dtype=np.float64))
    yt = torch.from_numpy(y if y.ndim == 2 else y.astype(np.int64))
    return np.stack([F.cross_entropy(xt[e], yt, reduction="none").numpy() for e in range(len(x))])


def ref_bce(s: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Binary cross-entropy with logits (E, N) by PyTorch."""
    st_ = torch.from_numpy(np.asarray(s, dtype=np.float64))
    yt = torch.from_numpy(np.broadcast_to(y, s.shape).astype(np.float64))
    return F.binary_cross_entropy_with_logits(st_, yt, reduction="none").numpy()


# -- file names ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "prefix", "key", "epoch"),
    [
        ("epoch_003.npz", None, None, 3),
        ("epoch7.pt", None, None, 7),
        ("logits_epoch_12.npy", None, "logits", 12),
        ("test_logits_epoch_12.npy", "test", "logits", 12),
        ("val_epoch_3.npz", "val", None, 3),
        ("test_logits.npy", "test", "logits", None),
        ("train-labels.npy", "train", "labels", None),
        ("log_probs.npy", None, "log_probs", None),
        ("sample_ids.npy", None, "sample_ids", None),
        ("dynamics_epoch_0.jsonl", None, None, 0),
        ("run.npz", "run", None, None),
    ],
)
def test_parse_name(name: str, prefix: str | None, key: str | None, epoch: int | None) -> None:
    n = parse_name(Path(name))
    assert (n.prefix, n.key, n.epoch) == (prefix, key, epoch)


# -- per-epoch files -----------------------------------------------------------------------


def test_epochs_are_ordered_numerically(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    x4 = np.concatenate([x, x[:1] + 1.0])
    labels = [2, 10, 1, 3]  # written in this order; file-name order would be 1, 10, 2, 3
    for i, e in enumerate(labels):
        np.savez(tmp_path / f"epoch_{e}.npz", logits=x4[i], labels=y)
    s = load_run(tmp_path).splits["default"]
    assert s.epochs == [1, 2, 3, 10]
    order = [labels.index(e) for e in s.epochs]
    np.testing.assert_allclose(s.loss, ref_loss(x4[order], y), rtol=1e-12)


def test_zero_padded_and_unpadded_epoch_names(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    for name, e in (("epoch_009.npz", 0), ("epoch_10.npz", 1), ("epoch_0100.npz", 2)):
        np.savez(tmp_path / name, logits=x[e], labels=y)
    s = load_run(tmp_path).splits["default"]
    assert s.epochs == [9, 10, 100]
    assert s.pattern == "epoch_009.npz … epoch_0100.npz (3 files)"


def test_per_epoch_npy_beside_one_labels_file(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    for e in range(E):
        np.save(tmp_path / f"logits_epoch_{e + 1}.npy", x[e])
    np.save(tmp_path / "labels.npy", y)
    s = load_run(tmp_path).splits["default"]
    assert s.epochs == [1, 2, 3] and not s.has_ids
    np.testing.assert_allclose(s.loss, ref_loss(x, y), rtol=1e-12)
    assert s.files[-1].endswith("labels.npy")


def test_per_epoch_npy_with_per_epoch_labels_and_ids(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    rng = np.random.default_rng(0)
    for e in range(E):
        p = rng.permutation(N)
        np.save(tmp_path / f"logits_epoch_{e}.npy", x[e][p])
        np.save(tmp_path / f"labels_epoch_{e}.npy", y[p])
        np.save(tmp_path / f"ids_epoch_{e}.npy", p + 100)
    s = load_run(tmp_path).splits["default"]
    assert s.has_ids and s.aligned
    np.testing.assert_array_equal(s.ids, np.arange(N) + 100)
    np.testing.assert_allclose(s.loss, ref_loss(x, y), rtol=1e-12)


def test_epoch_pt_files(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    for e in range(E):
        obj = {"outputs": torch.from_numpy(x[e]), "targets": torch.from_numpy(y)}
        torch.save(obj, tmp_path / f"epoch{e + 5}.pt")
    s = load_run(tmp_path).splits["default"]
    assert s.epochs == [5, 6, 7]
    np.testing.assert_allclose(s.loss, ref_loss(x, y), rtol=1e-12)


# -- splits --------------------------------------------------------------------------------


def test_splits_as_sub_folders_with_loose_files_as_default(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    for sub in ("train", "test", "holdout"):
        (tmp_path / sub).mkdir()
    np.save(tmp_path / "train" / "logits.npy", x)
    np.save(tmp_path / "train" / "labels.npy", y)
    for e in range(E):
        np.savez(tmp_path / "test" / f"epoch_{e + 1}.npz", logits=x[e] * 2, labels=y)
    torch.save(
        {"logits": torch.from_numpy(x), "labels": torch.from_numpy(y)},
        tmp_path / "holdout" / "run.pt",
    )
    np.save(tmp_path / "logits.npy", x * 3)
    np.save(tmp_path / "labels.npy", y)
    (tmp_path / "notes.txt").write_text("not a prediction file")
    (tmp_path / ".hidden").mkdir()
    np.save(tmp_path / ".hidden" / "logits.npy", x)
    run = load_run(tmp_path)
    assert sorted(run.splits) == ["default", "holdout", "test", "train"]
    np.testing.assert_allclose(run.splits["train"].loss, ref_loss(x, y), rtol=1e-12)
    np.testing.assert_allclose(run.splits["holdout"].loss, ref_loss(x, y), rtol=1e-12)
    np.testing.assert_allclose(run.splits["test"].loss, ref_loss(x * 2, y), rtol=1e-12)
    np.testing.assert_allclose(run.splits["default"].loss, ref_loss(x * 3, y), rtol=1e-12)
    only_test = load_run(tmp_path, split="test")
    assert list(only_test.splits) == ["test"]


def test_splits_as_name_prefixes(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    np.save(tmp_path / "test_logits.npy", x)
    np.save(tmp_path / "test_labels.npy", y)
    np.save(tmp_path / "train_logits.npy", x * 2)
    np.save(tmp_path / "train_labels.npy", y[::-1].copy())
    for e in range(E):
        np.savez(tmp_path / f"val_epoch_{e + 3}.npz", logits=x[e] * 3, labels=y)
    layout = discover(tmp_path)
    assert sorted(layout.splits) == ["test", "train", "val"]
    assert [e for e, _ in layout.splits["val"].epoch_files] == [3, 4, 5]
    run = load_run(tmp_path)
    np.testing.assert_allclose(run.splits["test"].loss, ref_loss(x, y), rtol=1e-12)
    np.testing.assert_allclose(run.splits["train"].loss, ref_loss(x * 2, y[::-1]), rtol=1e-12)
    np.testing.assert_allclose(run.splits["val"].loss, ref_loss(x * 3, y), rtol=1e-12)
    assert run.splits["val"].epochs == [3, 4, 5]


def test_prefixed_splits_share_one_labels_file(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    np.save(tmp_path / "a_logits.npy", x)
    np.save(tmp_path / "b_logits.npy", x * 2)
    np.save(tmp_path / "labels.npy", y)
    run = load_run(tmp_path)
    assert sorted(run.splits) == ["a", "b"]
    np.testing.assert_allclose(run.splits["b"].loss, ref_loss(x * 2, y), rtol=1e-12)


# -- single files --------------------------------------------------------------------------


def test_single_file_runs(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    np.savez(tmp_path / "run.npz", logits=x, labels=y)
    torch.save({"logits": torch.from_numpy(x), "labels": torch.from_numpy(y)}, tmp_path / "run.pt")
    (tmp_path / "pair").mkdir()
    np.save(tmp_path / "pair" / "test_logits.npy", x)
    np.save(tmp_path / "pair" / "test_labels.npy", y)
    np.save(tmp_path / "pair" / "train_labels.npy", y[::-1].copy())
    for path in ("run.npz", "run.pt", "pair/test_logits.npy"):
        run = load_run(tmp_path / path)
        assert list(run.splits) == ["default"], path
        np.testing.assert_allclose(run.splits["default"].loss, ref_loss(x, y), rtol=1e-12)


def test_single_npy_that_is_not_scores(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    np.save(tmp_path / "labels.npy", data[1])
    with pytest.raises(InputError) as info:
        load_run(tmp_path / "labels.npy")
    assert info.value.problem == "is not a scores file (name it logits.npy, probs.npy, …)"


# -- stacked shapes ------------------------------------------------------------------------


def test_stacked_binary_e_by_n(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    s_, yb = x[:, :, 0], y % 2
    np.save(tmp_path / "logits.npy", s_)
    np.save(tmp_path / "labels.npy", yb)
    s = load_run(tmp_path).splits["default"]
    assert (s.epochs, s.n_classes, s.binary, s.input_kind) == ([1, 2, 3], 2, True, "logits")
    np.testing.assert_allclose(s.loss, ref_bce(s_, yb), rtol=1e-12)
    np.testing.assert_array_equal(s.pred, (s_ > 0).astype(int))


def test_stacked_binary_single_column(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    np.save(tmp_path / "logits.npy", x[:, :, :1])
    np.save(tmp_path / "labels.npy", y % 2)
    s = load_run(tmp_path).splits["default"]
    assert (s.n_classes, s.binary) == (2, True)
    np.testing.assert_allclose(s.loss, ref_bce(x[:, :, 0], y % 2), rtol=1e-12)


def test_single_epoch_n_by_c(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    np.save(tmp_path / "logits.npy", x[0])
    np.save(tmp_path / "labels.npy", y)
    s = load_run(tmp_path).splits["default"]
    assert (s.epochs, s.n_classes) == ([1], C)
    np.testing.assert_allclose(s.loss, ref_loss(x[:1], y), rtol=1e-12)


def test_two_d_ambiguity_asks_for_3d(tmp_path: Path) -> None:
    np.save(tmp_path / "logits.npy", np.zeros((5, 5), dtype=np.float32))
    np.save(tmp_path / "labels.npy", np.zeros(5, dtype=np.int64))
    with pytest.raises(InputError) as info:
        load_run(tmp_path)
    assert info.value.problem == (
        "scores of shape (5, 5) could be [epochs, samples] or [samples, classes]; "
        "save them as 3-D [epochs, samples, classes]"
    )


# -- label formats -------------------------------------------------------------------------


def test_one_hot_labels(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    np.save(tmp_path / "logits.npy", x)
    np.save(tmp_path / "labels.npy", np.eye(C, dtype=np.float32)[y])
    s = load_run(tmp_path).splits["default"]
    assert s.label_format == "one_hot"
    np.testing.assert_array_equal(s.labels, np.tile(y, (E, 1)))
    np.testing.assert_allclose(s.loss, ref_loss(x, y), rtol=1e-12)


def test_soft_labels(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    x, _ = data
    q = np.random.default_rng(3).dirichlet(np.ones(C), size=N)
    np.save(tmp_path / "logits.npy", x)
    np.save(tmp_path / "labels.npy", q)
    s = load_run(tmp_path).splits["default"]
    assert s.label_format == "soft"
    np.testing.assert_array_equal(s.labels[0], q.argmax(axis=1))
    np.testing.assert_array_equal(s.correct, s.pred == q.argmax(axis=1))
    np.testing.assert_allclose(s.loss, ref_loss(x, q), rtol=1e-12)


def test_integral_float_labels(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    np.save(tmp_path / "logits.npy", x)
    np.save(tmp_path / "labels.npy", y.astype(np.float32))
    s = load_run(tmp_path).splits["default"]
    np.testing.assert_allclose(s.loss, ref_loss(x, y), rtol=1e-12)


def test_per_epoch_labels_e_by_n(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    np.save(tmp_path / "logits.npy", x)
    np.save(tmp_path / "labels.npy", np.tile(y, (E, 1)))
    # [E, N, C] with [E, N] labels could be one evaluation of E sequences of N tokens
    with pytest.raises(InputError) as info:
        load_run(tmp_path)
    assert info.value.problem == (
        f"scores of shape ({E}, {N}, {C}) with labels of shape ({E}, {N}) could be [epochs, "
        "samples, classes] with labels per epoch or [sequences, tokens, classes] (one "
        "evaluation); pass --layout epochs or --layout tokens"
    )
    s = load_run(tmp_path, layout="epochs").splits["default"]
    assert (s.label_format, s.aligned) == ("index", True)
    np.testing.assert_allclose(s.loss, ref_loss(x, y), rtol=1e-12)
    # labels that differ between epochs (no ids): read, but not aligned
    yy = np.stack([y, y[::-1], y])
    np.save(tmp_path / "labels.npy", yy)
    s = load_run(tmp_path, layout="epochs").splits["default"]
    assert s.aligned is False
    np.testing.assert_array_equal(s.labels, yy)
    for e in range(E):
        np.testing.assert_allclose(s.loss[e], ref_loss(x[e : e + 1], yy[e])[0], rtol=1e-12)


def test_ignored_labels(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    yi = y.copy()
    yi[[1, 4]] = -100
    np.save(tmp_path / "logits.npy", x)
    np.save(tmp_path / "labels.npy", yi)
    s = load_run(tmp_path).splits["default"]
    assert (s.n_samples, s.n_ignored, s.n_rows) == (N - 2, 2, N)
    assert np.isnan(s.loss[:, [1, 4]]).all() and not s.correct[:, [1, 4]].any()
    keep = yi != -100
    np.testing.assert_allclose(s.loss[:, keep], ref_loss(x, y)[:, keep], rtol=1e-12)


# -- one run, every layout: the same arrays ------------------------------------------------


def _write_layouts(root: Path, x: np.ndarray, y: np.ndarray, ids: np.ndarray, seed: int) -> None:
    """Write the run (rows in ascending-id order) in every supported layout."""
    rng = np.random.default_rng(seed)
    e_count = x.shape[0]
    single = x.shape[2] == 1
    stored = x[:, :, 0] if single else x  # a binary run stores one score per sample
    # [E, N] binary scores with E == N would be ambiguous (an input error): keep [E, N, 1]
    stacked = x if single and e_count == x.shape[1] else stored

    d = root / "stacked_npy"
    d.mkdir()
    p = rng.permutation(len(ids))  # one shuffle for every epoch, ids beside
    np.save(d / "logits.npy", stacked[:, p])
    np.save(d / "labels.npy", y[p])
    np.save(d / "ids.npy", ids[p])

    d = root / "epoch_npz_shuffled"
    d.mkdir()
    for e in range(e_count):
        p = rng.permutation(len(ids))
        np.savez(d / f"epoch_{e + 1}.npz", logits=stored[e][p], labels=y[p], sample_ids=ids[p])

    d = root / "epoch_npy_labels"  # no ids: rows already in canonical order
    d.mkdir()
    for e in range(e_count):
        np.save(d / f"logits_epoch_{e + 1}.npy", stored[e])
    np.save(d / "labels.npy", y)

    d = root / "epoch_pt_shuffled"
    d.mkdir()
    for e in range(e_count):
        p = rng.permutation(len(ids))
        obj = {
            "logits": torch.from_numpy(stored[e][p].copy()),
            "labels": torch.from_numpy(y[p].copy()),
            "ids": torch.from_numpy(ids[p].copy()),
        }
        torch.save(obj, d / f"epoch_{e + 1}.pt")

    d = root / "stacked_pt"
    d.mkdir()
    p = rng.permutation(len(ids))
    obj = {
        "scores": torch.from_numpy(stacked[:, p].copy()),
        "targets": torch.from_numpy(y[p].copy()),
        "indices": torch.from_numpy(ids[p].copy()),
    }
    torch.save(obj, d / "run.pt")

    d = root / "jsonl"
    d.mkdir()
    for e in range(e_count):
        p = rng.permutation(len(ids))
        with open(d / f"dynamics_epoch_{e + 1}.jsonl", "w") as fh:
            for i in p:
                rec = {"guid": int(ids[i]), f"logits_epoch_{e + 1}": x[e, i].tolist()}
                rec["gold"] = int(y[i])
                fh.write(json.dumps(rec) + "\n")


LAYOUTS = (
    "stacked_npy",
    "epoch_npz_shuffled",
    "epoch_npy_labels",
    "epoch_pt_shuffled",
    "stacked_pt",
    "jsonl",
)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 9),
    c=st.sampled_from([1, 2, 3, 5]),
    e=st.integers(1, 3),
    dtype=st.sampled_from(["float32", "float64"]),
    n_ignored=st.integers(0, 1),
)
def test_every_layout_loads_the_same_arrays(
    seed: int, n: int, c: int, e: int, dtype: str, n_ignored: int
) -> None:
    rng = np.random.default_rng(seed)
    x = (rng.normal(scale=3.0, size=(e, n, c))).astype(dtype)
    x[0, 0, 0] = -2.5  # binary scores all in [0, 1] would be probabilities
    y = rng.integers(0, max(c, 2), n)
    y[:n_ignored] = -100
    ids = np.sort(rng.choice(10 * n + 10, size=n, replace=False))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _write_layouts(root, x, y, ids, seed)
        got = {name: load_run(root / name).splits["default"] for name in LAYOUTS}
    ref = got["stacked_npy"]
    assert ref.epochs == list(range(1, e + 1))
    for name, s in got.items():
        assert s.epochs == ref.epochs, name
        assert (s.n_classes, s.binary, s.input_kind) == (ref.n_classes, c == 1, "logits"), name
        np.testing.assert_array_equal(s.labels, ref.labels, err_msg=name)
        np.testing.assert_array_equal(s.valid, ref.valid, err_msg=name)
        np.testing.assert_array_equal(s.pred, ref.pred, err_msg=name)
        np.testing.assert_array_equal(s.correct, ref.correct, err_msg=name)
        # JSON holds float32 values exactly, but as float64: another dtype, another precision
        tol = 1e-12 if name != "jsonl" or dtype == "float64" else 1e-6
        np.testing.assert_allclose(s.loss, ref.loss, rtol=tol, atol=0, err_msg=name)
        if name != "epoch_npy_labels":
            assert s.has_ids and s.aligned, name
            np.testing.assert_array_equal(s.ids, ids, err_msg=name)
        else:
            assert not s.has_ids and s.ids is None and s.aligned
    # and the reference itself is right
    valid = y != -100
    if c == 1:
        expected = ref_bce(x[:, :, 0], np.where(valid, y, 0))
    else:
        expected = ref_loss(x, np.where(valid, y, 0))
    tol = 1e-12 if dtype == "float64" else 1e-6
    np.testing.assert_allclose(ref.loss[:, valid], expected[:, valid], rtol=tol, atol=1e-15)
