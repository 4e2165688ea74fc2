"""``predaudit inspect``: the table and the ``predaudit.inspect/1`` JSON (issue 2, point 4)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from predaudit.cli import main

# The keys issue 2 lists for each split; ``n_clipped`` was added since, and ``n_floored``
# and ``clip`` with exact losses (issue 11, point 7).
ISSUE_SPLIT_KEYS = {
    "epochs",
    "n_samples",
    "n_classes",
    "input_kind",
    "kind_detected",
    "label_format",
    "dtype",
    "has_ids",
    "aligned",
    "n_ignored",
    "files",
}
ADDED_SPLIT_KEYS = {"n_clipped", "n_floored", "clip"}

UNIT_KEYS = {"epoch_unit", "sample_unit"}
"""Added with evaluation folders and token-level scores (issue 11)."""

E, N, C = 3, 8, 4


@pytest.fixture
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Three small runs in ``tmp_path`` (the working directory): stacked, shuffled, binary."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(E, N, C)).astype(np.float32)
    y = rng.integers(0, C, N)
    y[2] = -100
    (tmp_path / "stacked").mkdir()
    np.save(tmp_path / "stacked" / "logits.npy", x)
    np.save(tmp_path / "stacked" / "labels.npy", y)

    (tmp_path / "shuffled").mkdir()
    ids = np.arange(N) * 10
    for i, e in enumerate((1, 2, 10)):
        p = rng.permutation(N)
        np.savez(
            tmp_path / "shuffled" / f"epoch_{e:03d}.npz", logits=x[i][p], labels=y[p], ids=ids[p]
        )

    (tmp_path / "binary").mkdir()
    np.save(tmp_path / "binary" / "test_logits.npy", x[:, :, 0].astype(np.float64))
    np.save(tmp_path / "binary" / "test_labels.npy", np.abs(y) % 2)
    monkeypatch.chdir(tmp_path)
    for var in ("FORCE_COLOR", "NO_COLOR", "TERM", "COLUMNS"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def inspect(*args: str) -> str:
    result = CliRunner().invoke(main, ["inspect", *args], env={"COLUMNS": "100"})
    assert (result.exit_code, result.stderr) == (0, ""), result.output
    return result.stdout


def table_rows(text: str) -> dict[str, str]:
    """The field/value rows of a Rich two-column table."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) == 4 and cells[1]:
            rows[cells[1]] = cells[2]
    return rows


def test_json_stacked(runs: Path) -> None:
    out = json.loads(inspect("stacked", "--format", "json"))
    assert out == {
        "schema": "predaudit.inspect/1",
        "run": "stacked",
        "splits": {
            "default": {
                "epochs": [1, 2, 3],
                "n_samples": 7,
                "epoch_unit": "epoch",
                "sample_unit": "sample",
                "n_classes": 4,
                "input_kind": "logits",
                "kind_detected": True,
                "label_format": "index",
                "dtype": "float32",
                "has_ids": False,
                "aligned": True,
                "n_ignored": 1,
                "n_clipped": 0,
                "n_floored": 0,
                "clip": None,
                "files": ["stacked/logits.npy", "stacked/labels.npy"],
            }
        },
    }


def test_json_per_epoch_shuffled_with_ids(runs: Path) -> None:
    out = json.loads(inspect("shuffled", "--format", "json"))
    assert out == {
        "schema": "predaudit.inspect/1",
        "run": "shuffled",
        "splits": {
            "default": {
                "epochs": [1, 2, 10],
                "n_samples": 7,
                "epoch_unit": "epoch",
                "sample_unit": "sample",
                "n_classes": 4,
                "input_kind": "logits",
                "kind_detected": True,
                "label_format": "index",
                "dtype": "float32",
                "has_ids": True,
                "aligned": True,
                "n_ignored": 1,
                "n_clipped": 0,
                "n_floored": 0,
                "clip": None,
                "files": [
                    "shuffled/epoch_001.npz",
                    "shuffled/epoch_002.npz",
                    "shuffled/epoch_010.npz",
                ],
            }
        },
    }


def test_json_binary_prefixed_split(runs: Path) -> None:
    out = json.loads(inspect("binary", "--format", "json", "--input-kind", "logits"))
    assert out == {
        "schema": "predaudit.inspect/1",
        "run": "binary",
        "splits": {
            "test": {
                "epochs": [1, 2, 3],
                "n_samples": 8,
                "epoch_unit": "epoch",
                "sample_unit": "sample",
                "n_classes": 2,
                "input_kind": "logits",
                "kind_detected": False,
                "label_format": "index",
                "dtype": "float64",
                "has_ids": False,
                "aligned": True,
                "n_ignored": 0,
                "n_clipped": 0,
                "n_floored": 0,
                "clip": None,
                "files": ["binary/test_logits.npy", "binary/test_labels.npy"],
            }
        },
    }


