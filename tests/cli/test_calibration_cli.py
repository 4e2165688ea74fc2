"""``predaudit calibration`` on the command line: --fit-on, errors, JSON schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from click.testing import CliRunner

from predaudit.cli import main

ROOT = Path(__file__).resolve().parents[2]
STACKED = ROOT / "sample_data" / "stacked"


def run(*args: str):
    return CliRunner().invoke(main, ["calibration", str(STACKED), "--no-cache", *args])


def test_fit_on_train_applies_the_train_temperatures_to_test():
    torch = pytest.importorskip("torch")
    opt = pytest.importorskip("scipy.optimize")
    res = run("--split", "test", "--fit-on", "train", "--format", "json")
    assert res.exit_code == 0, res.output
    split = json.loads(res.output)["splits"]["test"]
    assert split["fitted_on"] == "train" and split["comparison"]["fitted_on"] == "train"
    z_all = np.load(STACKED / "train_logits.npy")
    y_all = np.load(STACKED / "train_labels.npy")
    # From epoch 6 on the train split is fitted perfectly: its T* is the lower bound
    # (no interior minimum), so scipy is compared where the train fit converged.
    for epoch in (1, 3, 5):
        z = torch.from_numpy(z_all[epoch - 1].astype(np.float64))
        y = torch.from_numpy((y_all if y_all.ndim == 1 else y_all[epoch - 1]).astype(np.int64))
        f = lambda lt, z=z, y=y: float(torch.nn.functional.cross_entropy(z / np.exp(lt), y))  # noqa: E731
        t = float(np.exp(opt.minimize_scalar(f, bounds=(-5, 5), method="bounded",
                                             options={"xatol": 1e-12}).x))  # fmt: skip
        row = split["per_epoch"][epoch - 1]
        assert row["epoch"] == epoch and row["temperature"] == pytest.approx(t, rel=1e-6)
        assert row["temperature_status"] == "given"


def test_json_validates_against_the_schema():
    res = run("--format", "json")
    assert res.exit_code == 0, res.output
    schema = json.loads((ROOT / "docs/schema/calibration.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(json.loads(res.output))


def test_table_says_the_temperature_was_fitted_on_the_split_itself():
    res = run("--split", "test")
    assert res.exit_code == 0, res.output
    assert "a diagnosis, not a deployable calibration" in res.output
    assert "A single temperature would undo" in res.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--fit-on", "nosuch"),
         f"Error: --fit-on nosuch: no split named 'nosuch' in {STACKED} (splits: test, train)\n"),
        (("--bins", "0"), "Error: --bins 0: must be a whole number of at least 1\n"),
        (("--split", "test", "--fit-on", "test"),
         "Error: --fit-on test: is the analysed split; fit on another split (e.g. val)\n"),
    ],
)  # fmt: skip
def test_bad_options_exit_2_with_one_line(args, message):
    res = run(*args)
    assert res.exit_code == 2
    assert res.output == message


def test_check_on_temperature_share():
    assert run("--split", "test", "--check", "temperature_share > 0.5").exit_code == 0
    assert run("--split", "test", "--check", "ece < 0.001").exit_code == 1


def test_out_writes_json_csv_and_figures(tmp_path):
    res = run("--split", "test", "--out", str(tmp_path / "o"))
    assert res.exit_code == 0, res.output
    names = sorted(p.name for p in (tmp_path / "o").iterdir())
    assert names == ["calibration.json", "calibration_per_epoch.csv", "reliability.png",
                     "temperature.png"]  # fmt: skip


def test_markdown_tables_use_the_typographic_minus():
    res = run("--split", "test", "--format", "markdown")
    assert res.exit_code == 0, res.output
    assert "| correct → correct | 437 | −0.0141 | −0.0076 | −0.0065 |" in res.output
    assert "| ---: | ---: |" in res.output and "-0.0" not in res.output and "—" not in res.output
