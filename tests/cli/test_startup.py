"""Start-up stays light: heavy libraries are imported only when a command needs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("matplotlib", "pandas", "scipy", "torch", "sklearn")
CLI = """
from click.testing import CliRunner
from predaudit.cli import main
res = CliRunner().invoke(main, {args!r})
assert res.exit_code == 0, res.output
"""


def modules_after(code: str, names: tuple[str, ...]) -> set[str]:
    """Which of ``names`` are imported after running ``code`` in a fresh interpreter."""
    probe = f"{code}\nimport sys\nprint(','.join(m for m in {names!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    return set(filter(None, out.split(",")))


def imported_by(args: list[str]) -> set[str]:
    """The heavy libraries the command ``args`` imports."""
    return modules_after(CLI.format(args=args), HEAVY)


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


OURS = ("predaudit.api", "predaudit.record", "predaudit.render.html", "predaudit.analysis")


def test_the_package_imports_its_public_names_on_first_use():
    """``import predaudit`` loads none of the analyses or the recorder; a training script's
    ``from predaudit import Recorder`` loads the recorder, not the analyses."""
    assert modules_after("import predaudit", OURS) == set()
    assert modules_after("from predaudit import Recorder", OURS) == {"predaudit.record"}
    assert modules_after("import predaudit.cli", (*OURS, *HEAVY)) == set()
    code = (
        "import predaudit\n"
        "assert sorted(set(predaudit.__all__) - set(dir(predaudit))) == []\n"
        "assert isinstance(predaudit.__version__, str)\n"
        "for name in set(predaudit.__all__) - {'__version__'}:\n"
        "    assert getattr(predaudit, name).__name__ == name, name\n"
        "try:\n"
        "    predaudit.no_such_name\n"
        "except AttributeError as e:\n"
        "    assert 'no_such_name' in str(e)\n"
        "else:\n"
        "    raise SystemExit('no AttributeError')"
    )
    assert modules_after(code, ("predaudit.api", "predaudit.record")) == {
        "predaudit.api",
        "predaudit.record",
    }


@pytest.mark.parametrize("fmt", ["table", "json", "markdown", "csv"])
def test_only_the_html_format_imports_the_page_code(fmt):
    code = CLI.format(args=["analyze", "sample_data/stacked", "--format", fmt])
    assert modules_after(code, ("predaudit.render.html", "predaudit.record")) == set()
    html = CLI.format(args=["analyze", "sample_data/stacked", "--format", "html"])
    assert modules_after(html, ("predaudit.render.html",)) == {"predaudit.render.html"}
