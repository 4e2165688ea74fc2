"""The progress bar: only on a terminal, never in CI, with --quiet or when piped."""

from __future__ import annotations

import io

import pytest

import predaudit.cli as cli


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def terminal(monkeypatch: pytest.MonkeyPatch) -> Tty:
    """Pretend stdout and stderr are a terminal; call it in the test body (pytest's own
    capture swaps the streams back between fixture set-up and the test)."""
    monkeypatch.delenv("CI", raising=False)
    err = Tty()
    monkeypatch.setattr(cli.sys, "stdout", Tty())
    monkeypatch.setattr(cli.sys, "stderr", err)
    return err


def test_shown_on_a_terminal_after_a_moment(monkeypatch):
    monkeypatch.setattr(cli, "PROGRESS_DELAY", 0.0)
    err = terminal(monkeypatch)
    with cli.progress_bar(quiet=False) as update:
        assert update is not None
        update("test", 1, 3)
        update("test", 3, 3)
    assert "reading test" in err.getvalue()


def test_short_work_stays_silent(monkeypatch):
    monkeypatch.setattr(cli, "PROGRESS_DELAY", 3600.0)
    err = terminal(monkeypatch)
    with cli.progress_bar(quiet=False) as update:
        update("test", 1, 1)
    assert "reading" not in err.getvalue()


@pytest.mark.parametrize("case", ["quiet", "ci", "piped"])
def test_no_bar(monkeypatch, case):
    terminal(monkeypatch)
    if case == "ci":
        monkeypatch.setenv("CI", "true")
    if case == "piped":
        monkeypatch.setattr(cli.sys, "stdout", io.StringIO())
    with cli.progress_bar(quiet=case == "quiet") as update:
        assert update is None
