"""Data is data in every output (issue 15, point 5): ids, class names, split names and paths
holding Rich markup, Markdown syntax, control characters, formula prefixes or lone
surrogates are shown as text, never interpreted, and never crash a renderer."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from predaudit.cli import main
from predaudit.render import markdown
from predaudit.render.safe import SafeConsole, csv_text, visible

IDS = ["=cmd|a", "[/]", "x\x1b[31mred", "`code`*_<b>", "-5", "@SUM\nnew", "lone\ud800", "+1"]
SPLIT = "[red]sp`|x"


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    for split in (SPLIT, "b"):
        d = tmp_path / "run" / split
        d.mkdir(parents=True)
        z = rng.standard_normal((3, len(IDS), 3)).astype(np.float32)
        y = np.arange(len(IDS)) % 3
        if split == SPLIT:  # the true class falls 4 an epoch: every loss rises, --top lists all
            z[:, np.arange(len(IDS)), y] -= 4 * np.arange(3, dtype=np.float32)[:, None]
        np.save(d / "logits.npy", z)
        np.save(d / "labels.npy", y)
        np.save(d / "ids.npy", np.array(IDS))
    (tmp_path / "names.txt").write_text("cat [/]\n[bold]dog\x1b]0;t\x07\nemu|`x`\n")
    return tmp_path / "run"


def cli(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, list(args))


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv", "json"])
def test_hostile_ids_and_split_names_render_in_every_format(run: Path, fmt: str) -> None:
    result = cli("analyze", "run", "--top", "8", "--format", fmt, "--no-cache")
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout
    if fmt == "table":
        assert "[/]" in result.stdout  # shown, not parsed as markup
        assert "x\\x1b[31mred" in result.stdout
        assert "lone\\ud800" in result.stdout
    if fmt == "table":  # an id's newline is escaped: its row stays one line
        assert "@SUM\\x0anew" in result.stdout
    if fmt == "markdown":  # the --top list, every id escaped as Markdown text
        assert markdown.text("`code`*_<b>") in result.stdout
    if fmt in ("table", "markdown"):
        assert not any(line.strip(" │|").startswith("new") for line in result.stdout.splitlines())


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_hostile_ids_stay_on_one_line_in_the_dynamics_lists(run: Path, fmt: str) -> None:
    result = cli("dynamics", "run", "--split", "b", "--top", "8", "--format", fmt, "--no-cache")
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout
    if fmt == "table":
        assert "x\\x1b[31mred" in result.stdout and "@SUM\\x0anew" in result.stdout
    else:  # the escape's backslash and the bracket escaped again for markdown
        assert "x\\\\x1b\\[31mred" in result.stdout and "@SUM\\\\x0anew" in result.stdout
    assert not any(line.strip(" │|").startswith("new") for line in result.stdout.splitlines())
    if fmt == "json":
        data = json.loads(result.stdout)
        assert SPLIT in data["splits"]


def test_confusion_with_hostile_class_names(run: Path) -> None:
    for fmt in ("table", "markdown"):
        result = cli(
            "confusion", "run", "--split", "b", "--class-names", "names.txt", "--format", fmt
        )
        assert result.exit_code == 0, result.output
        assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    table = cli("confusion", "run", "--split", "b", "--class-names", "names.txt").stdout
    assert "cat [/]" in table and "[bold]dog\\x1b]0;t\\x07" in table


def test_markdown_headings_fence_user_text(run: Path) -> None:
    out = cli("analyze", "run", "--format", "markdown", "--no-cache").stdout
    assert "### split `` [red]sp`\\|x ``" in out
    assert "run · \\[red\\]sp\\`\\|x · 8 samples" in out


def test_csv_text_cells_are_neutralised_numbers_are_not(run: Path) -> None:
    result = cli("analyze", "run", "--out", "o", "--no-plots", "--no-cache", "--top", "8")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO((Path("o") / "b" / "per_sample.csv").read_text())))
    ids = sorted(r[0] for r in rows[1:])
    assert "'=cmd|a" in ids and "'@SUM\nnew" in ids
    assert "-5" in ids and "+1" in ids  # a number stays a number
    assert all(not c.startswith(("=", "@")) for r in rows for c in r)
    # the loss columns keep their negative numbers
    assert any(float(r[8]) < 0 for r in rows[1:])
    assert "lone\\ud800" in (Path("o") / "b" / "per_sample.csv").read_text()


def test_visible_escapes_controls_bidi_and_surrogates() -> None:
    assert visible("a\x00b\x1bc\x7fd\x9be\u202ef\ud800") == (
        "a\\x00b\\x1bc\\x7fd\\x9be\\u202ef\\ud800"
    )
    assert visible("keep\nnewlines") == "keep\nnewlines"


def test_safe_console_prints_markup_as_text() -> None:
    from rich.table import Table

    t = Table("name")
    t.add_row("[/]")
    t.add_row("[bold]x[/bold]")
    c = SafeConsole(width=40, file=io.StringIO(), force_terminal=False)
    c.print(t)
    out = c.file.getvalue()  # type: ignore[attr-defined]
    assert "[/]" in out and "[bold]x[/bold]" in out


def test_markdown_text_and_code() -> None:
    assert markdown.text("a|b*c_d[e]<f>`g`\nh") == "a\\|b\\*c\\_d\\[e\\]\\<f\\>\\`g\\`\\\\x0ah"
    assert markdown.code("``x``") == "``` ``x`` ```"
    assert markdown.code("ok") == "`ok`"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+cmd", "'+cmd"),
        ("-cmd", "'-cmd"),
        ("@x", "'@x"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("-5", "-5"),
        ("-1.5e-3", "-1.5e-3"),
        ("+7", "+7"),
        ("cat", "cat"),
    ],
)
def test_csv_text(value: str, expected: str) -> None:
    assert csv_text(value) == expected
