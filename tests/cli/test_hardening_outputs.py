"""Nothing outside --out and the cache is written or deleted (issue 15, point 1).

--out never leads into the run (per split, symlinks resolved); a failed bundle leaves
--out as it was; the cache deletes only its own entries and is not used when it lies
inside the run; GITHUB_STEP_SUMMARY inside the run is not appended to.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import predaudit.bundle
from predaudit.cli import main
from predaudit.store import cache

ROOT = Path(__file__).resolve().parents[2]


def tree(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.lstat().st_size, p.lstat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
    }


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def two_split_run(folder: Path) -> Path:
    """``folder/test`` and ``folder/train``, each a stacked run."""
    rng = np.random.default_rng(0)
    for split in ("test", "train"):
        d = folder / split
        d.mkdir(parents=True)
        np.save(d / "logits.npy", rng.standard_normal((3, 20, 4)).astype(np.float32))
        np.save(d / "labels.npy", rng.integers(0, 4, 20))
    return folder


def cli(*args: str | Path, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return CliRunner(env=env).invoke(main, [str(a) for a in args])


# -- --out ---------------------------------------------------------------------------------


def test_out_whose_split_folder_is_the_run_is_refused_before_writing(home: Path) -> None:
    """--out preds on the run preds/test with splits test/train: preds/test is the run."""
    run = two_split_run(home / "preds" / "test")
    before = tree(home / "preds")
    result = cli("analyze", run, "--out", "preds", "--no-plots", "--no-cache")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        "Error: --out preds: preds/test (the folder of split 'test') leads into the input run "
        f"folder {run}; predaudit never writes there: choose another folder\n"
    )
    assert tree(home / "preds") == before


def test_split_folder_that_is_a_symlink_into_the_run_is_refused(home: Path) -> None:
    run = two_split_run(home / "run")
    (home / "o").mkdir()
    (home / "o" / "train").symlink_to(run / "train")
    before = tree(run)
    result = cli("analyze", run, "--out", "o", "--no-plots", "--no-cache")
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: --out o: o/train (the folder of split 'train') leads into the input run "
        f"folder {run}; predaudit never writes there: choose another folder\n"
    )
    assert tree(run) == before


def test_out_that_is_a_symlink_into_the_run_is_refused(home: Path) -> None:
    run = two_split_run(home / "run")
    (home / "o").symlink_to(run / "test")
    result = cli("analyze", run, "--out", "o", "--no-plots", "--no-cache")
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: --out o is a link into the input run folder {run}; predaudit never writes "
        "there: choose another folder\n"
    )


def test_a_file_symlink_in_out_never_writes_through_to_the_run(home: Path) -> None:
    """A link out/report.json -> run file: the bundle replaces the link, not the data."""
    run = two_split_run(home / "run")
    (home / "o").mkdir()
    (home / "o" / "report.json").symlink_to(run / "test" / "labels.npy")
    before = tree(run)
    result = cli("analyze", run, "--out", "o", "--no-plots", "--no-cache")
    assert result.exit_code in (0, 2), result.output
    assert tree(run) == before


def test_a_full_disk_leaves_the_previous_bundle(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = two_split_run(home / "run")
    assert cli("analyze", run, "--out", "o", "--no-plots").exit_code == 0
    before = {p: p.read_bytes() for p in sorted((home / "o").rglob("*")) if p.is_file()}
    assert len(before) >= 3
    real = predaudit.bundle.write_atomic
    calls = []

    def full_disk(path: Path, data: str | bytes) -> None:
        calls.append(path)
        if len(calls) == 2:  # the second file: the disk is full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real(path, data)

    monkeypatch.setattr(predaudit.bundle, "write_atomic", full_disk)
    result = cli("analyze", run, "--out", "o", "--no-plots", "--from", "first")
    assert result.exit_code == 3
    assert result.stderr.endswith(": No space left on device\n")
    assert result.stderr.count("\n") == 1
    after = {p: p.read_bytes() for p in sorted((home / "o").rglob("*")) if p.is_file()}
    assert after == before  # nothing half-written, nothing new
    assert sorted(p.name for p in home.iterdir()) == ["o", "run", "xdg"]  # no staging left


# -- the cache -------------------------------------------------------------------------------


def test_cache_folder_is_tagged_and_entries_are_prefixed(home: Path) -> None:
    run = two_split_run(home / "run")
    assert cli("inspect", run).exit_code == 0
    folder = home / "xdg" / "predaudit"
    tag = (folder / "CACHEDIR.TAG").read_text()
    assert tag.startswith("Signature: 8a477f597d28d172789f06886806bc55\n")
    entries = sorted(p.name for p in folder.iterdir() if p.name != "CACHEDIR.TAG")
    assert len(entries) == 2
    assert all(n.startswith("predaudit-") and n.endswith(".npz") for n in entries)


def test_cache_clear_deletes_only_its_own_entries(home: Path) -> None:
    run = two_split_run(home / "run")
    assert cli("inspect", run).exit_code == 0
    folder = home / "xdg" / "predaudit"
    # things that are not ours, even with our suffix or prefix
    np.savez(folder / "model.npz", w=np.zeros(3))
    np.savez(folder / ("predaudit-" + "0" * 40 + ".npz"), __header__=np.zeros(3, np.uint8))
    (folder / "notes.txt").write_text("mine")
    (folder / ("predaudit-" + "1" * 40 + ".npz")).symlink_to(home / "run" / "test" / "labels.npy")
    os.mkfifo(folder / ("predaudit-" + "2" * 40 + ".npz"))
    result = cli("cache", "clear")
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == f"Removed 2 cache entries from {folder}\n"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [
            "CACHEDIR.TAG",
            "model.npz",
            "notes.txt",
            "predaudit-" + "0" * 40 + ".npz",
            "predaudit-" + "1" * 40 + ".npz",
            "predaudit-" + "2" * 40 + ".npz",
        ]
    )
    assert (home / "run" / "test" / "labels.npy").exists()


def test_cache_clear_on_a_folder_that_is_a_symlink_touches_nothing(home: Path) -> None:
    other = home / "elsewhere"
    other.mkdir()
    np.savez(other / ("predaudit-" + "3" * 40 + ".npz"), x=np.zeros(2))
    (home / "xdg").mkdir()
    (home / "xdg" / "predaudit").symlink_to(other)
    assert cli("cache", "clear").stdout.startswith("Removed 0 cache entries")
    assert len(list(other.iterdir())) == 1


def test_cp_p_copy_over_a_cached_file_is_not_taken_from_the_cache(home: Path) -> None:
    """Same size, same mtime (cp -p), other contents: the fingerprint sees it."""
    run = two_split_run(home / "run")
    first = cli("analyze", run, "--split", "test", "--format", "json")
    assert first.exit_code == 0
    labels = run / "test" / "labels.npy"
    st = labels.stat()
    other = np.load(labels)
    other[:5] = (other[:5] + 1) % 4
    np.save(labels, other)
    os.utime(labels, ns=(st.st_atime_ns, st.st_mtime_ns))  # what cp -p keeps
    assert labels.stat().st_size == st.st_size
    again = cli("analyze", run, "--split", "test", "--format", "json")
    fresh = cli("analyze", run, "--split", "test", "--format", "json", "--no-cache")
    assert again.stdout == fresh.stdout != first.stdout


def test_a_cached_entry_with_impossible_values_is_not_used(home: Path) -> None:
    from predaudit.io.discover import discover
    from predaudit.store.build import compute_split

    run = two_split_run(home / "run")
    layout = discover(run).splits["test"]
    stats = compute_split(layout)
    for field, value in [("pred", 99), ("loss", -1.0), ("labels", 7), ("p_true", 2.0)]:
        column = np.array(getattr(stats, field))  # the store's columns are read-only
        column[0, 0] = value
        bad = dataclasses.replace(stats, **{field: column})
        assert cache.store(layout, None, bad)
        assert cache.load_cached(layout, None) is None, field
    assert cache.store(layout, None, stats)
    assert cache.load_cached(layout, None) is not None


@pytest.mark.parametrize("variable", ["XDG_CACHE_HOME", "HOME"])
def test_a_cache_inside_the_run_is_not_used(home: Path, variable: str) -> None:
    run = two_split_run(home / "run")
    before = tree(run)
    env = {"XDG_CACHE_HOME": str(run / ".cache")} if variable == "XDG_CACHE_HOME" else {}
    if variable == "HOME":
        env = {"XDG_CACHE_HOME": "", "HOME": str(run)}
    result = cli("inspect", run, env=env)
    assert result.exit_code == 0, result.output
    shown = run / ".cache" / "predaudit"
    assert result.stderr == (
        f"Notice: the cache folder {shown} is inside the run folder {run}; "
        "the cache is not used for this run\n"
    )
    assert tree(run) == before
    quiet = cli("inspect", run, "-q", env=env)
    assert (quiet.exit_code, quiet.stderr) == (0, "")
    assert tree(run) == before


# -- GITHUB_STEP_SUMMARY ---------------------------------------------------------------------


def test_step_summary_inside_the_run_is_not_appended_to(home: Path) -> None:
    run = two_split_run(home / "run")
    summary = run / "test" / "summary.md"
    summary.write_text("")
    result = cli("analyze", run, "--no-cache", env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert result.exit_code == 0
    assert summary.read_text() == ""
    assert result.stderr == (
        f"Warning: GITHUB_STEP_SUMMARY {summary} is inside the run folder {run}; "
        "summary not written\n"
    )


def test_step_summary_that_is_a_fifo_is_not_opened(home: Path) -> None:
    run = two_split_run(home / "run")
    os.mkfifo(home / "pipe")
    result = cli("analyze", run, "--no-cache", env={"GITHUB_STEP_SUMMARY": str(home / "pipe")})
    assert result.exit_code == 0
    assert result.stderr == (
        f"Warning: GITHUB_STEP_SUMMARY {home / 'pipe'} is not a regular file (a named pipe); "
        "summary not written\n"
    )


def test_step_summary_outside_the_run_still_gets_the_markdown(home: Path) -> None:
    run = two_split_run(home / "run")
    summary = home / "summary.md"
    result = cli("analyze", run, "--no-cache", env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert (result.exit_code, result.stderr) == (0, "")
    assert summary.read_text().startswith("#")
    shutil.rmtree(run)


# -- exit codes --------------------------------------------------------------------------------


def test_an_unreadable_run_is_exit_3_naming_the_file(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As root nothing is unreadable: os.access and the read are made to say so."""
    run = two_split_run(home / "run")
    monkeypatch.setattr(os, "access", lambda *a, **k: False)  # what click's readable= asks
    real = Path.iterdir

    def denied(self: Path):  # type: ignore[no-untyped-def]
        if self == Path("run"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return real(self)

    monkeypatch.setattr(Path, "iterdir", denied)
    result = cli("inspect", "run", "--no-cache")
    assert (result.exit_code, result.stdout) == (3, "")
    assert result.stderr == "Error: run: Permission denied\n"
    monkeypatch.setattr(Path, "iterdir", real)
    assert cli("inspect", run, "--no-cache").exit_code == 0  # os.access is not consulted


def test_cache_clear_turns_an_unexpected_error_into_exit_4(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom() -> int:
        raise RuntimeError("bug")

    monkeypatch.setattr(cache, "clear", boom)
    result = cli("cache", "clear")
    assert result.exit_code == 4
    assert result.stderr == (
        "Error: internal error (RuntimeError: bug); rerun with --debug and report it\n"
    )


def test_columns_that_is_not_a_number_is_ignored(home: Path) -> None:
    run = two_split_run(home / "run")
    result = cli("inspect", run, "--no-cache", env={"COLUMNS": "abc"})
    assert (result.exit_code, result.stderr) == (0, "")
    assert max(len(line) for line in result.stdout.splitlines()) <= 80


def test_library_warnings_never_reach_stderr(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A UserWarning (as torch gives) and a numpy floating-point warning during reading:
    stderr holds exactly predaudit's lines (none here), and the exit code is 0, not 4."""
    import warnings

    import predaudit.store.build

    run = two_split_run(home / "run")
    real = predaudit.store.build.compute_split

    def noisy(*args, **kwargs):  # type: ignore[no-untyped-def]
        warnings.warn("TypedStorage is deprecated", UserWarning, stacklevel=1)
        np.log(np.zeros(2))  # RuntimeWarning: divide by zero
        return real(*args, **kwargs)

    monkeypatch.setattr(predaudit.store.build, "compute_split", noisy)
    result = cli("analyze", run, "--no-cache")
    assert (result.exit_code, result.stderr) == (0, "")
