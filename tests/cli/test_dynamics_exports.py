"""`predaudit dynamics` exports: dynamics.parquet holds what dynamics.csv holds;
`--export cartography` writes files Dataset Cartography reads to the same metrics."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from click.testing import CliRunner

import predaudit
from predaudit.cli import main
from predaudit.report.dynamics import CSV_COLUMNS
from tests.dynamics.reference import cartography_args, compute_train_dy_metrics

ROOT = Path(__file__).resolve().parents[2]
STACKED = ROOT / "sample_data" / "stacked"


def run_cli(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args], env={"COLUMNS": "80", "NO_COLOR": "1"})


def _cell(value: object) -> str:
    """A parquet value as dynamics.csv writes it (empty for null)."""
    return "" if value is None else str(value)


def test_parquet_equals_the_csv(tmp_path):
    out = tmp_path / "dyn"
    res = run_cli("dynamics", STACKED, "--out", out, "--format", "json")
    assert res.exit_code == 0, res.output
    nulls = 0
    for split in ("train", "test"):
        folder = out / split
        rows = list(csv.DictReader(io.StringIO((folder / "dynamics.csv").read_text())))
        table = pq.read_table(folder / "dynamics.parquet")
        assert tuple(table.column_names) == CSV_COLUMNS
        assert table.num_rows == len(rows) > 0
        got = table.to_pylist()
        for r, g in zip(rows, got, strict=True):
            for c in CSV_COLUMNS:
                if isinstance(g[c], float):
                    assert float(r[c]) == g[c], (split, c)  # the CSV writes floats round-trip
                else:
                    assert r[c] == _cell(g[c]), (split, c)
        assert table.schema.field("first_learned").nullable
        nulls += sum(g["first_learned"] is None for g in got)
    assert nulls > 0  # never learned: null, not -1


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_cartography_export_reads_back_and_matches_cartography(tmp_path):
    out, exp = tmp_path / "dyn", tmp_path / "carto"
    res = run_cli(
        "dynamics", STACKED, "--split", "test", "--out", out, "--export", "cartography", exp,
        "--format", "json",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    td = exp / "training_dynamics"
    logits = np.load(STACKED / "test_logits.npy")
    e = logits.shape[0]
    assert sorted(p.name for p in td.iterdir()) == sorted(
        f"dynamics_epoch_{i}.jsonl" for i in range(e)
    )
    first = _jsonl(td / "dynamics_epoch_0.jsonl")[0]
    assert set(first) == {"guid", "logits_epoch_0", "gold"}

    # predaudit's own reader (Cartography's format) gives the same per-sample losses
    back = predaudit.load_run(td)
    orig = predaudit.load_run(STACKED, split="test")
    (b,) = back.splits.values()
    o = orig.splits["test"]
    assert b.epochs == list(range(e)) and o.epochs == list(range(1, e + 1))
    np.testing.assert_allclose(b.loss, o.loss, rtol=1e-6, atol=1e-7)

    # Cartography's compute_train_dy_metrics on the exported files = our dynamics.csv
    records: dict = {}
    for i in range(e):
        for r in _jsonl(td / f"dynamics_epoch_{i}.jsonl"):
            rec = records.setdefault(r["guid"], {"gold": r["gold"], "logits": []})
            rec["logits"].append(r[f"logits_epoch_{i}"])
    metrics, _ = compute_train_dy_metrics(records, cartography_args())
    metrics = metrics.set_index("guid")
    rows = list(csv.DictReader(io.StringIO((out / "dynamics.csv").read_text())))
    ids = [int(r["id"]) for r in rows]
    for key in ("confidence", "variability"):
        ours = np.array([float(r[key]) for r in rows])
        np.testing.assert_allclose(metrics.loc[ids, key].to_numpy(), ours, rtol=1e-5, atol=1e-6)

    # td_metrics.jsonl: Cartography's columns and values
    td_metrics = _jsonl(exp / "td_metrics.jsonl")
    assert list(td_metrics[0]) == [
        "guid", "index", "threshold_closeness", "confidence", "variability", "correctness",
        "forgetfulness",
    ]  # fmt: skip
    got = {r["guid"]: r for r in td_metrics}
    for key in ("confidence", "variability", "threshold_closeness", "correctness"):
        want = metrics.loc[ids, key].to_numpy(dtype=float)
        have = np.array([got[g][key] for g in ids], dtype=float)
        np.testing.assert_allclose(have, want, rtol=1e-5, atol=1e-6, err_msg=key)
    assert [got[g]["forgetfulness"] for g in ids] == metrics.loc[ids, "forgetfulness"].tolist()


def test_cartography_export_of_probabilities_is_a_usage_error(tmp_path):
    logits = np.load(STACKED / "test_logits.npy").astype(np.float64)
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    run = tmp_path / "run"
    run.mkdir()
    np.save(run / "test_probs.npy", p)
    np.save(run / "test_labels.npy", np.load(STACKED / "test_labels.npy"))
    res = run_cli(
        "dynamics", run, "--input-kind", "probs", "--export", "cartography", tmp_path / "c"
    )  # fmt: skip
    assert res.exit_code == 2, res.output
    assert "not logits" in res.output and "Cartography" in res.output
    assert not (tmp_path / "c").exists()
