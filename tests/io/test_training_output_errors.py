"""Every new input error of issue 11 as its exact one-line message (path relative to the run)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from predaudit import from_arrays, load_run
from predaudit.cli import main
from predaudit.errors import InputError, OptionError

Y = np.array([0, 1, 2, 1])
X = np.random.default_rng(0).normal(size=(4, 3))


def _folders(root: Path, *names: str) -> None:
    for n in names:
        (root / n).mkdir()
        np.savez(root / n / "eval.npz", logits=X, labels=Y)


def two_folders_one_step(root: Path) -> None:
    _folders(root, "checkpoint-5", "step_5")


def two_scores_in_a_folder(root: Path) -> None:
    _folders(root, "checkpoint-5")
    np.save(root / "checkpoint-5" / "predictions.npy", X)


def labels_without_scores(root: Path) -> None:
    (root / "checkpoint-5").mkdir()
    np.save(root / "checkpoint-5" / "label_ids.npy", Y)


def mixed_units_in_names(root: Path) -> None:
    np.savez(root / "step_5.npz", logits=X, labels=Y)
    np.savez(root / "epoch_2.npz", logits=X, labels=Y)


def split_twice(root: Path) -> None:
    _folders(root, "checkpoint-5")
    np.savez(root / "run.npz", logits=X[None], labels=Y)


def token_labels_wrong(root: Path) -> None:
    (root / "checkpoint-5").mkdir()
    np.save(root / "checkpoint-5" / "predictions.npy", np.zeros((2, 4, 3)))
    np.save(root / "checkpoint-5" / "label_ids.npy", np.zeros(5, dtype=np.int64))


def table_empty_label(root: Path) -> None:
    t = pa.table({"label": pa.array([0, None, 1, 1]), "logit_0": X[:, 0], "logit_1": X[:, 1]})
    pq.write_table(t, root / "epoch_1.parquet")


def table_text_scores(root: Path) -> None:
    t = pa.table({"label": Y, "logit_0": X[:, 0], "logit_1": ["0.5", "1.2", "n/a", "0.1"]})
    pq.write_table(t, root / "epoch_1.parquet")


def table_not_parquet(root: Path) -> None:
    (root / "epoch_1.parquet").write_bytes(b"not a parquet file at all")


def table_float_epochs(root: Path) -> None:
    t = pa.table({"epoch": [1.0, 1.0, 2.5, 2.5], "label": Y, "p_0": X[:, 0], "p_1": X[:, 1]})
    pq.write_table(t, root / "predictions.parquet")


def safetensors_garbage(root: Path) -> None:
    (root / "epoch_1.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{not json")


def records_ids_differ(root: Path) -> None:
    cols = {"epoch": np.array([1, 1, 2]), "id": np.array([0, 1, 0]), "loss": np.ones(3)}
    np.savez(root / "records.npz", correct=np.ones(3, bool), **cols)


def records_without_correct(root: Path) -> None:
    np.savez(root / "records.npz", epoch=np.array([1, 1]), id=np.array([0, 1]), loss=np.ones(2))


def records_duplicate_ids(root: Path) -> None:
    np.savez(root / "records.npz", id=np.array([3, 3]), loss=np.ones(2), correct=np.ones(2, bool))


def records_unequal_columns(root: Path) -> None:
    np.savez(root / "records.npz", loss=np.ones(3), correct=np.ones(2, bool))


def records_bad_correct(root: Path) -> None:
    np.savez(root / "records.npz", loss=np.ones(2), correct=np.array([0, 2]))


def records_rows_differ(root: Path) -> None:
    np.savez(
        root / "records.npz", epoch=np.array([1, 1, 2]), loss=np.ones(3), correct=np.ones(3, bool)
    )


CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "two_folders_one_step": (
        two_folders_one_step,
        "checkpoint-5, step_5: both folders claim step 5",
    ),
    "two_scores_in_a_folder": (
        two_scores_in_a_folder,
        "checkpoint-5/eval.npz, checkpoint-5/predictions.npy: several files hold scores for "
        "split 'default' at step 5; keep one",
    ),
    "labels_without_scores": (
        labels_without_scores,
        "checkpoint-5/label_ids.npy: has labels but the folder holds no scores beside it",
    ),
    "mixed_units_in_names": (
        mixed_units_in_names,
        "epoch_2.npz, step_5.npz: split 'default' mixes epoch and step numbers in its file "
        "names; keep one kind",
    ),
    "split_twice": (split_twice, "run.npz, checkpoint-5/eval.npz: split 'default' is found twice"),
    "token_labels_wrong": (
        token_labels_wrong,
        "checkpoint-5/predictions.npy: per-epoch scores have shape (2, 4, 3); expected [N, C], "
        "[N], or [sequences, tokens, classes] with labels [sequences, tokens]",
    ),
    "table_empty_label": (table_empty_label, "epoch_1.parquet: column 'label' has 1 empty value"),
    "table_text_scores": (
        table_text_scores,
        "epoch_1.parquet: column 'logit_1' holds text ('n/a' at row 2); expected numbers",
    ),
    "table_not_parquet": (
        table_not_parquet,
        "epoch_1.parquet: is not a valid Parquet file (Parquet magic bytes not found in footer)",
    ),
    "table_float_epochs": (
        table_float_epochs,
        "predictions.parquet: column 'epoch' holds 2.5 at row 2; expected integers",
    ),
    "safetensors_garbage": (
        safetensors_garbage,
        "epoch_1.safetensors: is not a valid safetensors file (its header is not JSON: Expecting "
        "property name enclosed in double quotes at line 1, column 2)",
    ),
    "records_ids_differ": (
        records_ids_differ,
        "records.npz: the sample ids differ between epochs 1 and 2 (1 missing, e.g. 1)",
    ),
    "records_without_correct": (
        records_without_correct,
        "records.npz: holds per-sample losses but neither a correct column nor pred and label "
        "columns; give correct, or pred and label",
    ),
    "records_duplicate_ids": (
        records_duplicate_ids,
        "records.npz: sample ids have 1 duplicated value at epoch 1 (e.g. 3); each sample needs "
        "one row per epoch",
    ),
    "records_unequal_columns": (
        records_unequal_columns,
        "records.npz: columns have different lengths (loss 3, correct 2)",
    ),
    "records_bad_correct": (
        records_bad_correct,
        "records.npz: column 'correct' holds values other than 0/1 (or true/false)",
    ),
    "records_rows_differ": (
        records_rows_differ,
        "records.npz: epoch 2 has 1 rows but epoch 1 has 2",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_one_line_error(tmp_path: Path, case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    make, expected = CASES[case]
    make(tmp_path)
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["inspect", ".", "--no-cache"])
    assert r.exit_code == 3, r.output
    lines = r.output.splitlines()
    assert len(lines) == 1
    assert lines[0].replace("./", "") == f"Error: {expected}"


def test_records_cannot_be_calibrated(tmp_path: Path) -> None:
    np.savez(tmp_path / "records.npz", loss=np.ones(2), correct=np.ones(2, bool))
    with pytest.raises(InputError) as info:
        load_run(tmp_path, calibration=True)
    assert str(info.value) == (
        f"{tmp_path / 'records.npz'}: holds pre-reduced records (loss, correct); calibration "
        "needs the scores"
    )


def test_unknown_layout_names_the_parameter() -> None:
    with pytest.raises(OptionError) as info:
        from_arrays(X, Y, layout="sequences")  # type: ignore[arg-type]
    assert str(info.value) == "layout=sequences: expected one of epochs, tokens"


def test_safetensors_without_the_package_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import builtins

    import safetensors.numpy

    safetensors.numpy.save_file({"logits": X, "labels": Y}, tmp_path / "epoch_1.safetensors")
    real = builtins.__import__

    def no_safetensors(name, *a, **kw):  # type: ignore[no-untyped-def]
        if name == "safetensors" or name.startswith("safetensors."):
            raise ImportError(name)
        return real(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", no_safetensors)
    with pytest.raises(InputError) as info:
        load_run(tmp_path)
    assert str(info.value) == (
        f"{tmp_path / 'epoch_1.safetensors'}: is a safetensors file but safetensors is not "
        "installed; pip install 'predaudit[safetensors]'"
    )
    assert os.path.exists(tmp_path / "epoch_1.safetensors")
