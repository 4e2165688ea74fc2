"""``--engine dask`` on a real ``distributed.LocalCluster`` of two worker processes: the JSON
of every layout equals the local engine's, a worker killed mid-run changes nothing, and a
bad chunk found on a worker is the local engine's one-line input error (exit 3)."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import zarr
from click.testing import CliRunner
from distributed import Client, LocalCluster
from engine.layouts import LAYOUTS, ROOT, SAMPLE, assert_same_json

from predaudit import engine
from predaudit.cli import main
from predaudit.engine import cluster as dask_engine
from predaudit.engine.cluster import DaskEngine
from predaudit.store.build import load_run

pytestmark = [pytest.mark.dask, pytest.mark.filterwarnings("ignore")]


@pytest.fixture(scope="module")
def cluster():  # type: ignore[no-untyped-def]
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.CRITICAL,
    ) as c:
        yield c


def run_cli(*args: str):
    return CliRunner().invoke(main, list(args), env={"COLUMNS": "80", "NO_COLOR": "1"})


def both(cluster: LocalCluster, *args: str) -> tuple[object, object]:  # type: ignore[type-arg]
    """The command's result with the local engine, then on the cluster (tasks counted)."""
    local = run_cli(*args)
    before = cluster.scheduler.transition_counter
    on_dask = run_cli(*args, "--engine", "dask", "--scheduler", cluster.scheduler_address)
    return local, on_dask, cluster.scheduler.transition_counter - before  # type: ignore[return-value]


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_every_layout_gives_the_local_json(
    name: str, cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREDAUDIT_DASK_ROWS", "64")  # several tasks per epoch
    run = LAYOUTS[name](tmp_path)
    local, on_dask, transitions = both(
        cluster, "analyze", str(run), "--format", "json", "--no-cache"
    )
    assert local.exit_code == 0, local.output  # type: ignore[attr-defined]
    assert on_dask.exit_code == 0, on_dask.output  # type: ignore[attr-defined]
    assert on_dask.stderr == ""  # type: ignore[attr-defined]
    assert transitions > 0  # the reduction ran on the cluster
    assert_same_json(json.loads(on_dask.stdout), json.loads(local.stdout))  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "command",
    [["calibration"], ["dynamics"], ["confusion"], ["inspect"]],
)
def test_the_other_commands_give_the_local_json(
    command: list[str], cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREDAUDIT_DASK_ROWS", "100")
    args = [*command, str(SAMPLE / "stacked"), "--format", "json", "--no-cache"]
    local, on_dask, transitions = both(cluster, *args)
    assert local.exit_code == 0, local.output  # type: ignore[attr-defined]
    assert on_dask.exit_code == 0, on_dask.output  # type: ignore[attr-defined]
    assert transitions > 0
    assert_same_json(json.loads(on_dask.stdout), json.loads(local.stdout))  # type: ignore[attr-defined]


def big_run(folder: Path, e: int = 6, n: int = 240_000, c: int = 10) -> Path:
    folder.mkdir()
    rng = np.random.default_rng(11)
    out = np.lib.format.open_memmap(
        folder / "logits.npy", mode="w+", dtype=np.float32, shape=(e, n, c)
    )
    for i in range(e):
        out[i] = rng.normal(scale=2.0, size=(n, c))
    out.flush()
    del out
    np.save(folder / "labels.npy", rng.integers(0, c, n))
    return folder


FIELDS = ("loss", "pred", "correct", "p_true", "confidence", "margin", "labels")


def test_a_worker_killed_mid_run_changes_nothing(tmp_path: Path) -> None:
    run = big_run(tmp_path / "big")
    local = load_run(run).splits["default"]
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.CRITICAL,
        ) as cl,
        Client(cl) as watcher,
    ):
        eng = DaskEngine(cl.scheduler_address, rows=4000)  # 60 tasks an epoch
        pids = {n.worker_address: n.process.process.pid for n in cl.workers.values()}
        killed: list[int] = []

        def kill_a_busy_worker() -> None:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not killed:
                busy = [w for w, tasks in watcher.processing().items() if tasks and w in pids]
                if busy and eng.tasks > 60:  # past the first epoch, tasks running
                    os.kill(pids[busy[0]], signal.SIGKILL)
                    killed.append(pids[busy[0]])
                time.sleep(0.005)

        th = threading.Thread(target=kill_a_busy_worker)
        th.start()
        with engine.use(eng):
            got = load_run(run).splits["default"]
        th.join()
        restarted = {n.process.process.pid for n in cl.workers.values() if n.process}
    assert killed and killed[0] not in restarted  # a worker process died and was replaced
    assert eng.tasks == 6 * 60
    for f in FIELDS:
        np.testing.assert_array_equal(np.asarray(getattr(got, f)), np.asarray(getattr(local, f)))


