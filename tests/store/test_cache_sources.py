"""cache._Resolver: a folder resolved once gives what ``Path.resolve()`` gives for each file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from predaudit.store.cache import _Resolver


def test_resolver_equals_path_resolve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "a.npz").write_bytes(b"x")
    (real / "b.npz").write_bytes(b"y")
    (tmp_path / "linked").symlink_to(real)  # a folder reached through a link
    (real / "c.npz").symlink_to(real / "b.npz")  # a file that is a link
    (real / "dangling.npz").symlink_to(tmp_path / "nowhere.npz")
    monkeypatch.chdir(tmp_path)
    paths = [
        real / "a.npz",
        tmp_path / "linked" / "a.npz",
        tmp_path / "linked" / "c.npz",
        real / "dangling.npz",
        real / "missing.npz",  # not there: resolved folder, same name
        Path("linked/b.npz"),  # relative
        Path("real/../linked/a.npz"),
        Path("a.npz"),
    ]
    resolve = _Resolver()
    for p in paths:
        assert resolve(p) == str(p.resolve()), p
        assert resolve(p) == os.path.realpath(p), p
