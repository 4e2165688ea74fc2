"""`predaudit dynamics --out`: dynamics.parquet holds what dynamics.csv holds."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pyarrow.parquet as pq
from click.testing import CliRunner

from predaudit.cli import main
from predaudit.report.dynamics import CSV_COLUMNS

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
