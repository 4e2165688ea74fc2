"""Rewrite the output of every ``$ predaudit ...`` console example in README.md.

Run by a person when the output changes on purpose (tests/test_readme.py checks that
each example shows the command's real output at 80 columns); read ``git diff
README.md`` before committing. ``--check`` only says which examples differ.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
from pathlib import Path

from click.testing import CliRunner

from predaudit.cli import main as cli

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"(```console\n\$ predaudit (?P<cmd>[^\n]+)\n)(?P<out>.*?)(```)", re.DOTALL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 on a change")
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    readme = ROOT / "README.md"
    text = readme.read_text("utf-8")
    changed: list[str] = []

    def run(m: re.Match[str]) -> str:
        res = CliRunner().invoke(cli, shlex.split(m["cmd"]), env={"COLUMNS": "80", "NO_COLOR": "1"})
        if res.exit_code != 0:
            raise SystemExit(f"predaudit {m['cmd']}: exit {res.exit_code}\n{res.output}")
        if res.stdout != m["out"]:
            changed.append(m["cmd"])
        return m.group(1) + res.stdout + m.group(4)

    new = BLOCK.sub(run, text)
    for cmd in changed:
        print(f"{'differs' if args.check else 'rewritten'}  predaudit {cmd}")
    if not args.check and new != text:
        readme.write_text(new, "utf-8")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
