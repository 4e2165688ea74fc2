"""Every ``$ predaudit ...`` example in the README shows the command's real output."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from predaudit.cli import main

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"```console\n\$ predaudit (?P<cmd>[^\n]+)\n(?P<out>.*?)```", re.DOTALL)
EXAMPLES = [(m["cmd"], m["out"]) for m in BLOCK.finditer((ROOT / "README.md").read_text("utf-8"))]


def test_the_readme_has_examples():
    commands = [cmd.split()[0] for cmd, _ in EXAMPLES]
    assert {"analyze", "inspect", "confusion", "dynamics", "calibration"} <= set(commands)


@pytest.mark.parametrize(("cmd", "expected"), EXAMPLES, ids=[c for c, _ in EXAMPLES])
def test_readme_example_is_real(cmd, expected, monkeypatch):
    monkeypatch.chdir(ROOT)
    res = CliRunner().invoke(main, shlex.split(cmd), env={"COLUMNS": "80", "NO_COLOR": "1"})
    assert res.exit_code == 0, res.output
    assert res.stdout == expected
