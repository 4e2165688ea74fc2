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


def test_a_writer_function_writes_to_a_hidden_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "epoch_1.npz"
    seen: list[str] = []
    synced: list[int] = []
    monkeypatch.setattr(os, "fsync", synced.append)

    def write(fh):
        seen.extend(p.name for p in tmp_path.iterdir())
        fh.write(b"data")

    write_atomic(path, write, fsync=False)
    assert path.read_bytes() == b"data" and synced == []
    assert len(seen) == 1 and seen[0].startswith(".epoch_1.npz.") and seen[0].endswith(".tmp")
    write_atomic(path, b"more")
    assert len(synced) == 1  # fsync by default


def test_a_failing_writer_function_leaves_the_old_file(tmp_path):
    path = tmp_path / "x.npz"
    write_atomic(path, b"old")

    def write(fh):
        fh.write(b"part")
        raise ValueError("bad array")

    with pytest.raises(ValueError, match="bad array"):
        write_atomic(path, write)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.npz"]


def test_out_dir_inside_the_run_is_refused(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    with pytest.raises(OptionError, match="inside the input run folder"):
        check_out_dir(run / "o", run)
    with pytest.raises(OptionError):
        check_out_dir(run, run)
    assert check_out_dir(tmp_path / "o", run) == tmp_path / "o"
