"""What training code actually writes (issue 11): evaluation folders, step labels, token-level
scores, the keys people use, tables, safetensors and pre-reduced records.

Every layout is written with the library users write it with (numpy, pyarrow,
safetensors, torch) and the losses are checked against PyTorch's ``cross_entropy``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.feather
import pyarrow.parquet as pq
import pytest
import safetensors.numpy
import torch
from click.testing import CliRunner

from predaudit import from_arrays, load_run
from predaudit.analysis.analyze import analyze_split
from predaudit.analysis.inspect import inspect_split
from predaudit.cli import main
from predaudit.errors import InputError
from tests.io.test_readers import named_kind

F = torch.nn.functional
E, N, C = 3, 8, 4


def ce(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """PyTorch cross-entropy per row (float64), NaN where the label is -100."""
    xt = torch.from_numpy(np.asarray(x, dtype=np.float64).reshape(-1, x.shape[-1]))
    yt = torch.from_numpy(np.asarray(y).reshape(-1).astype(np.int64))
    out = F.cross_entropy(xt, yt, reduction="none", ignore_index=-100).numpy()
    return np.where(yt.numpy() == -100, np.nan, out)


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    return rng.normal(scale=2.0, size=(E, N, C)), rng.integers(0, C, N)


def only(path: Path, **kw: object):  # type: ignore[no-untyped-def]
    run = load_run(path, **kw)  # type: ignore[arg-type]
    assert list(run.splits) == ["default"]
    return run.splits["default"]


# -- one folder per evaluation -------------------------------------------------------------


FOLDERS = {
    "checkpoint-{n}": "step",
    "step_{n}": "step",
    "step-{n}": "step",
    "global_step{n}": "step",
    "epoch={e}-step={n}": "step",
    "ckpt-{n}": "step",
    "epoch_{n}": "epoch",
}


@pytest.mark.parametrize(("pattern", "unit"), list(FOLDERS.items()))
def test_evaluation_folders_are_the_epochs_of_one_run(tmp_path: Path, data, pattern, unit) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    numbers = [500, 1000, 40]  # 1000 before 500 in file-name order: ordered numerically
    for i, n in enumerate(numbers):
        d = tmp_path / pattern.format(n=n, e=i)
        d.mkdir()
        np.save(d / "predictions.npy", x[i])
        np.save(d / "label_ids.npy", y)
        for junk in ("optimizer.pt", "scheduler.pt", "rng_state.pth", "training_args.bin"):
            (d / junk).write_bytes(b"not predictions")
        (d / "trainer_state.json").write_text("{}")
        (d / "config.json").write_text("{}")
        safetensors.numpy.save_file(
            {"weight": np.zeros((2, 2), np.float32)}, d / "model.safetensors"
        )
    s = only(tmp_path)
    assert s.epochs == sorted(numbers) and s.epoch_unit == unit
    order = [numbers.index(n) for n in sorted(numbers)]
    np.testing.assert_allclose(s.loss, np.stack([ce(x[i], y) for i in order]), rtol=1e-12)


def test_lightning_folder_is_labelled_by_its_step(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    for i, (e, n) in enumerate(((0, 400), (1, 800), (2, 1200))):
        d = tmp_path / f"epoch={e}-step={n}"
        d.mkdir()
        np.savez(d / "eval.npz", logits=x[i], labels=y)
    s = only(tmp_path)
    assert (s.epochs, s.epoch_unit) == ([400, 800, 1200], "step")


def test_every_container_in_an_evaluation_folder_and_eval_prefixes(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    for i, n in enumerate((10, 20, 30)):
        d = tmp_path / f"checkpoint-{n}"
        d.mkdir()
        if i == 0:
            np.savez(d / "predictions.npz", logits=x[i], labels=y)
        elif i == 1:
            torch.save(
                {"logits": torch.from_numpy(x[i]), "labels": torch.from_numpy(y)}, d / "out.pt"
            )
        else:
            safetensors.numpy.save_file({"logits": x[i], "labels": y}, d / "eval.safetensors")
        np.save(d / "eval_predictions.npy", x[i] * 2)
        np.save(d / "eval_label_ids.npy", y)
    run = load_run(tmp_path)
    assert sorted(run.splits) == ["default", "eval"]
    for name, scale in (("default", 1.0), ("eval", 2.0)):
        s = run.splits[name]
        assert (s.epochs, s.epoch_unit) == ([10, 20, 30], "step")
        np.testing.assert_allclose(
            s.loss, np.stack([ce(x[i] * scale, y) for i in range(3)]), rtol=1e-12
        )


@pytest.mark.parametrize("name", ["step_{n}.pt", "checkpoint_{n}.npz", "global_step_{n}.npy"])
def test_step_numbers_in_file_names(tmp_path: Path, data, name: str) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    for i, n in enumerate((5, 50, 500)):
        p = tmp_path / name.format(n=n)
        if p.suffix == ".pt":
            torch.save({"logits": torch.from_numpy(x[i]), "labels": torch.from_numpy(y)}, p)
        elif p.suffix == ".npz":
            np.savez(p, logits=x[i], labels=y)
        else:
            np.save(p, x[i])
    if name.endswith(".npy"):
        np.save(tmp_path / "labels.npy", y)
    s = only(tmp_path)
    assert (s.epochs, s.epoch_unit) == ([5, 50, 500], "step")
    np.testing.assert_allclose(s.loss, np.stack([ce(x[i], y) for i in range(3)]), rtol=1e-12)


def test_mixed_epoch_and_step_folders_are_an_error(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    for name in ("checkpoint-5", "epoch_2"):
        (tmp_path / name).mkdir()
        np.savez(tmp_path / name / "eval.npz", logits=x[0], labels=y)
    with pytest.raises(InputError) as info:
        load_run(tmp_path)
    assert str(info.value) == (
        f"{tmp_path / 'epoch_2'}, {tmp_path / 'checkpoint-5'}: evaluation folders mix epoch and "
        "step numbers; keep one kind of name"
    )


def test_one_epoch_splits_differing_by_a_number_are_an_error(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    for n in (100, 200):
        (tmp_path / f"model_{n}").mkdir()
        np.savez(tmp_path / f"model_{n}" / "eval.npz", logits=x[0], labels=y)
    with pytest.raises(InputError) as info:
        load_run(tmp_path)
    assert str(info.value) == (
        f"{tmp_path}: splits model_100, model_200 each hold one epoch and differ only by a "
        "number: they look like the evaluations of one run; name them checkpoint-N, step_N or "
        "epoch_N (folders or files) to read them as one split"
    )


def test_step_unit_in_tables_and_json(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    for i, n in enumerate((100, 200, 300)):
        (tmp_path / f"checkpoint-{n}").mkdir()
        np.savez(tmp_path / f"checkpoint-{n}" / "eval.npz", logits=x[i], labels=y)
    r = CliRunner().invoke(main, ["analyze", str(tmp_path), "--format", "json", "--no-cache"])
    assert r.exit_code == 0, r.output
    split = json.loads(r.output)["splits"]["default"]
    assert (split["epoch_unit"], split["sample_unit"]) == ("step", "sample")
    r = CliRunner().invoke(main, ["analyze", str(tmp_path), "--format", "markdown", "--no-cache"])
    assert "| step | loss | accuracy |" in r.output
    assert "8 samples · 4 classes · steps 100–300 · logits" in r.output
    r = CliRunner().invoke(main, ["inspect", str(tmp_path), "--format", "json", "--no-cache"])
    assert json.loads(r.output)["splits"]["default"]["epoch_unit"] == "step"


# -- token-level evaluations ---------------------------------------------------------------


S, T = 3, 5


@pytest.fixture
def tokens() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(9)
    y = rng.integers(0, C, (S, T))
    y[:, -2:] = -100  # padding
    y[0, 0] = -100  # [CLS]
    return rng.normal(size=(E, S, T, C)).astype(np.float32), y


def test_per_epoch_token_files_form_an_ordinary_run(tmp_path: Path, tokens) -> None:  # type: ignore[no-untyped-def]
    x, y = tokens
    for e in range(E):
        d = tmp_path / f"checkpoint-{(e + 1) * 10}"
        d.mkdir()
        np.save(d / "predictions.npy", x[e])
        np.save(d / "label_ids.npy", y)
    s = only(tmp_path)
    assert (s.sample_unit, s.tokens_per_sequence, s.n_rows) == ("token", T, S * T)
    assert s.n_samples == int((y != -100).sum()) and s.n_ignored == int((y == -100).sum())
    np.testing.assert_array_equal(s.ids, np.arange(S * T))
    ref = np.stack([ce(x[e], y) for e in range(E)])
    np.testing.assert_allclose(s.loss, ref, rtol=1e-6, equal_nan=True)
    a = analyze_split(s, top=3)
    assert a.comparison is not None
    i, j = s.epochs.index(a.comparison.from_epoch), s.epochs.index(a.comparison.to_epoch)
    delta = ref[j] - ref[i]
    worst = [k for k in np.argsort(-np.nan_to_num(delta, nan=-np.inf), kind="stable")][:3]
    assert [(t.sequence, t.position) for t in a.top] == [divmod(int(i), T) for i in worst]
    d = a.to_dict()
    assert d["sample_unit"] == "token" and d["top"][0]["sequence"] == worst[0] // T


def test_a_single_token_file_is_one_epoch_with_layout_tokens(tmp_path: Path, tokens) -> None:  # type: ignore[no-untyped-def]
    x, y = tokens
    np.savez(tmp_path / "eval.npz", predictions=x[0], label_ids=y)
    with pytest.raises(InputError) as info:
        load_run(tmp_path / "eval.npz")
    assert str(info.value) == (
        f"{tmp_path / 'eval.npz'}: scores of shape ({S}, {T}, {C}) with labels of shape "
        f"({S}, {T}) could be [epochs, samples, classes] with labels per epoch or [sequences, "
        "tokens, classes] (one evaluation); pass --layout epochs or --layout tokens"
    )
    s = only(tmp_path / "eval.npz", layout="tokens")
    assert (s.epochs, s.n_rows, s.sample_unit) == ([1], S * T, "token")
    np.testing.assert_allclose(s.loss[0], ce(x[0], y), rtol=1e-6, equal_nan=True)
    r = CliRunner().invoke(
        main, ["inspect", str(tmp_path / "eval.npz"), "--layout", "tokens", "--format", "json"]
    )
    assert json.loads(r.output)["splits"]["default"]["sample_unit"] == "token", r.output
    s = from_arrays(x[0], y, layout="tokens").splits["default"]
    assert s.n_rows == S * T
    with pytest.raises(InputError):
        from_arrays(x[0], y)


def test_layout_tokens_with_sample_labels_is_an_error(tmp_path: Path, tokens) -> None:  # type: ignore[no-untyped-def]
    x, _ = tokens
    with pytest.raises(InputError) as info:
        from_arrays(x[0], np.zeros(T, dtype=np.int64), layout="tokens")
    assert info.value.problem == (
        f"token-level scores of shape ({S}, {T}, {C}) need labels of shape ({S}, {T}); the "
        f"labels have shape ({T},)"
    )


# -- the keys people use -------------------------------------------------------------------


@pytest.mark.parametrize("score_key", ["y_pred", "y_score", "probabilities"])
@pytest.mark.parametrize("label_key", ["label", "target", "y_true", "y_test", "y_val", "gold"])
def test_new_keys_in_containers(tmp_path: Path, data, score_key: str, label_key: str) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    scores = named_kind(score_key, x)  # probabilities under 'probabilities'
    np.savez(tmp_path / "run.npz", **{score_key: scores, label_key: y, "uid": np.arange(N)[::-1]})
    s = only(tmp_path)
    assert s.has_ids
    np.testing.assert_allclose(
        s.loss, np.stack([ce(x[e], y) for e in range(E)])[:, ::-1], rtol=1e-12
    )


def test_new_keys_as_file_stems(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    for e in range(E):
        np.save(tmp_path / f"preds_epoch{e + 1:03d}.npy", x[e])
    np.save(tmp_path / "y_test.npy", y)
    np.save(tmp_path / "index.npy", np.arange(N))
    s = only(tmp_path)
    assert s.epochs == [1, 2, 3] and s.has_ids
    np.testing.assert_allclose(s.loss, np.stack([ce(x[e], y) for e in range(E)]), rtol=1e-12)
    # with split prefixes
    for p in tmp_path.iterdir():
        p.unlink()
    for split in ("val", "test"):
        np.save(tmp_path / f"{split}_y_pred.npy", x)
        np.save(tmp_path / f"{split}_target.npy", y)
    assert sorted(load_run(tmp_path).splits) == ["test", "val"]


def test_no_scores_lists_the_accepted_and_found_names(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    np.savez(tmp_path / "epoch_1.npz", out=x[0], lbl=y)
    with pytest.raises(InputError) as info:
        load_run(tmp_path)
    assert info.value.problem == (
        "holds no scores: none of the keys logits, outputs, predictions, preds, probs, scores, "
        "log_probs, y_pred, y_score, probabilities (found: out, lbl)"
    )
    np.savez(tmp_path / "epoch_1.npz", logits=x[0], lbl=y)
    with pytest.raises(InputError) as info:
        load_run(tmp_path)
    assert info.value.problem == (
        "has scores but no labels: none of the keys labels, targets, y, label_ids, label, "
        "target, y_true, y_test, y_val, gold (found: logits, lbl); and no labels file beside it"
    )


# -- tables --------------------------------------------------------------------------------


def wide(x: np.ndarray, y: np.ndarray, prefix: str = "logit", ids=None) -> pa.Table:  # type: ignore[no-untyped-def]
    cols = {"label": y} | ({"id": ids} if ids is not None else {})
    cols |= {f"{prefix}_{k}": x[:, k] for k in range(x.shape[1])}
    return pa.table(cols)


@pytest.mark.parametrize("suffix", [".parquet", ".feather", ".arrow", ".csv"])
def test_per_epoch_tables(tmp_path: Path, data, suffix: str) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    for e in range(E):
        t = wide(x[e], y, ids=np.arange(N)[::-1].copy())
        path = tmp_path / f"epoch_{e + 1:03d}{suffix}"
        if suffix == ".parquet":
            pq.write_table(t, path)
        elif suffix == ".csv":
            pacsv.write_csv(t, path)
        else:
            pyarrow.feather.write_feather(t, path)
    s = only(tmp_path)
    assert s.epochs == [1, 2, 3] and s.has_ids and s.dtype == "float64"
    np.testing.assert_allclose(
        s.loss, np.stack([ce(x[e], y) for e in range(E)])[:, ::-1], rtol=1e-12
    )


def test_pandas_parquet_example_of_the_readme(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    import pandas as pd

    x, y = data
    for e in range(E):
        df = pd.DataFrame(
            {"label": y}
            | {f"prob_{k}": F.softmax(torch.from_numpy(x[e]), 1)[:, k].numpy() for k in range(C)}
        )
        df.to_parquet(tmp_path / f"epoch_{e:03d}.parquet")
    s = only(tmp_path)
    assert s.input_kind == "probs" and s.epochs == [0, 1, 2]
    np.testing.assert_allclose(s.loss, np.stack([ce(x[e], y) for e in range(E)]), rtol=1e-9)


def test_long_table_is_every_epoch_in_one_file(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    rng = np.random.default_rng(1)
    parts = []
    for e in (2, 4, 6):
        p = rng.permutation(N)
        xs = np.log(F.softmax(torch.from_numpy(x[e // 2 - 1]), 1).numpy())
        parts.append(
            pa.table(
                {"epoch": np.full(N, e), "id": p, "y_true": y[p]}
                | {f"log_prob_{k}": xs[p, k] for k in range(C)}
            )
        )
    pq.write_table(pa.concat_tables(parts), tmp_path / "predictions.parquet")
    s = only(tmp_path)
    assert (s.epochs, s.input_kind, s.files) == (
        [2, 4, 6],
        "log_probs",
        [str(tmp_path / "predictions.parquet")],
    )
    np.testing.assert_allclose(s.loss, np.stack([ce(x[e], y) for e in range(E)]), rtol=1e-9)


def test_table_errors(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    path = tmp_path / "epoch_1.parquet"
    t = wide(x[0], y, "prob").drop_columns(["prob_2"])
    pq.write_table(t, path)
    with pytest.raises(InputError) as info:
        load_run(tmp_path)
    assert str(info.value) == (
        f"{path}: has score columns prob_0 … prob_3 but no prob_2; number them 0..C-1 without gaps"
    )
    pq.write_table(wide(x[0], y).append_column("p_9", pa.array(np.zeros(N))), path)
    with pytest.raises(InputError) as info:
        load_run(tmp_path)
    assert info.value.problem == "mixes score columns logit_K and p_K; keep one"
    pq.write_table(pa.table({"label": y, "score": x[0, :, 0]}), path)
    with pytest.raises(InputError) as info:
        load_run(tmp_path)
    assert info.value.problem == (
        "holds no scores: no score columns logit_K, prob_K, p_K or log_prob_K (K = 0..C-1) and "
        "no loss column (found: label, score)"
    )


def test_tables_without_pyarrow_name_the_extra(tmp_path: Path, data, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import builtins

    x, y = data
    pq.write_table(wide(x[0], y), tmp_path / "epoch_1.parquet")
    real = builtins.__import__

    def no_pyarrow(name, *a, **kw):  # type: ignore[no-untyped-def]
        if name == "pyarrow" or name.startswith("pyarrow."):
            raise ImportError(name)
        return real(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    with pytest.raises(InputError) as info:
        load_run(tmp_path)
    assert str(info.value) == (
        f"{tmp_path / 'epoch_1.parquet'}: is a Parquet file but pyarrow is not installed; "
        "pip install 'predaudit[tables]'"
    )


# -- safetensors ---------------------------------------------------------------------------


def test_safetensors_like_npz(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    safetensors.numpy.save_file(
        {"logits": x.astype(np.float32), "labels": y, "ids": np.arange(N)},
        tmp_path / "run.safetensors",
    )
    s = only(tmp_path)
    assert s.epochs == [1, 2, 3] and s.dtype == "float32"
    np.testing.assert_allclose(
        s.loss, np.stack([ce(x[e].astype(np.float32), y) for e in range(E)]), rtol=1e-6
    )


def test_safetensors_bfloat16(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    from safetensors.torch import save_file

    x, y = data
    xb = torch.from_numpy(x[0]).to(torch.bfloat16)
    save_file({"logits": xb, "labels": torch.from_numpy(y)}, tmp_path / "epoch_1.safetensors")
    s = only(tmp_path)
    assert s.dtype == "bfloat16"
    np.testing.assert_allclose(s.loss[0], ce(xb.float().numpy(), y), rtol=1e-5)


# -- pre-reduced records -------------------------------------------------------------------


def test_pre_reduced_records_give_the_numbers_of_the_scores(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    x, y = data
    ids = np.arange(N) * 3 + 7
    full = from_arrays(list(x), y, ids=ids).splits["default"]
    rows = {
        "epoch": [],
        "id": [],
        "loss": [],
        "pred": [],
        "label": [],
        "p_true": [],
        "confidence": [],
        "margin": [],
    }
    for i, e in enumerate(full.epochs):
        for j in np.random.default_rng(i).permutation(N):
            rows["epoch"].append(e)
            rows["id"].append(int(full.ids[j]))
            rows["loss"].append(float(full.loss[i, j]))
            rows["pred"].append(int(full.pred[i, j]))
            rows["label"].append(int(full.labels[i, j]))
            for k in ("p_true", "confidence", "margin"):
                rows[k].append(float(getattr(full, k)[i, j]))
    pq.write_table(pa.table(rows), tmp_path / "records.parquet")
    red = only(tmp_path)
    assert red.input_kind == "reduced" and red.n_classes == full.n_classes
    np.testing.assert_array_equal(red.loss, full.loss)
    a, b = analyze_split(red, top=3).to_dict(), analyze_split(full, top=3).to_dict()
    for k in ("per_epoch", "comparison", "hypothesis", "top", "n_samples", "aligned"):
        if k == "comparison":  # a temperature is fitted on scores; records have none
            a[k].pop("temperature", None), b[k].pop("temperature", None)
        assert a[k] == b[k], k
    ia, ib = inspect_split(red).to_dict(), inspect_split(full).to_dict()
    assert ia["input_kind"] == "reduced" and ia["epochs"] == ib["epochs"]
    r = CliRunner().invoke(main, ["confusion", str(tmp_path), "--format", "json", "--no-cache"])
    assert r.exit_code == 0, r.output
    # correct instead of pred + label, in an .npz: analyze works, confusion says what it needs
    (tmp_path / "records.parquet").unlink()
    correct = np.array(rows["pred"]) == np.array(rows["label"])
    keep = {k: np.array(rows[k]) for k in ("epoch", "id", "loss")}
    np.savez(tmp_path / "records.npz", correct=correct, **keep)
    red = only(tmp_path)
    assert analyze_split(red).to_dict()["per_epoch"] == b["per_epoch"]
    r = CliRunner().invoke(main, ["confusion", str(tmp_path), "--no-cache"])
    assert r.exit_code == 3
    assert r.output.splitlines() == [
        f"Error: {tmp_path / 'records.npz'}: holds pre-reduced records without pred and label "
        "columns; confusion needs both (add pred and label)"
    ]
    r = CliRunner().invoke(main, ["analyze", str(tmp_path), "--format", "json", "--no-cache"])
    assert r.exit_code == 0, r.output


def test_records_without_labels_ignore_a_nan_loss_and_keep_rounding_below_zero(
    tmp_path: Path,
) -> None:
    """Without a label column a NaN loss marks an ignored sample; a loss a rounding below 0
    (-1e-9) is kept as stored. The per-epoch means are the hand-computed ones."""
    loss = np.array([0.5, np.nan, 1.5, -1e-9, 0.25, 0.75, 1.0, 2.0])
    correct = np.array([1, 0, 0, 1, 1, 1, 0, 0], dtype=bool)
    epoch, ids = np.repeat([1, 2], 4), np.tile(np.arange(4), 2)
    np.savez(tmp_path / "records.npz", epoch=epoch, id=ids, loss=loss, correct=correct)
    r = CliRunner().invoke(main, ["analyze", str(tmp_path), "--format", "json", "--no-cache"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)["splits"]["default"]["per_epoch"]
    assert rows[0]["loss"] == pytest.approx((0.5 + 1.5 - 1e-9) / 3, rel=1e-15)
    assert rows[0]["n_samples"] == 3 and rows[0]["n_correct"] == 2
    assert rows[1]["loss"] == pytest.approx((0.25 + 0.75 + 1.0 + 2.0) / 4, rel=1e-15)
    # no pred or label column: no classes are known, and the header does not say "0 classes"
    head = CliRunner().invoke(main, ["analyze", str(tmp_path), "--no-cache"]).stdout
    assert " · 3 samples · epochs 1–2 · reduced" in " ".join(head.split())
    assert "0 classes" not in head


def test_pre_reduced_records_errors(tmp_path: Path) -> None:
    path = tmp_path / "records.npz"
    np.savez(
        path,
        epoch=np.array([1, 1, 2]),
        id=np.array([0, 1, 0]),
        loss=np.ones(3),
        correct=np.ones(3, bool),
    )
    with pytest.raises(InputError) as info:
        load_run(path)
    assert info.value.problem == "the sample ids differ between epochs 1 and 2 (1 missing, e.g. 1)"
    np.savez(path, epoch=np.array([1, 1]), id=np.array([0, 1]), loss=np.ones(2))
    with pytest.raises(InputError) as info:
        load_run(path)
    assert info.value.problem == (
        "holds per-sample losses but neither a correct column nor pred and label columns; "
        "give correct, or pred and label"
    )