def one_line(result: object) -> str:
    assert result.exit_code == 3, result.output  # type: ignore[attr-defined]
    assert result.stdout == "" and result.stderr.count("\n") == 1  # type: ignore[attr-defined]
    return result.stderr  # type: ignore[attr-defined, no-any-return]


def test_a_nan_in_one_chunk_is_the_local_error(
    cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREDAUDIT_DASK_ROWS", "64")
    x = np.load(SAMPLE / "stacked" / "test_logits.npy")[:4]
    x[2, 300, 4] = np.nan
    (tmp_path / "r").mkdir()
    np.save(tmp_path / "r" / "logits.npy", x)
    np.save(tmp_path / "r" / "labels.npy", np.load(SAMPLE / "stacked" / "test_labels.npy"))
    local, on_dask, _ = both(cluster, "analyze", str(tmp_path / "r"), "--no-cache")
    assert one_line(on_dask) == one_line(local)
    assert one_line(on_dask) == (
        f"Error: {tmp_path / 'r' / 'logits.npy'}: 1 logit is NaN at epoch 3 "
        "(only -inf is accepted, as an impossible class)\n"
    )


def test_a_corrupt_zarr_chunk_read_on_a_worker_is_the_local_error(
    cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREDAUDIT_DASK_ROWS", "64")
    store = LAYOUTS["zarr"](tmp_path)  # logits chunked (1, 64, 10)
    (store / "logits" / "c" / "3" / "2" / "0").write_bytes(b"\x00garbage" * 9)
    local, on_dask, _ = both(cluster, "analyze", str(store), "--no-cache")
    assert one_line(on_dask) == one_line(local)
    assert one_line(on_dask).startswith(f"Error: {store}: array 'logits' cannot be read (")


def test_an_unreachable_scheduler_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dask_engine, "CONNECT_TIMEOUT", "1s")
    r = run_cli(
        "analyze", str(SAMPLE / "stacked"), "--no-cache", "--engine", "dask",
        "--scheduler", "tcp://127.0.0.1:9",
    )  # fmt: skip
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith("Error: --scheduler tcp://127.0.0.1:9: cannot reach the Dask")
    assert r.stderr.count("\n") == 1


def test_a_local_cluster_for_the_command_prints_nothing_but_the_result(tmp_path: Path) -> None:
    """No scheduler given: the command starts its own LocalCluster (worker processes that
    write to the same stderr) and stderr stays empty."""
    env = {**os.environ, "PREDAUDIT_DASK_ROWS": "100", "XDG_CACHE_HOME": str(tmp_path)}
    args = [sys.executable, "-m", "predaudit", "analyze", str(SAMPLE / "stacked"), "--format"]
    local = subprocess.run([*args, "json", "--no-cache"], capture_output=True, text=True, env=env)
    on_dask = subprocess.run(
        [*args, "json", "--no-cache", "--engine", "dask"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    assert on_dask.returncode == 0 and on_dask.stderr == "", on_dask.stderr
    assert_same_json(json.loads(on_dask.stdout), json.loads(local.stdout))


def test_zarr_chunks_set_the_task_rows(tmp_path: Path) -> None:
    g = zarr.open_group(str(tmp_path / "run.zarr"), mode="w")
    g.create_array("logits", data=np.zeros((2, 1000, 3), np.float32), chunks=(1, 96, 3))
    g.create_array("labels", data=np.zeros(1000, np.int64))
    eng = DaskEngine(rows=200, n_workers=1)
    with engine.use(eng):
        load_run(tmp_path / "run.zarr")
    assert eng.tasks == 2 * 6  # 192 rows (two whole chunks) a task: 6 tasks an epoch


def test_by_default_an_epoch_keeps_every_worker_busy(
    cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PREDAUDIT_DASK_ROWS", raising=False)
    eng = DaskEngine(cluster.scheduler_address)
    with engine.use(eng):
        load_run(SAMPLE / "stacked", split="test")
    assert eng.tasks == 30 * 4  # two workers of one thread: four tasks an epoch
