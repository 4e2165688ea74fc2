"""What the figures of ``analyze --out`` cost on the sample run: are plots the slow part?

Not a test: run it by hand and read the table.

    python benchmarks/bench_plots.py [--run sample_data/stacked] [--repeats 5]

Whole processes, interleaved round by round, median of ``--repeats`` (wall time):

- ``predaudit analyze RUN --out DIR --quiet`` with plots, and with ``--no-plots``
  (both from a warm cache of reduced statistics, in a temporary ``XDG_CACHE_HOME``),
  for every split and for ``--split test`` alone;
- the matplotlib import as the command pays it: in a process that has already
  analysed the run (numpy and predaudit loaded), the time to import
  ``matplotlib.pyplot``, and the time to import what predaudit really imports to draw
  (``predaudit.plots``, which never imports pyplot); the smaller is used below.

The same subtraction is also printed in CPU time (user + system of the processes, and
of the import), which a shared, loaded machine disturbs less than wall time. The
command draws its figures on every usable core (``predaudit.plots.workers``: forked
processes), so its CPU time includes theirs, and its wall time gains only where a
core is free: print the load average beside any figure.

Then, in one fresh process per round, the breakdown of the figures, one after the
other in that process (no workers): for every split and figure the time to build it
(``plot_*``) and to save it (``save_figure``: layout, drawing and PNG encoding; the
first figure also pays the first use of the font machinery), in wall and in CPU time.

Target (issue 17, point 4), read as: the figures' drawing and saving cost no more than
the rest of the command, ``t(plots) - t(--no-plots) - t(import) <= t(--no-plots)``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, sys, tempfile, time
from pathlib import Path

t0 = time.perf_counter()
import predaudit

run = predaudit.load_run(sys.argv[2])
report = predaudit.analyze(run)
t1, c1 = time.perf_counter(), time.process_time()
out = {"analyze": t1 - t0}
if sys.argv[1] == "pyplot":
    import matplotlib.pyplot  # noqa: F401

    out["import"] = time.perf_counter() - t1
    out["import_cpu"] = time.process_time() - c1
else:
    from predaudit import plots

    t2 = time.perf_counter()
    out["import"] = t2 - t1
    out["import_cpu"] = time.process_time() - c1
    figures = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, split in report.splits.items():
            for fig_name in plots.analyze_figures(split):
                a, ca = time.perf_counter(), time.process_time()
                fig = getattr(plots, f"plot_{fig_name}")(split)
                b, cb = time.perf_counter(), time.process_time()
                plots.save_figure(fig, Path(tmp) / f"{name}_{fig_name}.png")
                c, cc = time.perf_counter(), time.process_time()
                figures.append([name, fig_name, b - a, c - b, cb - ca, cc - cb])
    out["figures"] = figures
print(json.dumps(out))
"""


def wall(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of ``cmd`` run as a process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def child(mode: str, run: str, env: dict[str, str]) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, mode, run],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"breakdown ({mode}) failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def ms(seconds: float) -> str:
    return f"{1000 * seconds:7.0f}"


