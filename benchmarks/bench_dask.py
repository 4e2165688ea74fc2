"""``--engine dask`` against the local engine (issue 16), and the cost of one Dask task.

Not a test: run it by hand and read the table.

    python benchmarks/bench_dask.py [--epochs 40] [--samples 1000000] [--classes 10]
                                    [--repeats 1] [--workers N] [--keep DIR]

A stacked float32 ``.npy`` run of the shape (default [40, 1000000, 10], 1.6 GB;
benchmarks/genruns.py) is generated into a temporary folder (removed after, unless
``--keep DIR``) and read once into the page cache. Then, as whole processes
(``/usr/bin/time -v``: wall time and the client's peak RSS), interleaved, median of
``--repeats``:

- ``predaudit analyze RUN --format json --quiet --no-cache`` (the local engine),
- the same with ``--engine dask`` (a ``LocalCluster`` of ``--workers`` processes started
  by the command: its start-up is in the time),
- the same with ``--engine dask --scheduler ADDRESS`` on a cluster this script started
  before (start-up not in the time).

And, on that cluster, the per-task overhead: the round trip of 500 empty tasks, and of
predaudit's own task (open the file, read a row range, reduce it, send the per-row
results back) on ``rows=1000`` against one task per epoch of a [4, 100000, 10] run, per
extra task. On one machine the cluster's workers share the cores the local engine uses
alone, so ``--engine dask`` is slower there; the numbers say by how much, and what a
task costs, for deciding when a cluster of several machines pays.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from genruns import Spec, write_stacked  # noqa: E402
from harness import git_commit, machine_line, need_gnu_time, predaudit_exe, timed, warm  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _noop(i: int) -> int:
    return i


def task_overhead(address: str, folder: Path) -> tuple[float, float, int]:
    """Seconds per empty task, seconds per extra predaudit task, bytes of results per row."""
    from distributed import Client

    from predaudit import engine
    from predaudit.engine.cluster import DaskEngine
    from predaudit.store.build import load_run

    with Client(address) as client:
        client.gather(client.map(_noop, range(50)))  # warm
        t0 = time.perf_counter()
        client.gather(client.map(_noop, range(500), pure=False))
        empty = (time.perf_counter() - t0) / 500
    small = folder / "small"
    write_stacked(small, Spec(4, 100_000, 10))
    times = {}
    tasks = {}
    for rows in (100_000, 1000, 100_000, 1000):
        eng = DaskEngine(address, rows=rows)
        t0 = time.perf_counter()
        with engine.use(eng):
            load_run(small)
        times.setdefault(rows, []).append(time.perf_counter() - t0)
        tasks[rows] = eng.tasks
    extra = tasks[1000] - tasks[100_000]
    per_task = (min(times[1000]) - min(times[100_000])) / extra
    # per row and epoch: loss, p_true, confidence, margin (float64), pred (int64), correct
    result_bytes = 4 * 8 + 8 + 1
    return empty, per_task, result_bytes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--samples", type=int, default=1_000_000)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--keep", type=Path, default=None)
    args = ap.parse_args()
    need_gnu_time()
    from distributed import LocalCluster

    spec = Spec(args.epochs, args.samples, args.classes)
    tmp = Path(tempfile.mkdtemp(prefix="bench_dask_"))
    folder = args.keep or tmp
    exe = predaudit_exe()
    env = {"XDG_CACHE_HOME": str(tmp / "xdg")}
    try:
        print(f"machine: {machine_line()}")
        print(f"predaudit {git_commit(ROOT)}; run {spec.label()} float32 stacked .npy", flush=True)
        run = folder / "run"
        write_stacked(run, spec)
        warm(run)
        base = [exe, "analyze", str(run), "--format", "json", "--quiet", "--no-cache"]
        with LocalCluster(
            n_workers=args.workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.CRITICAL,
        ) as cluster:
            commands = {
                "local engine": base,
                f"--engine dask (LocalCluster of {args.workers} started by the command)": [
                    *base,
                    "--engine",
                    "dask",
                ],
                f"--engine dask --scheduler (running cluster, {args.workers} workers)": [
                    *base,
                    "--engine",
                    "dask",
                    "--scheduler",
                    cluster.scheduler_address,
                ],
            }
            walls: dict[str, list[float]] = {k: [] for k in commands}
            rss: dict[str, int] = dict.fromkeys(commands, 0)
            outputs: dict[str, str] = {}
            for _ in range(args.repeats):
                for name, cmd in commands.items():
                    t = timed(cmd, env)
                    if t.returncode != 0:
                        raise SystemExit(f"{name} failed: {t.stderr}")
                    walls[name].append(t.wall)
                    rss[name] = max(rss[name], t.rss_kib)
                    outputs[name] = t.stdout
            same = len(set(outputs.values())) == 1
            empty, per_task, result_bytes = task_overhead(cluster.scheduler_address, folder)
        local = statistics.median(walls["local engine"])
        print(f"\n| command | wall s (median of {args.repeats}) | client peak RSS MiB | × local |")
        print("|---|---:|---:|---:|")
        for name in commands:
            w = statistics.median(walls[name])
            print(f"| {name} | {w:.2f} | {rss[name] / 1024:.0f} | {w / local:.2f} |")
        print(f"\nJSON identical across engines: {same}")
        print(f"empty task round trip: {empty * 1e3:.2f} ms")
        print(f"predaudit task overhead (open, read, reduce, return): {per_task * 1e3:.2f} ms")
        n_rows = spec.epochs * spec.samples
        print(
            f"results sent to the client: {result_bytes} bytes per row and epoch "
            f"({result_bytes * n_rows / 1e9:.2f} GB for this run; its scores are "
            f"{spec.nbytes / 1e9:.2f} GB)"
        )
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
