"""Readers: files written by numpy.save/savez/savez_compressed, torch.save and Dataset
Cartography load to the right per-sample statistics (issue 2, points 2 and 8).

Losses are compared with PyTorch's ``cross_entropy`` on the same values in float64.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from predaudit import load_run
from predaudit.errors import InputError
from predaudit.io.jsonl import JsonlContainer
from predaudit.io.naming import ID_KEYS, LABEL_KEYS, SCORE_KEYS
from predaudit.io.npy import NpyContainer
from predaudit.io.npz import NpzContainer
from predaudit.io.pt import PtContainer

F = torch.nn.functional

E, N, C = 3, 7, 4


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    return rng.normal(scale=2.0, size=(E, N, C)), rng.integers(0, C, N)


def rtol(dtype: object) -> float:
    """float64 scores are reduced in float64; narrower floats may be worked on in float32."""
    return 1e-12 if str(dtype) == "float64" else 1e-6


def ref_loss(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Cross-entropy per sample, shape (E, N), by PyTorch in float64."""
    xt = torch.from_numpy(np.asarray(x, dtype=np.float64))
    yt = torch.from_numpy(np.asarray(y, dtype=np.int64))
    return np.stack([F.cross_entropy(xt[e], yt, reduction="none").numpy() for e in range(len(x))])


def only(run_path: Path | str, **kw):  # type: ignore[no-untyped-def]
    run = load_run(run_path, **kw)
    assert list(run.splits) == ["default"]
    return run.splits["default"]


# -- numpy ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_numpy_save_stacked(tmp_path: Path, data, dtype) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    xs = x.astype(dtype)
    np.save(tmp_path / "logits.npy", xs)
    np.save(tmp_path / "labels.npy", y)
    s = only(tmp_path)
    assert (s.dtype, s.input_kind, s.kind_detected) == (np.dtype(dtype).name, "logits", True)
    assert s.epochs == [1, 2, 3] and s.n_classes == C and s.n_samples == N
    np.testing.assert_allclose(s.loss, ref_loss(xs, y), rtol=rtol(s.dtype), atol=1e-12)
    np.testing.assert_array_equal(s.pred, xs.astype(np.float64).argmax(axis=2))
    np.testing.assert_array_equal(s.labels, np.tile(y, (E, 1)))


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_numpy_savez_single_file(tmp_path: Path, data, save) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    save(tmp_path / "run.npz", logits=x.astype(np.float32), labels=y, ids=np.arange(N) * 3)
    s = only(tmp_path / "run.npz")
    np.testing.assert_allclose(s.loss, ref_loss(x.astype(np.float32), y), rtol=rtol("float32"))
    np.testing.assert_array_equal(s.ids, np.arange(N) * 3)
    assert s.has_ids and s.aligned


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_numpy_savez_per_epoch(tmp_path: Path, data, save) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    for e in range(E):
        save(tmp_path / f"epoch_{e + 1}.npz", logits=x[e], labels=y)
    s = only(tmp_path)
    np.testing.assert_allclose(s.loss, ref_loss(x, y), rtol=1e-12)


