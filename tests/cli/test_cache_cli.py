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