CPU_TITLE = "the same in CPU time (user + system; the import's in CPU too), less sensitive to load:"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", default="sample_data/stacked")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    exe = shutil.which("predaudit", path=str(Path(sys.executable).parent))
    base = [exe] if exe else [sys.executable, "-m", "predaudit"]
    with tempfile.TemporaryDirectory(prefix="predaudit-bench-plots-") as tmp_name:
        tmp = Path(tmp_name)
        env = {**os.environ, "XDG_CACHE_HOME": str(tmp / "cache"), "MPLBACKEND": "agg"}
        cmds = {}
        for scope, extra in (("all splits", []), ("--split test", ["--split", "test"])):
            for kind, flag in (("plots", []), ("no-plots", ["--no-plots"])):
                out = tmp / f"out-{len(cmds)}"
                cmds[scope, kind] = [
                    *base, "analyze", args.run, "--out", str(out), "--quiet", *extra, *flag
                ]  # fmt: skip
        wall(cmds["all splits", "no-plots"], env)  # fill the cache
        load_before = os.getloadavg()[0]
        times: dict[tuple[str, str], list[float]] = {key: [] for key in cmds}
        cpus: dict[tuple[str, str], list[float]] = {key: [] for key in cmds}
        imports: dict[str, list[float]] = {"pyplot": [], "plots": []}
        imports_cpu: dict[str, list[float]] = {"pyplot": [], "plots": []}
        breakdown: list[dict] = []
        for i in range(args.repeats):
            for key, cmd in cmds.items():
                shutil.rmtree(cmd[cmd.index("--out") + 1], ignore_errors=True)
                elapsed, cpu = wall(cmd, env)
                times[key].append(elapsed)
                cpus[key].append(cpu)
            info = child("pyplot", args.run, env)
            imports["pyplot"].append(info["import"])
            imports_cpu["pyplot"].append(info["import_cpu"])
            info = child("plots", args.run, env)
            imports["plots"].append(info["import"])
            imports_cpu["plots"].append(info["import_cpu"])
            breakdown.append(info)
            row = "  ".join(f"{k[0]}/{k[1]} {v[-1]:.2f}s" for k, v in times.items())
            print(f"  round {i + 1}: {row}", file=sys.stderr)

    med = {key: statistics.median(v) for key, v in times.items()}
    med_cpu = {key: statistics.median(v) for key, v in cpus.items()}
    imp_pyplot = statistics.median(imports["pyplot"])
    imp_plots = statistics.median(imports["plots"])
    imp = min(imp_pyplot, imp_plots)
    imp_cpu = min(statistics.median(v) for v in imports_cpu.values())
    load = os.getloadavg()
    print(
        f"run: {args.run}, {os.cpu_count()} cores, load average {load_before:.1f} -> "
        f"{load[0]:.1f}, "
        f"median of {args.repeats} interleaved rounds (wall, ms)"
    )
    print(f"command: predaudit {' '.join(cmds['all splits', 'plots'][len(base) :])}")
    print(f"import matplotlib.pyplot (after the analysis) {ms(imp_pyplot)}")
    print(f"import predaudit.plots (after the analysis)   {ms(imp_plots)}")
    header = f"{'':14s} {'--no-plots':>10s} {'plots':>7s} {'import':>7s} {'figures':>8s}  target"
    print(header)
    for title, times, imported in ((None, med, imp), (CPU_TITLE, med_cpu, imp_cpu)):
        if title:
            print(title)
        for scope in ("all splits", "--split test"):
            noplots, plots_ = times[scope, "no-plots"], times[scope, "plots"]
            figures = plots_ - noplots - imported
            ok = "met" if figures <= noplots else "NOT met"
            print(
                f"{scope:14s} {ms(noplots):>10s} {ms(plots_):>7s} {ms(imported):>7s} "
                f"{ms(figures):>8s}  figures <= --no-plots: {ok} ({figures / noplots:.2f}x)"
            )

    print("\nin one process (median over rounds, ms): build = plot_*, save = save_figure")
    print(f"{'':24s} {'wall':>23s}   {'CPU':>23s}")
    print(f"{'split':8s} {'figure':15s}" + f" {'build':>7s} {'save':>7s} {'total':>7s}  " * 2)
    rows = breakdown[0]["figures"]
    totals = [0.0, 0.0]
    for j, (split, name, *_) in enumerate(rows):
        cols = [statistics.median(b["figures"][j][k] for b in breakdown) for k in (2, 3, 4, 5)]
        totals[0] += cols[0] + cols[1]
        totals[1] += cols[2] + cols[3]
        print(
            f"{split:8s} {name:15s} {ms(cols[0])} {ms(cols[1])} {ms(cols[0] + cols[1])}   "
            f"{ms(cols[2])} {ms(cols[3])} {ms(cols[2] + cols[3])}"
        )
    analyze = statistics.median(b["analyze"] for b in breakdown)
    print(f"{'all':8s} {'figures':15s} {'':15s} {ms(totals[0])}   {'':15s} {ms(totals[1])}")
    print(f"(load + analyze in the same process: {ms(analyze).strip()} ms)")


if __name__ == "__main__":
    main()
