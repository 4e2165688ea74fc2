"""Start-up stays light: heavy libraries are imported only when a command needs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
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
    ],
)
def test_no_heavy_imports(args):
    assert imported_by(args) == set()


def test_analyze_imports_only_scipy_for_its_test():
    # the Wilcoxon test needs scipy; tables need neither pandas nor matplotlib
    assert imported_by(["analyze", "sample_data/stacked"]) == {"scipy"}
