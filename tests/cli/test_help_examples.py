"""Every example in every command's --help runs as written, with the exit code it claims.

An example is a line ``predaudit ...`` under ``Examples:`` in a command's help, with an
optional ``# exit N`` (default 0). They run in order, in a fresh folder where
``sample_data`` is the repository's sample run, so an example may use a file an
earlier one of the same command wrote (``--out base`` then ``--baseline base``).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from predaudit.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = re.compile(r"^\s+(predaudit \S.*?)(?:\s+#\s*exit (\d))?(?:\s+\(.*\))?\s*$")


def commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            out.extend(commands(cmd, (*prefix, name)))
        else:
            out.append((*prefix, name))
    return out


ANALYSES = [c for c in commands(main) if c[0] != "cache"]


def examples(path: tuple[str, ...]) -> list[tuple[str, int]]:
    text = CliRunner().invoke(main, [*path, "--help"], env={"COLUMNS": "200"}).output
    block = text.split("Examples:", 1)[1].split("Options:", 1)[0] if "Examples:" in text else ""
    found = []
    for line in block.splitlines():
        m = EXAMPLE.match(line)
        if m:
            found.append((m.group(1), int(m.group(2) or 0)))
    return found


@pytest.mark.parametrize("path", ANALYSES, ids=[" ".join(c) for c in ANALYSES])
def test_every_help_example_runs(path, tmp_path, monkeypatch):
    found = examples(path)
    assert found, f"predaudit {' '.join(path)} --help shows no example"
    (tmp_path / "sample_data").symlink_to(ROOT / "sample_data", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    for line, code in found:
        args = shlex.split(line)[1:]
        assert tuple(args[: len(path)]) == path, line
        res = CliRunner().invoke(main, args, env={"COLUMNS": "80", "NO_COLOR": "1"})
        assert res.exit_code == code, (line, res.exit_code, res.output)
