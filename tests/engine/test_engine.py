"""The engine options and the worker-side task, without a cluster (default suite)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import zarr
from click.testing import CliRunner
from engine.layouts import SAMPLE

from predaudit.cli import main
from predaudit.engine import make_engine
from predaudit.engine.rows import (
    ScoresSource,
    merge_evidence,
    merge_stats,
    plan,
    run_task,
    sliceable,
)
from predaudit.errors import InputError, OptionError
from predaudit.io.zarr_store import ZarrContainer


def run_cli(*args: str):
    return CliRunner().invoke(main, list(args), env={"COLUMNS": "80", "NO_COLOR": "1"})


def test_without_dask_the_engine_is_a_usage_error_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    r = run_cli("analyze", str(SAMPLE / "stacked"), "--no-cache", "--engine", "dask")
    assert r.exit_code == 2
    assert r.stderr == (
        'Error: --engine dask needs dask[distributed]: pip install "predaudit[dask]"\n'
    )


def test_a_scheduler_needs_the_dask_engine() -> None:
    r = run_cli("inspect", str(SAMPLE / "stacked"), "--scheduler", "tcp://127.0.0.1:8786")
    assert (r.exit_code, r.stderr) == (2, "Error: --scheduler needs --engine dask\n")
    with pytest.raises(OptionError):
        make_engine("spark")


def test_the_local_engine_imports_no_dask() -> None:
    code = (
        "import sys; from predaudit.cli import main; "
        "main(['analyze', sys.argv[1], '--no-cache', '--format', 'json'], standalone_mode=False); "
        "assert not any(m.split('.')[0] in ('dask', 'distributed', 'zarr') for m in sys.modules)"
    )
    import subprocess

    r = subprocess.run(
        [sys.executable, "-c", code, str(SAMPLE / "stacked")], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr


def torch_ce(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    t = torch.tensor(x, dtype=torch.float64)
    return torch.nn.functional.cross_entropy(t, torch.tensor(y), reduction="none").numpy()


@pytest.mark.parametrize("fmt", ["npy", "zarr"])
def test_tasks_over_row_ranges_give_torch_cross_entropy(tmp_path: Path, fmt: str) -> None:
    """What a worker runs: rows a:b of epoch 2 read from the file, reduced, merged."""
    rng = np.random.default_rng(4)
    x = rng.normal(scale=3.0, size=(3, 1000, 7)).astype(np.float32)
    y = rng.integers(0, 7, 1000)
    if fmt == "npy":
        path = tmp_path / "logits.npy"
        np.save(path, x)
        view = np.load(path, mmap_mode="r")[1]
    else:
        path = tmp_path / "logits.zarr"
        zarr.create_array(str(path), data=x, chunks=(1, 128, 7))
        view = ZarrContainer(path).read("logits")[1]
    assert sliceable(view) and not sliceable(np.array(view))
    src = ScoresSource(path, "logits", 1, None, (1000, 7), "float32")
    ranges = plan(1000, 7, 4, rows=300, align=128 if fmt == "zarr" else 1)
    assert ranges[0] == (0, 256 if fmt == "zarr" else 300) and ranges[-1][1] == 1000
    parts = [run_task(src, a, b, y[a:b], "detect", None, None) for a, b in ranges]
    st = merge_stats([p[0] for p in parts])
    ev = merge_evidence([p[1] for p in parts])
    np.testing.assert_allclose(st.loss, torch_ce(x[1], y), rtol=1e-6)
    np.testing.assert_array_equal(st.pred, x[1].argmax(axis=1))
    assert (ev.min, ev.max, ev.n_nonfinite) == (float(x[1].min()), float(x[1].max()), 0)


def test_a_file_that_changed_since_the_reader_saw_it_is_an_input_error(tmp_path: Path) -> None:
    np.save(tmp_path / "logits.npy", np.zeros((2, 50, 3), np.float32))
    src = ScoresSource(tmp_path / "logits.npy", "logits", 0, None, (60, 3), "float32")
    with pytest.raises(InputError) as info:
        run_task(src, 0, 10, np.zeros(10, np.int64), "scores", "logits", None)
    assert str(info.value) == (
        f"{tmp_path / 'logits.npy'}: changed while being read: scores of shape (50, 3) "
        "(float32) where the reader saw (60, 3) (float32)"
    )


def test_a_plan_covers_the_rows_in_whole_chunks() -> None:
    assert plan(1000, 10, 4, rows=None, align=1, at_least=4) == [
        (0, 250), (250, 500), (500, 750), (750, 1000)
    ]  # fmt: skip
    assert plan(1000, 10, 4, rows=None, align=96, at_least=4) == [
        (0, 192), (192, 384), (384, 576), (576, 768), (768, 960), (960, 1000)
    ]  # fmt: skip
    big = plan(10**7, 1000, 4, rows=None, align=1, at_least=2)  # 64 MiB: 16777 rows a task
    assert big[0] == (0, 16777) and big[-1][1] == 10**7
