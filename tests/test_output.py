"""Atomic output files."""

from __future__ import annotations

import os
import stat

import pytest

from predaudit.errors import OptionError
from predaudit.output import check_out_dir, write_atomic


def test_write_atomic_replaces_and_uses_the_umask_mode(tmp_path):
    path = tmp_path / "sub" / "report.json"
    write_atomic(path, "one")
    write_atomic(path, b"two")
    assert path.read_text() == "two"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in path.parent.iterdir()] == ["report.json"]


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    path = tmp_path / "x.txt"
    write_atomic(path, "old")

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]


def test_out_dir_inside_the_run_is_refused(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    with pytest.raises(OptionError, match="inside the input run folder"):
        check_out_dir(run / "o", run)
    with pytest.raises(OptionError):
        check_out_dir(run, run)
    assert check_out_dir(tmp_path / "o", run) == tmp_path / "o"
