"""The cache of reduced statistics: round trip, keys, staleness, corruption, atomicity."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest

from predaudit.io.discover import SplitLayout, discover
from predaudit.store import SplitStats, cache
from predaudit.store.build import compute_split


@pytest.fixture(autouse=True)
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    return home / "predaudit"


def make_run(folder: Path, *, seed: int = 0, ids: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    np.save(folder / "logits.npy", rng.standard_normal((3, 20, 4)).astype(np.float32))
    labels = rng.integers(0, 4, 20)
    labels[5] = -100
    np.save(folder / "labels.npy", labels)
    if ids:
        np.save(folder / "ids.npy", np.array([f"s{i:02d}" for i in rng.permutation(20)]))
    return folder


def layout_of(run: Path) -> SplitLayout:
    return discover(run).splits["default"]


def assert_same(a: SplitStats, b: SplitStats) -> None:
    for f in dataclasses.fields(SplitStats):
        if not f.metadata.get("cached", True):  # source: where to read the scores again
            continue
        va, vb = getattr(a, f.name), getattr(b, f.name)
        if isinstance(va, np.ndarray):
            assert isinstance(vb, np.ndarray) and va.dtype == vb.dtype, f.name
            np.testing.assert_array_equal(va, vb, err_msg=f.name)
        else:
            assert va == vb, f.name


@pytest.mark.parametrize("ids", [False, True])
def test_round_trip(tmp_path: Path, cache_home: Path, ids: bool) -> None:
    lay = layout_of(make_run(tmp_path / "run", ids=ids))
    assert cache.load_cached(lay, None) is None
    stats = compute_split(lay)
    assert cache.store(lay, None, stats)
    # the tag and the entry, no temporary file left
    assert sorted(p.suffix for p in cache_home.iterdir()) == [".TAG", ".npz"]
    again = cache.load_cached(lay, None)
    assert again is not None
    assert_same(again, stats)


def test_the_kind_option_is_part_of_the_key(tmp_path: Path) -> None:
    lay = layout_of(make_run(tmp_path / "run"))
    cache.store(lay, None, compute_split(lay))
    assert cache.load_cached(lay, "logits") is None
    forced = compute_split(lay, input_kind="logits")
    cache.store(lay, "logits", forced)
    assert cache.load_cached(lay, None) is not None
    assert cache.load_cached(lay, "logits") is not None
    assert cache.entry_path(lay, None) != cache.entry_path(lay, "logits")


def test_a_changed_file_makes_the_entry_stale(tmp_path: Path, cache_home: Path) -> None:
    run = make_run(tmp_path / "run")
    lay = layout_of(run)
    cache.store(lay, None, compute_split(lay))
    st = os.stat(run / "labels.npy")
    os.utime(run / "labels.npy", ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    assert cache.load_cached(lay, None) is None
    assert [p.name for p in cache_home.iterdir()] == ["CACHEDIR.TAG"]  # the stale entry is gone
    make_run(run, seed=1)  # new contents
    fresh = compute_split(lay)
    cache.store(lay, None, fresh)
    got = cache.load_cached(lay, None)
    assert got is not None
    assert_same(got, fresh)


def test_a_file_rewritten_during_the_computation_leaves_a_stale_entry(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    lay = layout_of(run)
    before = cache.fingerprint(lay)
    stats = compute_split(lay)
    st = os.stat(run / "logits.npy")
    os.utime(run / "logits.npy", ns=(st.st_atime_ns, st.st_mtime_ns + 1000))
    assert cache.store(lay, None, stats, fingerprint_before=before)
    assert cache.load_cached(lay, None) is None


def test_a_missing_file_is_a_miss(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    lay = layout_of(run)
    cache.store(lay, None, compute_split(lay))
    (run / "labels.npy").unlink()
    assert cache.load_cached(lay, None) is None


@pytest.mark.parametrize(
    "damage", ["garbage", "truncated", "empty", "foreign npz", "wrong identity", "bad shapes"]
)
def test_corrupt_entries_are_ignored_and_rebuilt(tmp_path: Path, damage: str) -> None:
    lay = layout_of(make_run(tmp_path / "run"))
    stats = compute_split(lay)
    cache.store(lay, None, stats)
    entry = cache.entry_path(lay, None)
    blob = entry.read_bytes()
    if damage == "garbage":
        entry.write_bytes(b"not a zip file at all")
    elif damage == "truncated":
        entry.write_bytes(blob[: len(blob) // 2])
    elif damage == "empty":
        entry.write_bytes(b"")
    elif damage == "foreign npz":
        np.savez(entry, loss=np.zeros(3))
    elif damage == "wrong identity":
        other = layout_of(make_run(tmp_path / "other"))
        cache.store(other, None, compute_split(other))
        os.replace(cache.entry_path(other, None), entry)
    else:
        broken = dataclasses.replace(stats, margin=stats.margin[:, :3])
        cache.store(lay, None, broken)
    assert cache.load_cached(lay, None) is None
    assert not entry.exists()
    assert cache.store(lay, None, stats)
    got = cache.load_cached(lay, None)
    assert got is not None
    assert_same(got, stats)


def test_the_same_run_by_another_path_hits_and_reports_the_current_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = make_run(tmp_path / "run")
    lay = layout_of(run)
    cache.store(lay, None, compute_split(lay))
    monkeypatch.chdir(tmp_path)
    rel = layout_of(Path("run"))
    got = cache.load_cached(rel, None)
    assert got is not None
    assert got.files == [str(p) for p in rel.files]
    assert got.files != [str(p) for p in lay.files]


def test_per_epoch_files(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    rng = np.random.default_rng(3)
    for e in (2, 10):
        np.save(run / f"logits_epoch_{e}.npy", rng.standard_normal((8, 3)))
    np.save(run / "labels.npy", rng.integers(0, 3, 8))
    lay = layout_of(run)
    stats = compute_split(lay)
    cache.store(lay, None, stats)
    got = cache.load_cached(lay, None)
    assert got is not None and got.epochs == [2, 10]
    np.save(run / "logits_epoch_11.npy", rng.standard_normal((8, 3)))
    assert cache.load_cached(layout_of(run), None) is None  # another epoch: another key


def test_store_never_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lay = layout_of(make_run(tmp_path / "run"))
    stats = compute_split(lay)
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # its child cannot be a folder
    assert cache.store(lay, None, stats) is False
    assert cache.load_cached(lay, None) is None
    assert cache.clear() == 0


def test_cache_dir_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache.cache_dir() == tmp_path / "x" / "predaudit"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache.cache_dir() == tmp_path / "home" / ".cache" / "predaudit"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # ignored, as the spec says
    assert cache.cache_dir() == tmp_path / "home" / ".cache" / "predaudit"


def test_clear(tmp_path: Path, cache_home: Path) -> None:
    assert cache.clear() == 0
    for i in range(3):
        lay = layout_of(make_run(tmp_path / f"run{i}", seed=i))
        cache.store(lay, None, compute_split(lay))
    leftover = "." + cache.entry_path(lay, None).name + ".x1y2.tmp"
    (cache_home / leftover).write_bytes(b"half")  # an interrupted write_atomic
    (cache_home / "leftover.tmp").write_bytes(b"half, not ours")
    (cache_home / "README").write_text("not ours")
    assert cache.clear() == 3
    assert sorted(p.name for p in cache_home.iterdir()) == [
        "CACHEDIR.TAG",
        "README",
        "leftover.tmp",
    ]
    assert cache.load_cached(lay, None) is None


@pytest.mark.parametrize(
    ("column", "row", "value", "accepted"),
    [
        ("labels", 0, 99, False),  # a class the run does not have
        ("labels", 0, -5, False),  # negative but not the ignore index
        ("pred", 0, -1, False),
        ("pred", 0, 99, False),
        ("loss", 0, np.nan, False),
        ("loss", 0, -0.5, False),
        ("p_true", 0, 1.5, False),
        ("p_true", 0, np.nan, False),
        ("confidence", 0, -0.1, False),
        ("p_true", 5, 7.0, True),  # row 5 is ignored (-100): its values do not count
        ("loss", 5, -3.0, True),
        ("pred", 5, 99, True),
    ],
)
def test_cached_values_are_checked_before_use(
    tmp_path: Path, column: str, row: int, value: float, accepted: bool
) -> None:
    lay = layout_of(make_run(tmp_path / "run"))
    stats = compute_split(lay)
    col = np.array(getattr(stats, column))
    col[-1, row] = value
    bad = dataclasses.replace(stats, **{column: col})
    if column == "labels":
        bad = dataclasses.replace(bad, valid=col != -100)
    assert cache.store(lay, None, bad)
    got = cache.load_cached(lay, None)
    assert (got is not None) is accepted
    assert cache.entry_path(lay, None).exists() is accepted  # a refused entry is deleted


@pytest.mark.parametrize("epoch", [0, 6, 7, 12])
@pytest.mark.parametrize(
    ("column", "value"), [("loss", -0.5), ("p_true", np.nan), ("pred", 99), ("labels", 4)]
)
def test_validation_in_blocks_of_epochs_finds_each_epoch(
    monkeypatch: pytest.MonkeyPatch, epoch: int, column: str, value: float
) -> None:
    """validate() checks several epochs in one pass: a value out of range in any epoch of
    any block (first, inside, last, a short last block) is still found, ignored rows still
    do not count."""
    from predaudit import from_arrays
    from predaudit.store import entry

    rng = np.random.default_rng(4)
    labels = rng.integers(0, 4, 20)
    labels[5] = -100
    stats = from_arrays(rng.normal(size=(13, 20, 4)), labels).splits["default"]
    monkeypatch.setattr(entry, "VALIDATE_BLOCK_BYTES", 3 * 20 * 8)  # 3 epochs a block
    entry.validate(stats)
    for row, counts in ((0, True), (5, False)):  # row 5 is ignored
        col = np.array(getattr(stats, column))
        col[epoch, row] = value
        bad = dataclasses.replace(stats, **{column: col})
        if column == "labels":
            bad = dataclasses.replace(bad, valid=col != -100)
        if counts or column == "labels":
            with pytest.raises(ValueError):
                entry.validate(bad)
        else:
            entry.validate(bad)
