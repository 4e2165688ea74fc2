"""`predaudit dynamics` end to end (CliRunner): values against a torch/numpy reference,
dynamics.csv, exit codes and one-line errors, the schema, --check and --out."""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from click.testing import CliRunner

from predaudit.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analysis"))
from test_dynamics_run import reference  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
STACKED = ROOT / "sample_data" / "stacked"
UNALIGNED = ROOT / "tests" / "assets" / "ok" / "unaligned_no_ids"
SCHEMA = json.loads((ROOT / "docs" / "schema" / "dynamics.schema.json").read_text())
COLUMNS = (
    "id,label,confidence,variability,correctness,correct_epochs,forgetting_events,"
    "first_learned,aum,el2n,region"
)


def run_cli(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args], env={"COLUMNS": "80", "NO_COLOR": "1"})


@pytest.fixture(scope="module")
def ref() -> dict[str, np.ndarray]:
    return reference(np.load(STACKED / "test_logits.npy"), np.load(STACKED / "test_labels.npy"))


def test_json_matches_the_reference_and_validates(ref):
    res = run_cli("dynamics", STACKED, "--split", "test", "--format", "json", "--top", "4")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    d = doc["splits"]["test"]
    rows = d["per_sample"]
    for key in ("confidence", "variability", "correctness", "aum", "el2n"):
        got = np.array([r[key] for r in rows], dtype=float)
        np.testing.assert_allclose(got, ref[key], rtol=1e-5, atol=1e-6, err_msg=key)
    assert [r["forgetting_events"] for r in rows] == ref["forgetting_events"].tolist()
    assert len(d["most_ambiguous"]) == len(d["hardest"]) == 4
    assert len(d["label_problems"]["samples"]) <= 4


def test_out_writes_dynamics_csv_with_the_reference_values(ref, tmp_path):
    out = tmp_path / "dyn"
    res = run_cli("dynamics", STACKED, "--split", "test", "--out", out, "--format", "json")
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == [
        "data_map.png",
        "dynamics.csv",
        "dynamics.json",
        "dynamics.parquet",
        "forgetting_events.png",
        "loss_trajectories.png",
        "wrong_to_wrong.csv",
    ]
    text = (out / "dynamics.csv").read_text()
    assert text.splitlines()[0] == COLUMNS
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == ref["confidence"].size
    for key in ("confidence", "variability", "correctness", "aum", "el2n"):
        got = np.array([float(r[key]) for r in rows])
        np.testing.assert_allclose(got, ref[key], rtol=1e-5, atol=1e-6, err_msg=key)
    assert [int(r["correct_epochs"]) for r in rows] == ref["correct_epochs"].tolist()
    assert [int(r["forgetting_events"]) for r in rows] == ref["forgetting_events"].tolist()
    expected_first = ["" if i < 0 else str(i + 1) for i in ref["first_learned_index"]]
    assert [r["first_learned"] for r in rows] == expected_first
    assert json.loads((out / "dynamics.json").read_text()) == json.loads(res.stdout)


def test_csv_format_prints_the_per_sample_table(ref):
    res = run_cli("dynamics", STACKED, "--split", "test", "--format", "csv")
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0] == COLUMNS and len(lines) == 1 + ref["confidence"].size


def test_table_output(ref):
    res = run_cli("dynamics", STACKED, "--split", "test")
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert max(len(line) for line in out.splitlines()) <= 80
    never, forgotten = int(ref["never_learned"].sum()), int((ref["forgetting_events"] > 0).sum())
    assert f"never learned: {never} · forgotten at least once: {forgotten}" in out
    for heading in ("Data map regions", "Most ambiguous", "Hardest", "Likely label problems"):
        assert heading in out
    assert "may be mislabeled or genuinely hard — inspect them" in out


def test_markdown_output():
    res = run_cli("dynamics", STACKED, "--split", "test", "--format", "markdown")
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("# predaudit dynamics")
    assert "| easy-to-learn |" in res.stdout


def test_an_unaligned_run_exits_3_with_one_line():
    res = run_cli("dynamics", UNALIGNED)
    assert res.exit_code == 3
    assert res.stderr == (
        f"Error: {UNALIGNED}: split 'default' is not aligned: it has no sample ids and its "
        "labels differ between epochs, so a row is not the same sample at every epoch; "
        "training dynamics follows each sample over the epochs: save sample ids with the "
        "predictions\n"
    )
    assert res.stdout == ""


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("9:3", "Error: --epochs '9:3': FROM must not be after TO\n"),
        (
            "abc",
            "Error: --epochs 'abc': expected FROM:TO with epoch labels, e.g. 5:20 "
            "(either side may be left out)\n",
        ),
        (
            "40:",
            "Error: --epochs '40:': split 'test' has no epoch in this range (epochs 1..30); "
            "training dynamics needs at least 2\n",
        ),
        (
            "30:",
            "Error: --epochs '30:': split 'test' has only epoch 30 in this range "
            "(epochs 1..30); training dynamics needs at least 2\n",
        ),
    ],
)
def test_bad_epochs_exit_2_with_one_line(spec, message):
    res = run_cli("dynamics", STACKED, "--split", "test", "--epochs", spec)
    assert res.exit_code == 2
    assert res.stderr == message


def test_an_el2n_epoch_outside_the_range_exits_2():
    res = run_cli("dynamics", STACKED, "--split", "test", "--epochs", "3:8", "--el2n-epoch", "9")
    assert res.exit_code == 2
    assert res.stderr == "Error: --el2n-epoch 9: not an epoch of the range (3..8)\n"


def test_checks_and_a_baseline(ref, tmp_path):
    out = tmp_path / "base"
    assert (
        run_cli("dynamics", STACKED, "--split", "test", "--out", out, "--no-plots").exit_code == 0
    )
    never = int(ref["never_learned"].sum())
    res = run_cli(
        "dynamics", STACKED, "--split", "test", "--format", "json",
        "--baseline", out,
        "--check", f"n_never_learned == {never}",
        "--check", "n_forgotten <= baseline.n_forgotten",
        "--check", "hard_fraction < 0.5",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    assert [c["passed"] for c in doc["checks"]] == [True, True, True]
    res = run_cli("dynamics", STACKED, "--split", "test", "--check", "n_label_problems == 0")
    assert res.exit_code == 1


def test_several_splits_in_json_and_csv():
    res = run_cli("dynamics", STACKED, "--format", "json", "--top", "2")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    assert set(doc["splits"]) == {"train", "test"}
    res = run_cli("dynamics", STACKED, "--format", "csv")
    lines = res.stdout.splitlines()
    assert lines[0] == "split," + COLUMNS
    assert {line.split(",")[0] for line in lines[1:]} == {"train", "test"}


def test_markdown_tables_use_the_shared_number_format():
    res = run_cli("dynamics", STACKED, "--split", "test", "--format", "markdown")
    assert res.exit_code == 0, res.output
    assert "| region | samples | share | rule |\n| --- | ---: | ---: | --- |" in res.stdout
    assert "−" in res.stdout  # negative AUM margins: the typographic minus
    assert not re.search(r"\| -\d", res.stdout)  # no ASCII minus in a cell
    assert "—" not in res.stdout.replace(" — inspect", "")  # a missing value: the en dash
