"""The cache as the CLI uses it: a second run reads cached statistics; --no-cache; cache clear."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import predaudit.store.build
from predaudit.cli import main

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def run(tmp_path):
    dest = tmp_path / "run"
    shutil.copytree(ROOT / "sample_data" / "stacked", dest)
    return dest


def entries() -> list[Path]:
    return sorted((Path(os.environ["XDG_CACHE_HOME"]) / "predaudit").glob("*.npz"))


def test_second_run_reads_the_cache(run, monkeypatch):
    first = run_cli("analyze", run, "--format", "json")
    assert first.exit_code == 0
    assert len(entries()) == 4  # per split: the statistics, and T* at the compared epochs

    real = predaudit.store.build.compute_split
    computed: list[str] = []

    def counting(layout, **kwargs):
        computed.append(layout.name)
        return real(layout, **kwargs)

    monkeypatch.setattr(predaudit.store.build, "compute_split", counting)
    second = run_cli("analyze", run, "--format", "json")
    assert second.exit_code == 0, second.output
    assert json.loads(second.stdout) == json.loads(first.stdout)
    conf = run_cli("confusion", run, "--split", "test", "--format", "json")
    assert conf.exit_code == 0, conf.output
    assert computed == []  # both commands read the cache
    # --no-cache reads the files again, and gives the same report
    third = run_cli("analyze", run, "--format", "json", "--no-cache")
    assert third.exit_code == 0, third.output
    assert sorted(computed) == ["test", "train"]
    assert json.loads(third.stdout) == json.loads(first.stdout)


def test_a_changed_file_is_not_taken_from_the_cache(run):
    import numpy as np

    run_cli("analyze", run, "--split", "test")
    labels = np.load(run / "test_labels.npy")
    labels[:5] = (labels[:5] + 1) % 10
    np.save(run / "test_labels.npy", labels)
    out = json.loads(run_cli("analyze", run, "--split", "test", "--format", "json").stdout)
    fresh = json.loads(
        run_cli("analyze", run, "--split", "test", "--format", "json", "--no-cache").stdout
    )
    assert out == fresh


def test_input_kind_is_part_of_the_key(run):
    a = run_cli("inspect", run, "--split", "test", "--format", "json")
    b = run_cli("inspect", run, "--split", "test", "--format", "json", "--input-kind", "logits")
    assert json.loads(a.stdout)["splits"]["test"]["kind_detected"] is True
    assert json.loads(b.stdout)["splits"]["test"]["kind_detected"] is False


def test_no_cache_writes_nothing_and_clear_empties(run):
    assert run_cli("analyze", run, "--no-cache").exit_code == 0
    assert entries() == []
    run_cli("analyze", run)
    assert len(entries()) == 4
    res = run_cli("cache", "clear")
    assert res.exit_code == 0
    assert res.stdout.startswith("Removed 4 cache entries from ")
    assert entries() == []


def test_cache_info_shows_folder_entries_and_sizes(run):
    empty = run_cli("cache", "info")
    folder = Path(os.environ["XDG_CACHE_HOME"]) / "predaudit"
    assert empty.exit_code == 0
    assert empty.stdout.splitlines() == [f"Cache folder: {folder}", "0 entries, 0 B"]
    assert run_cli("analyze", run).exit_code == 0
    (folder / "predaudit-notes.npz").write_bytes(b"not ours")  # never listed
    res = run_cli("cache", "info")
    lines = res.stdout.splitlines()
    total = sum(p.stat().st_size for p in entries() if p.name != "predaudit-notes.npz")
    from predaudit.text import human_bytes

    assert lines[1] == f"4 entries, {human_bytes(total)}"
    listed = sorted(line.split(": ", 1)[1] for line in lines[2:])
    assert listed == sorted(
        str((run / f"{s}_logits.npy").resolve()) for s in ("test", "train") for _ in (0, 1)
    )
    assert human_bytes(1536) == "1.5 KiB" and human_bytes(10) == "10 B"


def test_an_entry_of_another_version_is_replaced(run, monkeypatch):
    from predaudit.store import cache

    with monkeypatch.context() as m:
        m.setattr(cache, "_version", lambda: "0.0.old")
        assert run_cli("analyze", run, "--split", "test").exit_code == 0
        old = entries()
        assert len(old) == 2  # the statistics and the temperatures of the compared epochs
        other = run.parent / "other"
        shutil.copytree(run, other)
        assert run_cli("analyze", other, "--split", "test").exit_code == 0
        assert len(entries()) == 4
    assert run_cli("analyze", run, "--split", "test").exit_code == 0
    now = entries()
    stats_old = [p for p in old if p not in now]
    assert len(stats_old) == 2  # this run's old entries went; the other run's stayed
    assert len(now) == 4
