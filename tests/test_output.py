"""Atomic output files."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from predaudit import output
from predaudit.errors import OptionError
from predaudit.output import check_out_dir, write_atomic, write_atomic_parts


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


def test_parts_are_written_whole_through_partial_writes(tmp_path, monkeypatch):
    """Byte strings and array views, more than one writev takes (IOV_MAX) and each
    writev writing at most 7 bytes: the file holds every part in order."""
    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=int(n)).astype(np.float32) for n in rng.integers(0, 9, 1500)]
    parts = [b"head", *[memoryview(a) for a in arrays], b"", b"tail"]
    real = os.writev
    calls = []

    def short_writev(fd, buffers):
        calls.append(len(buffers))
        first = next(bytes(b) for b in buffers if len(memoryview(b).cast("B")))
        return real(fd, [first[:7]])

    monkeypatch.setattr(os, "writev", short_writev)
    path = tmp_path / "sub" / "e.npz"  # the folder is made, as by write_atomic
    write_atomic_parts(path, parts)
    expected = b"head" + b"".join(a.tobytes() for a in arrays) + b"tail"
    assert path.read_bytes() == expected
    assert max(calls) <= 1024
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert [q.name for q in path.parent.iterdir()] == ["e.npz"]


def test_parts_write_failing_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "e.npz"
    write_atomic_parts(path, [b"old"])

    def boom(fd, buffers):
        raise OSError("disk full")

    monkeypatch.setattr(os, "writev", boom)
    with pytest.raises(OSError, match="disk full"):
        write_atomic_parts(path, [b"new"])
    assert path.read_bytes() == b"old"
    assert [q.name for q in tmp_path.iterdir()] == ["e.npz"]


def test_parts_write_with_a_leftover_temporary_name_still_lands(tmp_path, monkeypatch):
    """A hidden name left behind by a crashed process with the same pid is not
    overwritten: the write takes a random name instead."""
    path = tmp_path / "e.npz"
    monkeypatch.setattr(output, "_TMP_COUNTER", iter([7, 8]))
    leftover = tmp_path / f".e.npz.{os.getpid()}-7.tmp"
    leftover.write_bytes(b"half")
    synced: list[int] = []
    monkeypatch.setattr(os, "fsync", synced.append)
    write_atomic_parts(path, [b"a", memoryview(b"bc")], fsync=True)
    assert path.read_bytes() == b"abc" and len(synced) == 1
    assert leftover.read_bytes() == b"half"
    assert sorted(q.name for q in tmp_path.iterdir()) == [leftover.name, "e.npz"]


def test_out_dir_inside_the_run_is_refused(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    with pytest.raises(OptionError, match="inside the input run folder"):
        check_out_dir(run / "o", run)
    with pytest.raises(OptionError):
        check_out_dir(run, run)
    assert check_out_dir(tmp_path / "o", run) == tmp_path / "o"