@pytest.mark.parametrize("run", ["stacked", "shuffled", "binary"])
def test_json_keys_are_the_issue_schema(runs: Path, run: str) -> None:
    out = json.loads(inspect(run, "--format", "json"))
    assert list(out) == ["schema", "run", "splits"]
    for split_doc in out["splits"].values():
        assert set(split_doc) == ISSUE_SPLIT_KEYS | ADDED_SPLIT_KEYS | UNIT_KEYS
        assert split_doc["input_kind"] in ("logits", "probs", "log_probs")
        assert split_doc["label_format"] in ("index", "one_hot", "soft")


def test_table_stacked(runs: Path) -> None:
    text = inspect("stacked")
    assert "\x1b[" not in text  # no colour codes when not on a terminal
    assert text.splitlines()[0].strip() == "stacked · split default"
    assert table_rows(text) == {
        "files": "logits.npy, labels.npy",
        "epochs": "3 (1 … 3)",
        "samples": "7",
        "classes": "4",
        "dtype": "float32",
        "score kind": "logits (detected)",
        "labels": "index",
        "sample ids": "none (aligned by position)",
        "ignored (-100)": "1",
    }
    assert max(len(line) for line in text.splitlines()) <= 100


def test_table_shuffled_with_ids(runs: Path) -> None:
    text = inspect("shuffled")
    assert text.splitlines()[0].strip() == "shuffled · split default"
    rows = table_rows(text)
    assert rows["files"] == "epoch_001.npz … epoch_010.npz (3 files)"
    assert rows["epochs"] == "3 (1 … 10)"
    assert rows["sample ids"] == "present, aligned"
    assert rows["ignored (-100)"] == "1"


def test_table_binary_with_given_kind(runs: Path) -> None:
    text = inspect("binary", "--input-kind", "logits")
    assert text.splitlines()[0].strip() == "binary · split test"
    rows = table_rows(text)
    assert (rows["classes"], rows["dtype"], rows["score kind"]) == (
        "2 (one binary score per sample)",
        "float64",
        "logits (given)",
    )
    assert rows["ignored (-100)"] == "0"


def test_table_unaligned_run_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    x = np.random.default_rng(2).normal(size=(2, 4, 3))
    np.save(tmp_path / "logits.npy", x)
    np.save(tmp_path / "labels.npy", np.array([[0, 1, 2, 0], [1, 1, 2, 0]]))
    monkeypatch.chdir(tmp_path)
    rows = table_rows(inspect(".", "--layout", "epochs"))
    assert rows["sample ids"] == "none; labels differ between epochs: NOT aligned (save sample ids)"
    doc = json.loads(inspect(".", "--format", "json", "--layout", "epochs"))
    assert doc["splits"]["default"]["aligned"] is False


def test_split_option(runs: Path) -> None:
    (runs / "both").mkdir()
    for name in ("train", "test"):
        np.save(runs / "both" / f"{name}_logits.npy", np.zeros((2, 3, 2)))
        np.save(runs / "both" / f"{name}_labels.npy", np.array([0, 1, 1]))
    assert list(json.loads(inspect("both", "--format", "json"))["splits"]) == ["test", "train"]
    out = json.loads(inspect("both", "--format", "json", "--split", "train"))
    assert list(out["splits"]) == ["train"]
    bad = CliRunner().invoke(main, ["inspect", "both", "--split", "val"])
    assert bad.exit_code == 2
    assert bad.stderr == "Error: no split named 'val' in both (splits: test, train)\n"


def test_markdown_and_csv(runs: Path) -> None:
    md = inspect("shuffled", "--format", "markdown")
    assert md.startswith("# predaudit inspect `shuffled`\n\n## split `default`\n")
    assert "| samples | 7 |" in md.splitlines()
    assert "| sample ids | present, aligned |" in md.splitlines()
    assert inspect("shuffled", "--format", "csv").splitlines()[1] == (
        "default,3,1,10,7,4,float32,logits,True,index,True,True,1"
    )


def test_a_folder_of_separate_runs_names_them(monkeypatch):
    """sample_data holds two runs (stacked/ and per_epoch/); reading only the shallow one
    would leave the other out without a word."""
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    res = CliRunner().invoke(main, ["inspect", "sample_data"], env={"COLUMNS": "80"})
    assert res.exit_code == 3
    assert res.stderr == (
        "Error: sample_data: holds 2 separate runs: per_epoch/, stacked/; "
        "point at one of them, e.g. sample_data/per_epoch\n"
    )
    assert res.stdout == ""
