"""Zarr stores read by the local engine: the same numbers as the same data in ``.npy``, and
bad stores refused with one line naming the store (exit 3)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import zarr
from click.testing import CliRunner
from engine.layouts import S, T, assert_same_json, sample

from predaudit.cli import main
from predaudit.io.zarr_store import ZarrContainer
from predaudit.store.build import load_run


def run_cli(*args: str):
    return CliRunner().invoke(main, list(args), env={"COLUMNS": "80", "NO_COLOR": "1"})


def analyze_json(path: Path, *extra: str) -> dict:
    r = run_cli("analyze", str(path), "--format", "json", "--no-cache", *extra)
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    d.pop("run", None)
    for s in d["splits"].values():  # the files differ by name only
        s.pop("files", None)
        s.pop("pattern", None)
    return d


def without_paths(d: dict) -> dict:
    return json.loads(json.dumps(d).replace(".zarr", "").replace(".npy", ""))


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    x, y = sample()
    return x[:6], y


def npy_run(root: Path, x: np.ndarray, y: np.ndarray, name: str = "logits") -> Path:
    root.mkdir(parents=True)
    np.save(root / f"{name}.npy", x)
    np.save(root / "labels.npy", y)
    return root


def test_a_stacked_group_reads_as_the_same_npy(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    g = zarr.open_group(str(tmp_path / "run.zarr"), mode="w")
    g.create_array("logits", data=x, chunks=(1, 100, 10))
    g.create_array("labels", data=y, chunks=(64,))
    ref = analyze_json(npy_run(tmp_path / "npy", x, y))
    assert_same_json(without_paths(analyze_json(tmp_path / "run.zarr")), without_paths(ref))
    # the per-sample loss is PyTorch's cross-entropy of the stored logits
    s = load_run(tmp_path / "run.zarr").splits["default"]
    t = torch.tensor(x, dtype=torch.float64).reshape(-1, x.shape[-1])
    ce = torch.nn.functional.cross_entropy(t, torch.tensor(np.tile(y, len(x))), reduction="none")
    np.testing.assert_allclose(s.loss, ce.numpy().reshape(len(x), -1), rtol=1e-6)


def test_an_array_store_beside_labels_npy(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    d = tmp_path / "arr"
    d.mkdir()
    zarr.create_array(str(d / "logits.zarr"), data=x, chunks=(2, 77, 10))
    np.save(d / "labels.npy", y)
    ref = without_paths(analyze_json(npy_run(tmp_path / "npy", x, y)))
    assert_same_json(without_paths(analyze_json(d)), ref)
    assert_same_json(without_paths(analyze_json(d / "logits.zarr")), ref)  # the store itself


def test_one_store_per_epoch(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    d = tmp_path / "per"
    for e in range(len(x)):
        g = zarr.open_group(str(d / f"epoch_{e + 1:03d}.zarr"), mode="w")
        g.create_array("logits", data=x[e], chunks=(50, 10))
        g.create_array("labels", data=y)
    ref = analyze_json(npy_run(tmp_path / "npy", x, y))
    got = analyze_json(d)
    assert got["splits"]["default"]["epochs"] == list(range(1, len(x) + 1))
    assert_same_json(without_paths(got), without_paths(ref))


def test_ids_probabilities_and_binary(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    p = np.exp(x - x.max(-1, keepdims=True)).astype(np.float64)
    p /= p.sum(-1, keepdims=True)
    ids = np.random.default_rng(0).permutation(y.size)
    for name, scores, labels in (
        ("probs", p, y),
        ("logits", (x[..., 1] - x[..., 0]).astype(np.float32), (y == 1).astype(np.int64)),
    ):
        g = zarr.open_group(str(tmp_path / f"{name}.zarr"), mode="w")
        g.create_array(name, data=scores, chunks=(1, 64, *scores.shape[2:]))
        g.create_array("labels", data=labels)
        g.create_array("ids", data=ids)
        ref = tmp_path / f"{name}_npz.npz"
        np.savez(ref, **{name: scores, "labels": labels, "ids": ids})
        assert_same_json(
            without_paths(analyze_json(tmp_path / f"{name}.zarr")),
            json.loads(json.dumps(without_paths(analyze_json(ref))).replace("_npz.npz", "")),
        )


def test_token_level_store(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    lab = y.reshape(S, T).copy()
    lab[:, -2:] = -100
    for e in range(3):
        for fmt in ("zarr", "npy"):
            c = tmp_path / fmt / f"checkpoint-{e + 1}"
            c.mkdir(parents=True)
            if fmt == "zarr":
                zarr.create_array(
                    str(c / "predictions.zarr"), data=x[e].reshape(S, T, -1), chunks=(4, T, 10)
                )
            else:
                np.save(c / "predictions.npy", x[e].reshape(S, T, -1))
            np.save(c / "label_ids.npy", lab)
    got, ref = analyze_json(tmp_path / "zarr"), analyze_json(tmp_path / "npy")
    assert got["splits"]["default"]["sample_unit"] == "token"
    assert_same_json(without_paths(got), without_paths(ref))


def test_a_view_reads_the_rows_numpy_would(tmp_path: Path) -> None:
    a = np.arange(4 * 6 * 3, dtype=np.float32).reshape(4, 6, 3)
    zarr.create_array(str(tmp_path / "logits.zarr"), data=a, chunks=(1, 4, 3))
    v = ZarrContainer(tmp_path / "logits.zarr").read("logits")
    np.testing.assert_array_equal(np.asarray(v), a)
    np.testing.assert_array_equal(v[2][1:5], a[2][1:5])
    np.testing.assert_array_equal(v[-1][:], a[-1])
    np.testing.assert_array_equal(v.reshape(24, 3)[5:17], a.reshape(24, 3)[5:17])
    np.testing.assert_array_equal(v[1][:, 0], a[1][:, 0])
    assert v[3].row_chunk == 4 and v.shape == (4, 6, 3)


def one_line_error(path: Path, *extra: str) -> str:
    r = run_cli("analyze", str(path), "--no-cache", *extra)
    assert r.exit_code == 3, r.output
    assert r.stdout == "" and r.stderr.count("\n") == 1, r.stderr
    return r.stderr


def test_bad_metadata_names_the_store(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    g = zarr.open_group(str(tmp_path / "run.zarr"), mode="w")
    g.create_array("logits", data=x, chunks=(1, 100, 10))
    g.create_array("labels", data=y)
    meta = tmp_path / "run.zarr" / "logits" / "zarr.json"
    meta.write_text(meta.read_text()[:40])
    err = one_line_error(tmp_path / "run.zarr")
    assert err.startswith(f"Error: {tmp_path / 'run.zarr'}: is not a valid zarr store ("), err


def test_a_declared_shape_over_the_budget_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    g = zarr.open_group(str(tmp_path / "run.zarr"), mode="w")
    g.create_array("logits", shape=(10, 10**6, 1000), chunks=(1, 1000, 1000), dtype="float32")
    g.create_array("labels", data=np.zeros(10**6, dtype=np.int64), chunks=(10**5,))
    monkeypatch.setenv("PREDAUDIT_MAX_BYTES", str(2**30))
    err = one_line_error(tmp_path / "run.zarr")
    assert err == (
        f"Error: {tmp_path / 'run.zarr'}: member 'logits' declares 40000000000 bytes of data, "
        f"over the limit of {2**30} bytes (set PREDAUDIT_MAX_BYTES to raise it)\n"
    )


def test_a_corrupt_chunk_names_the_store(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    g = zarr.open_group(str(tmp_path / "run.zarr"), mode="w")
    g.create_array("logits", data=x, chunks=(1, 100, 10))
    g.create_array("labels", data=y)
    chunk = tmp_path / "run.zarr" / "logits" / "c" / "2" / "1" / "0"
    chunk.write_bytes(b"not a chunk" * 10)
    err = one_line_error(tmp_path / "run.zarr")
    assert err.startswith(f"Error: {tmp_path / 'run.zarr'}: array 'logits' cannot be read ("), err