def test_npz_positional_arrays_are_refused_with_the_keys_found(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    np.savez(tmp_path / "epoch_1.npz", x[0], y)
    with pytest.raises(InputError) as info:
        load_run(tmp_path)
    assert info.value.problem == (
        "holds no scores: none of the keys logits, outputs, predictions, preds, probs, scores, "
        "log_probs, y_pred, y_score, probabilities (found: arr_0, arr_1)"
    )


# -- torch ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_torch_save_per_epoch(tmp_path: Path, data, dtype: str) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    tdt = getattr(torch, dtype)
    for e in range(E):
        t = torch.from_numpy(x[e]).to(tdt)
        torch.save({"logits": t, "labels": torch.from_numpy(y)}, tmp_path / f"epoch{e + 1}.pt")
    s = only(tmp_path)
    assert s.dtype == dtype
    stored = np.stack([torch.from_numpy(x[e]).to(tdt).double().numpy() for e in range(E)])
    np.testing.assert_allclose(s.loss, ref_loss(stored, y), rtol=rtol(dtype), atol=1e-12)


def test_torch_bfloat16_equals_its_float32_upcast(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    (tmp_path / "bf16").mkdir()
    (tmp_path / "f32").mkdir()
    for e in range(E):
        t = torch.from_numpy(x[e]).to(torch.bfloat16)
        torch.save({"logits": t, "labels": y.tolist()}, tmp_path / "bf16" / f"epoch_{e + 1}.pth")
        torch.save(
            {"logits": t.float(), "labels": y.tolist()}, tmp_path / "f32" / f"epoch_{e + 1}.pt"
        )
    bf, f32 = only(tmp_path / "bf16"), only(tmp_path / "f32")
    assert (bf.dtype, f32.dtype) == ("bfloat16", "float32")
    for field in ("loss", "pred", "correct", "p_true", "confidence", "margin", "labels"):
        np.testing.assert_array_equal(getattr(bf, field), getattr(f32, field), err_msg=field)
    # and bfloat16 really did lose precision: the values are not the float64 originals
    assert not np.allclose(bf.loss, ref_loss(x, y), rtol=1e-6)


def test_torch_save_stacked_single_file(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    obj = {
        "scores": torch.from_numpy(x),
        "targets": torch.from_numpy(y),
        "sample_ids": list(range(N)),
    }
    torch.save(obj, tmp_path / "run.pt")
    s = only(tmp_path / "run.pt")
    np.testing.assert_allclose(s.loss, ref_loss(x, y), rtol=1e-12)
    assert s.has_ids and s.epochs == [1, 2, 3]


def test_torch_bare_tensors_named_by_file(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    torch.save(torch.from_numpy(x), tmp_path / "logits.pt")
    torch.save(torch.from_numpy(y), tmp_path / "labels.pt")
    s = only(tmp_path)
    np.testing.assert_allclose(s.loss, ref_loss(x, y), rtol=1e-12)


def test_torch_legacy_serialisation(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    obj = {"logits": torch.from_numpy(x[0]), "labels": torch.from_numpy(y)}
    torch.save(obj, tmp_path / "epoch_1.pt", _use_new_zipfile_serialization=False)
    s = only(tmp_path)
    np.testing.assert_allclose(s.loss, ref_loss(x[:1], y), rtol=1e-12)


def test_torch_tensors_saved_with_requires_grad(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    w = torch.ones(C, dtype=torch.float64, requires_grad=True)
    logits = torch.from_numpy(x[0]) * w  # a non-leaf tensor of a graph, not detached
    torch.save({"logits": logits, "labels": torch.from_numpy(y)}, tmp_path / "epoch_1.pt")
    np.testing.assert_allclose(only(tmp_path).loss, ref_loss(x[:1], y), rtol=1e-12)


def test_pt_container_keeps_only_arrays(tmp_path: Path) -> None:
    obj = {"logits": torch.zeros(2, 3), "labels": [0, 2], "name": "run 1", "lr": 0.1, "meta": {}}
    torch.save(obj, tmp_path / "x.pt")
    c = PtContainer(tmp_path / "x.pt")
    assert sorted(c.keys()) == ["labels", "logits"]
    assert c.shape("logits") == (2, 3) and c.dtype_name("logits") == "float32"
    np.testing.assert_array_equal(c.read("labels"), [0, 2])


# -- Dataset Cartography -------------------------------------------------------------------


def write_cartography(folder: Path, x: np.ndarray, y: np.ndarray, guids: list) -> None:  # type: ignore[type-arg]
    folder.mkdir(exist_ok=True)
    for e in range(len(x)):
        with open(folder / f"dynamics_epoch_{e}.jsonl", "w") as fh:
            for i in range(x.shape[1]):
                rec = {"guid": guids[i], f"logits_epoch_{e}": x[e, i].tolist(), "gold": int(y[i])}
                fh.write(json.dumps(rec) + "\n")


def test_dataset_cartography_jsonl(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    guids = [50325, 11, 7, 900, 3, 42, 8]
    write_cartography(tmp_path / "run", x, y, guids)
    s = only(tmp_path / "run")
    order = np.argsort(guids)
    assert s.epochs == [0, 1, 2]  # the numbers in the file names
    assert (s.dtype, s.has_ids, s.aligned) == ("float64", True, True)
    np.testing.assert_array_equal(s.ids, np.sort(guids))
    np.testing.assert_allclose(s.loss, ref_loss(x, y)[:, order], rtol=1e-12)


def test_dataset_cartography_string_guids(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    guids = [f"ex-{i}" for i in (5, 1, 3, 0, 6, 2, 4)]
    write_cartography(tmp_path / "run", x[:2], y, guids)
    s = only(tmp_path / "run")
    np.testing.assert_array_equal(s.ids, sorted(guids))
    np.testing.assert_allclose(s.loss, ref_loss(x[:2], y)[:, np.argsort(guids)], rtol=1e-12)


def test_jsonl_container_fields(tmp_path: Path) -> None:
    path = tmp_path / "dynamics_epoch_4.jsonl"
    path.write_text(
        '{"guid": 3, "logits_epoch_4": [0.5, -1.0], "gold": 1}\n\n'
        '{"guid": 1, "logits_epoch_4": [2.0, 0.25], "gold": 0}\n'
    )
    c = JsonlContainer(path)
    assert c.keys() == ["logits", "labels", "ids"]
    np.testing.assert_array_equal(c.read("logits"), [[0.5, -1.0], [2.0, 0.25]])
    np.testing.assert_array_equal(c.read("labels"), [1, 0])
    np.testing.assert_array_equal(c.read("ids"), [3, 1])


def test_jsonl_missing_field(tmp_path: Path) -> None:
    path = tmp_path / "dynamics_epoch_0.jsonl"
    path.write_text('{"guid": 3, "logits": [0.5, -1.0], "gold": 1}\n')
    with pytest.raises(InputError) as info:
        JsonlContainer(path)
    assert info.value.problem == "line 1 lacks one of the fields guid, logits_epoch_N, gold"


# -- every documented array key ------------------------------------------------------------


@pytest.mark.parametrize("key", SCORE_KEYS)
def test_every_score_key(tmp_path: Path, data, key: str) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    scores = named_kind(key, x)  # the kind a key names (tests/store/test_kind_claims.py)
    np.savez(tmp_path / "run.npz", **{key: scores, "labels": y})
    np.testing.assert_allclose(only(tmp_path).loss, ref_loss(x, y), rtol=1e-12)
    # and as a file name beside labels.npy
    (tmp_path / "run.npz").unlink()
    np.save(tmp_path / f"{key}.npy", scores)
    np.save(tmp_path / "labels.npy", y)
    np.testing.assert_allclose(only(tmp_path).loss, ref_loss(x, y), rtol=1e-12)


def named_kind(key: str, x: np.ndarray) -> np.ndarray:
    """Logits ``x`` as the kind ``key`` names (``probs``, ``log_probs``), by PyTorch in float64;
    as they are for keys that name none."""
    if key in ("probs", "probabilities"):
        return torch.softmax(torch.from_numpy(x), dim=-1).numpy()
    if key == "log_probs":
        return torch.log_softmax(torch.from_numpy(x), dim=-1).numpy()
    return x


@pytest.mark.parametrize(("label_key", "id_key"), list(zip(LABEL_KEYS, itertools.cycle(ID_KEYS))))
def test_every_label_and_id_key(tmp_path: Path, data, label_key: str, id_key: str) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    ids = np.array([30, 10, 60, 20, 0, 50, 40])
    for e in range(E):
        np.savez(tmp_path / f"epoch_{e}.npz", logits=x[e], **{label_key: y, id_key: ids})
    s = only(tmp_path)
    assert s.has_ids
    np.testing.assert_array_equal(s.ids, np.sort(ids))
    np.testing.assert_allclose(s.loss, ref_loss(x, y)[:, np.argsort(ids)], rtol=1e-12)


@pytest.mark.parametrize("label_key", LABEL_KEYS)
def test_labels_file_names(tmp_path: Path, data, label_key: str) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    np.save(tmp_path / "logits.npy", x)
    np.save(tmp_path / f"{label_key}.npy", y)
    np.save(tmp_path / "sample_ids.npy", np.arange(N)[::-1].copy())
    s = only(tmp_path)
    np.testing.assert_allclose(s.loss, ref_loss(x, y)[:, ::-1], rtol=1e-12)


# -- containers directly ---------------------------------------------------------------------


def test_npy_container_reads_header_without_data(tmp_path: Path) -> None:
    np.save(tmp_path / "logits.npy", np.zeros((2, 5, 3), dtype=np.float16))
    c = NpyContainer(tmp_path / "logits.npy", "logits")
    assert (c.keys(), c.shape("logits"), c.dtype_name("logits")) == (
        ["logits"],
        (2, 5, 3),
        "float16",
    )


def test_npy_container_fortran_order_rows(tmp_path: Path) -> None:
    x = np.asfortranarray(np.arange(24, dtype=np.float32).reshape(2, 4, 3))
    np.save(tmp_path / "logits.npy", x)
    rows = list(NpyContainer(tmp_path / "logits.npy", "logits").iter_rows("logits"))
    np.testing.assert_array_equal(np.stack(rows), x)


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_npz_container_rows(tmp_path: Path, save) -> None:  # type: ignore[no-untyped-def]
    x = np.arange(60, dtype=np.float64).reshape(3, 5, 4)
    save(tmp_path / "a.npz", logits=x, fortran=np.asfortranarray(x))
    c = NpzContainer(tmp_path / "a.npz")
    assert sorted(c.keys()) == ["fortran", "logits"]
    for key in ("logits", "fortran"):
        np.testing.assert_array_equal(np.stack(list(c.iter_rows(key))), x)
        np.testing.assert_array_equal(c.read(key), x)
    c.close()
