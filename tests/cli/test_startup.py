"""Start-up stays light: heavy libraries are imported only when a command needs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("matplotlib", "pandas", "scipy", "torch", "sklearn")
PROBE = """
import sys
from click.testing import CliRunner
from predaudit.cli import main
res = CliRunner().invoke(main, {args!r})
assert res.exit_code == 0, res.output
print(",".join(m for m in {heavy!r} if m in sys.modules))
"""


def imported_by(args: list[str]) -> set[str]:
    code = PROBE.format(args=args, heavy=HEAVY)
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    return set(filter(None, out.split(",")))


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["analyze", "--help"],
        ["inspect", "sample_data/stacked"],
        ["confusion", "sample_data/stacked", "--split", "test"],
        ["analyze", "sample_data/stacked"],
    ],
)
def test_no_heavy_imports(args):
    assert imported_by(args) == set()


def test_out_imports_matplotlib_only_then(tmp_path):
    """--out draws plots (matplotlib); its CSV files are written with the csv module."""
    out = tmp_path / "o"
    imported = imported_by(["analyze", "sample_data/stacked", "--out", str(out)])
    assert "pandas" not in imported
    assert imported == {"matplotlib"}
