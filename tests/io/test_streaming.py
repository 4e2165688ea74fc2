"""Streaming (issue 2, point 3): one epoch at a time, memory-mapped, released before the next.

Behavioural checks, not timings: which arrays the readers create, what they are
backed by, and which of them are still alive when the next epoch is mapped.
"""

from __future__ import annotations

import mmap
import weakref
from pathlib import Path

import numpy as np
import pytest

from predaudit import load_run
from predaudit.io import SplitReader, discover
from predaudit.io.npz import NpzContainer

E, N, C = 5, 300, 7


class MapSpy:
    """Record every ``np.memmap`` made of ``name``; fail if an earlier one is still alive.

    ``np.memmap`` is replaced by a subclass that records its instances, so code that asks
    ``isinstance(x, np.memmap)`` still gets a class to test against."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
        self.name = name
        self.shapes: list[tuple[int, ...]] = []
        self.refs: list[weakref.ref] = []  # type: ignore[type-arg]
        self.overlaps = 0
        self._orig = np.memmap
        spy = self

        class Spied(np.memmap):  # type: ignore[type-arg]
            def __new__(cls, filename, *args, **kwargs):  # type: ignore[no-untyped-def]
                mine = Path(filename).name == spy.name
                if mine and any(r() is not None for r in spy.refs):
                    spy.overlaps += 1
                m = spy._orig.__new__(cls, filename, *args, **kwargs)
                if mine:
                    spy.shapes.append(m.shape)
                    spy.refs.append(weakref.ref(m))
                return m

        monkeypatch.setattr(np, "memmap", Spied)


@pytest.fixture
def stacked(tmp_path: Path) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(E, N, C)).astype(np.float32)
    np.save(tmp_path / "logits.npy", x)
    np.save(tmp_path / "labels.npy", rng.integers(0, C, N))
    return tmp_path, x


def _no_whole_file_load(monkeypatch: pytest.MonkeyPatch, name: str) -> list[str]:
    """Fail if ``np.load`` is ever called on ``name``; return every file it was called on."""
    calls: list[str] = []
    orig = np.load

    def spy(file, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(Path(file).name)
        assert Path(file).name != name, f"np.load read the whole of {name}"
        return orig(file, *args, **kwargs)

    monkeypatch.setattr(np, "load", spy)
    return calls


def test_split_reader_maps_one_epoch_at_a_time(stacked, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    run, x = stacked
    _no_whole_file_load(monkeypatch, "logits.npy")
    spy = MapSpy(monkeypatch, "logits.npy")
    reader = SplitReader(discover(run).splits["default"])
    file_size = (run / "logits.npy").stat().st_size
    row_bytes = N * C * 4
    it = iter(reader)
    seen = 0
    while (ep := next(it, None)) is not None:
        scores = ep.scores
        assert isinstance(scores, spy._orig), type(scores)
        assert not scores.flags.owndata
        assert scores.shape == (N, C) and scores.dtype == np.float32
        # backed by a map of about one epoch (plus page alignment), not of the file
        assert isinstance(scores.base, mmap.mmap)
        assert row_bytes <= len(scores.base) < row_bytes + mmap.ALLOCATIONGRANULARITY
        assert len(scores.base) < file_size
        np.testing.assert_array_equal(scores, x[seen])
        seen += 1
        del ep, scores  # the consumer lets go, as compute_split does
    assert seen == E
    assert spy.shapes == [(N, C)] * E
    assert spy.overlaps == 0, "an epoch was still mapped when the next one was"
    assert all(r() is None for r in spy.refs)


def test_binary_stacked_rows_are_mapped_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(6)
    np.save(tmp_path / "logits.npy", rng.normal(size=(E, N)))
    np.save(tmp_path / "labels.npy", rng.integers(0, 2, N))
    _no_whole_file_load(monkeypatch, "logits.npy")
    spy = MapSpy(monkeypatch, "logits.npy")
    s = load_run(tmp_path).splits["default"]
    assert s.binary
    # the binary kind scan stops at the first epoch outside [0, 1] (these are logits), then
    # the reduction reads every epoch once more
    assert spy.shapes == [(N,)] * (1 + E)
    assert spy.overlaps == 0


def test_load_run_releases_each_epoch_before_mapping_the_next(stacked, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    run, x = stacked
    calls = _no_whole_file_load(monkeypatch, "logits.npy")
    spy = MapSpy(monkeypatch, "logits.npy")
    s = load_run(run).splits["default"]
    assert s.loss.shape == (E, N)
    assert calls == ["labels.npy"]
    assert spy.shapes == [(N, C)] * E
    assert spy.overlaps == 0, "an epoch was still mapped when the next one was"
    assert all(r() is None for r in spy.refs)


def test_stacked_npz_streams_rows_without_reading_the_whole_member(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(E, N, C))
    y = rng.integers(0, C, N)
    np.savez_compressed(tmp_path / "run.npz", logits=x, labels=y)
    read_keys: list[str] = []
    orig = NpzContainer.read

    def spy(self, key):  # type: ignore[no-untyped-def]
        read_keys.append(key)
        return orig(self, key)

    monkeypatch.setattr(NpzContainer, "read", spy)
    reader = SplitReader(discover(tmp_path / "run.npz").splits["default"])
    rows = []
    for ep in reader:
        assert ep.scores.shape == (N, C)
        rows.append(np.array(ep.scores))
    np.testing.assert_array_equal(np.stack(rows), x)
    assert "logits" not in read_keys and "labels" in read_keys


def test_per_epoch_files_are_opened_one_at_a_time(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(8)
    y = rng.integers(0, C, N)
    for e in range(E):
        np.save(tmp_path / f"logits_epoch_{e}.npy", rng.normal(size=(N, C)))
    np.save(tmp_path / "labels.npy", y)
    opened: list[str] = []
    alive: list[weakref.ref] = []  # type: ignore[type-arg]
    overlaps = 0
    orig = np.load

    def spy(file, *args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal overlaps
        name = Path(file).name
        if name.startswith("logits") and any(r() is not None for r in alive):
            overlaps += 1
        arr = orig(file, *args, **kwargs)
        opened.append(name)
        if name.startswith("logits"):
            assert isinstance(arr, np.memmap)  # mapped, not read
            alive.append(weakref.ref(arr))
        return arr

    monkeypatch.setattr(np, "load", spy)
    s = load_run(tmp_path).splits["default"]
    assert s.epochs == list(range(E))
    assert [n for n in opened if n.startswith("logits")] == [
        f"logits_epoch_{e}.npy" for e in range(E)
    ]
    assert overlaps == 0
