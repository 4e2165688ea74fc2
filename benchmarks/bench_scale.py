"""Scale (issue 17): ``predaudit analyze`` on large generated runs against the PyTorch script.

Not a test: run it by hand, ideally on an idle machine, and read the table.

    python benchmarks/bench_scale.py [--repeats 3] [--big] [--keep DIR] [--shapes NAMES]
                                     [--no-slopes | --slopes-only] [--scale K]

Each shape is generated on the fly (benchmarks/genruns.py: a model that learns, then
over-fits; written chunk by chunk) into a temporary folder, removed after it was
measured unless ``--keep DIR`` (then the runs stay there and are reused while their
SPEC.json matches). The shapes (``--shapes`` picks some by name):

- ``e40``: stacked float32 ``.npy`` [40, 1000000, 10] (1.6 GB);
- ``e200``: [200, 1000000, 10] (8 GB; only with ``--big``);
- ``c1000``: [20, 50000, 1000] (4 GB);
- ``binary``: a single logit per sample, [100, 1000000] (0.4 GB);
- ``cifar500``: 500 epochs of CIFAR-10 shape, one ``.npz`` per epoch [10000, 10] with
  labels and ids, written by predaudit's Recorder.

Each is read once into the page cache, the cache of reduced statistics is filled once
(a private ``XDG_CACHE_HOME`` in the temporary folder), then, as whole processes under
``/usr/bin/time -v`` (peak RSS, mapped pages included), interleaved round by round,
median wall time of ``--repeats`` (peak RSS: the largest):

- ``predaudit analyze RUN --format json --quiet --no-cache`` (the full work),
- ``predaudit analyze RUN --format json --quiet`` (the cached rerun),
- the bare PyTorch script (benchmarks/harness.py BARE: load each epoch,
  ``cross_entropy(reduction="none")`` and ``argmax``, or the binary versions), and its
  imports alone (``python -c "import numpy, torch, ..."``: the table shows them beside
  the script's time),
- a read pass over the run's files from the page cache (``np.load(mmap_mode="r")`` and
  a sum per chunk; the table shows its time inside the process: the floor).

The first round also checks that predaudit's per-epoch mean loss and accuracy are the
script's (so both did the same work) and that the cached rerun prints the same report.
Then one Markdown table with issue 17's targets, PASS/FAIL, and the slopes: how wall
time and peak RSS grow with the epochs E, the samples N and the classes C (at fixed
bytes), each a least-squares line over a small sweep, one line each.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import genruns
import harness
import numpy as np
from genruns import Spec

SHAPES: dict[str, Spec] = {
    "e40": Spec(40, 1_000_000, 10),
    "e200": Spec(200, 1_000_000, 10),
    "c1000": Spec(20, 50_000, 1000),
    "binary": Spec(100, 1_000_000, 1),
    "cifar500": Spec(500, 10_000, 10, layout="per_epoch"),
}
BIG = ("e200",)
GIB, MB = 1024.0, 1e6 / 2**20  # in MiB

CASES = ("no-cache", "cached", "script", "imports", "read")


@dataclass
class Row:
    """The measurements of one shape: per case, the wall times and peak RSS (KiB) of each round."""

    spec: Spec
    walls: dict[str, list[float]] = field(default_factory=dict)
    rss: dict[str, list[int]] = field(default_factory=dict)
    read_s: list[float] = field(default_factory=list)
    read_bytes: int = 0
    cache_bytes: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def wall(self, case: str) -> float:
        return statistics.median(self.walls[case]) if self.walls.get(case) else math.nan

    def peak_mib(self, case: str) -> float:
        return max(self.rss[case]) / 1024 if self.rss.get(case) else math.nan

    def ratio(self, case: str) -> float:
        return self.wall(case) / self.wall("script")

    def add(self, case: str, t: harness.Timing) -> None:
        if t.returncode != 0:
            lines = t.stderr.strip().splitlines()
            self.failed[case] = f"exit {t.returncode}: {lines[-1] if lines else ''}"
            return
        self.walls.setdefault(case, []).append(t.wall)
        self.rss.setdefault(case, []).append(t.rss_kib)


@dataclass(frozen=True)
class Target:
    """One of issue 17's targets: ``what`` of a row at most ``limit``."""

    label: str
    what: Callable[[Row], float]
    limit: float

    def verdict(self, row: Row) -> str:
        value = self.what(row)
        if math.isnan(value):
            return f"{self.label}: n/a"
        return f"{self.label}: {'PASS' if value <= self.limit else 'FAIL'}"


def _analyze_peak(row: Row) -> float:
    return max(row.peak_mib("no-cache"), row.peak_mib("cached"))


SMALL_C = [
    Target("no-cache ≤ 0.40×", lambda r: r.ratio("no-cache"), 0.40),
    Target("cached ≤ 0.10×", lambda r: r.ratio("cached"), 0.10),
]
ONE_GIB = Target("RSS ≤ 1 GiB", _analyze_peak, GIB)
TARGETS: dict[str, list[Target]] = {
    "e40": [*SMALL_C, ONE_GIB],
    "e200": [ONE_GIB],
    "c1000": [
        Target("no-cache ≤ 0.25×", lambda r: r.ratio("no-cache"), 0.25),
        Target("RSS ≤ 300 MB", _analyze_peak, 300 * MB),
    ],
    "binary": SMALL_C,
    "cifar500": [Target("no-cache ≤ 0.29×", lambda r: r.ratio("no-cache"), 0.29)],
}


SCRIPT_IMPORTS = "import numpy, torch, torch.nn.functional"
"""What the script imports, timed alone (the ``imports`` case): on a small run most of the
script's time, and it moves by a second between sessions (PyTorch's files in the page
cache or not), so the ratios of the small runs move with it."""


class Bench:
    """Commands, scripts and the private cache of one benchmark session."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.bare, self.read = harness.write_scripts(tmp)
        self.cache = tmp / "xdg-cache"
        self.env = {"XDG_CACHE_HOME": str(self.cache)}
        self.exe = harness.predaudit_exe()

    def commands(self, run: Path, spec: Spec) -> dict[str, list[str]]:
        analyze = [self.exe, "analyze", str(run), "--format", "json", "--quiet"]
        files = (
            [str(run / "logits.npy"), str(run / "labels.npy")] if spec.layout == "stacked" else []
        )
        return {
            "no-cache": [*analyze, "--no-cache"],
            "cached": analyze,
            "script": [sys.executable, str(self.bare), str(run), *files],
            "imports": [sys.executable, "-c", SCRIPT_IMPORTS],
            "read": [sys.executable, str(self.read), str(run)],
        }

    def clear_cache(self) -> None:
        shutil.rmtree(self.cache, ignore_errors=True)

    def measure(self, runs: dict[Spec, Path], repeats: int, cases: tuple[str, ...]) -> list[Row]:
        """Time ``cases`` on every run, interleaved round by round (runs and cases alike)."""
        rows = {spec: Row(spec) for spec in runs}
        for spec, run in runs.items():
            harness.warm(run)
            if "cached" in cases:
                fill = harness.timed(self.commands(run, spec)["cached"], self.env)
                if fill.returncode != 0:
                    rows[spec].add("cached", fill)
                rows[spec].cache_bytes = sum(
                    p.stat().st_size for p in self.cache.rglob("*") if p.is_file()
                )
        for i in range(repeats):
            for spec, run in runs.items():
                row, out = rows[spec], {}
                for case, cmd in self.commands(run, spec).items():
                    if case not in cases or case in row.failed:
                        continue
                    t = harness.timed(cmd, self.env)
                    row.add(case, t)
                    out[case] = t.stdout
                    if case == "read" and t.returncode == 0:
                        seconds, nbytes, _ = t.stdout.split()
                        row.read_s.append(float(seconds))
                        row.read_bytes = int(nbytes)
                    print(
                        f"  round {i + 1} {spec.label():24s} {case:9s} {t.wall:7.2f} s "
                        f"{t.rss_mib:7.0f} MiB" + ("" if t.returncode == 0 else " FAILED"),
                        *([] if t.returncode == 0 else [f"\n    {row.failed[case]}"]),
                        file=sys.stderr,
                    )
                if i == 0:
                    row.notes += agreement(out)
        return list(rows.values())


def agreement(out: dict[str, str]) -> list[str]:
    """Disagreements between predaudit's reports and the script's per-epoch numbers."""
    notes: list[str] = []
    try:
        split = next(iter(json.loads(out["no-cache"])["splits"].values()))
        script = [line.split() for line in out["script"].splitlines()]
    except (KeyError, ValueError, StopIteration):
        return notes
    ours = np.array([[p["loss"], p["accuracy"]] for p in split["per_epoch"]])
    theirs = np.array([[float(a), float(b)] for _, a, b in script])
    if ours.shape != theirs.shape or not np.allclose(ours, theirs, rtol=1e-4, atol=1e-6):
        notes.append("predaudit's per-epoch loss/accuracy differ from the script's")
    if "cached" in out and out["cached"] != out["no-cache"]:
        notes.append("the cached report differs from the no-cache one")
    return notes


def fmt(seconds: float, mib: float) -> str:
    if math.isnan(seconds):
        return "failed"
    return f"{seconds:.2f} s, {mib:.0f} MiB"


def imports_note(row: Row) -> str:
    """`` (imports 1.70 s)``: the script's imports alone, when measured."""
    seconds = row.wall("imports")
    return "" if math.isnan(seconds) else f" (imports {seconds:.2f} s)"


def times(ratio: float) -> str:
    return "–" if math.isnan(ratio) else f"{ratio:.2f}×"


def failures(row: Row) -> list[str]:
    """One short note per distinct failure: the cases and the last line of their stderr."""
    by_why: dict[str, list[str]] = {}
    for case, why in row.failed.items():
        by_why.setdefault(why if len(why) <= 90 else why[:89] + "…", []).append(case)
    return [f"{', '.join(cases)} failed ({why})" for why, cases in by_why.items()]


def table(rows: list[Row], names: dict[Spec, str]) -> list[str]:
    """The Markdown table: one line per shape, issue 17's targets in the last column."""
    head = (
        "| shape | size | predaudit, no cache | cached | PyTorch script | no-cache / script "
        "| cached / script | read pass | cache | targets (issue 17) |"
    )
    lines = [head, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for row in rows:
        targets = [t.verdict(row) for t in TARGETS.get(names[row.spec], [])]
        targets += failures(row) + row.notes
        read = statistics.median(row.read_s) if row.read_s else math.nan
        cells = [
            row.spec.label(),
            f"{row.spec.nbytes / 1e9:.2f} GB",
            *(fmt(row.wall(c), row.peak_mib(c)) for c in ("no-cache", "cached")),
            fmt(row.wall("script"), row.peak_mib("script")) + imports_note(row),
            times(row.ratio("no-cache")),
            times(row.ratio("cached")),
            f"{read:.2f} s ({row.read_bytes / 1e9 / read:.2f} GB/s)",
            f"{row.cache_bytes / 1e6:.0f} MB",
            "; ".join(targets),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def sweeps(scale: int) -> dict[str, tuple[list[Spec], Callable[[Spec], float], str]]:
    """E, N and C (at fixed bytes, N·C = 10M) sweeps: specs, the x of each, x's unit."""
    n = 10_000_000 // scale
    return {
        f"E (N = {200_000 // scale}, C = 10)": (
            [Spec(e, 200_000 // scale, 10) for e in (10, 20, 40)],
            lambda s: s.epochs,
            "epoch",
        ),
        "N (E = 10, C = 10)": (
            [Spec(10, k // scale, 10) for k in (250_000, 500_000, 1_000_000)],
            lambda s: s.samples / 1e6,
            "million samples",
        ),
        f"C at fixed bytes (E = 10, N·C = {n})": (
            [Spec(10, n // c, c) for c in (10, 100, 1000)],
            lambda s: math.log10(s.classes),
            "tenfold C",
        ),
    }


def slope_lines(rows: dict[Spec, Row], scale: int) -> list[str]:
    lines = []
    for name, (specs, x_of, unit) in sweeps(scale).items():
        x = [x_of(s) for s in specs]
        parts = []
        for case, who in (("no-cache", "predaudit --no-cache"), ("script", "script")):
            walls = [rows[s].wall(case) for s in specs]
            peaks = [rows[s].peak_mib(case) for s in specs]
            if any(math.isnan(w) for w in walls):
                why = {rows[s].failed[case] for s in specs if case in rows[s].failed}
                parts.append(f"{who} failed ({'; '.join(sorted(why))})")
                continue
            seq = " / ".join(f"{w:.2f}" for w in walls)
            bw, aw = np.polyfit(x, walls, 1)
            bm, am = np.polyfit(x, peaks, 1)
            parts.append(
                f"{who} {bw:+.3f} s and {bm:+.1f} MiB peak RSS per {unit} "
                f"(intercepts {aw:.2f} s, {am:.0f} MiB; measured {seq} s)"
            )
        grid = ", ".join(s.label() for s in specs)
        lines.append(f"- {name}, {grid}: " + "; ".join(parts))
    return lines


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--big", action="store_true", help="also the 8 GB [200, 1000000, 10] run")
    ap.add_argument("--keep", type=Path, help="write the runs here and keep them (reused)")
    ap.add_argument("--tmp", type=Path, help="parent of the temporary folder")
    ap.add_argument("--shapes", help=f"comma-separated subset of {', '.join(SHAPES)}")
    ap.add_argument("--no-slopes", action="store_true")
    ap.add_argument("--slopes-only", action="store_true")
    ap.add_argument("--scale", type=int, default=1, help="divide every N by this (a quick check)")
    args = ap.parse_args(argv)
    harness.need_gnu_time()
    names = [n for n in SHAPES if n not in BIG or args.big]
    if args.shapes:
        names = [n.strip() for n in args.shapes.split(",")]
        if unknown := set(names) - set(SHAPES):
            ap.error(f"unknown shapes {sorted(unknown)}; known: {', '.join(SHAPES)}")
    if args.slopes_only:
        names = []

    def scaled(spec: Spec) -> Spec:
        return replace(spec, samples=max(1, spec.samples // args.scale))

    start = harness.machine_line()
    print(f"machine: {start}", file=sys.stderr)
    tmp = Path(tempfile.mkdtemp(prefix="predaudit-bench-scale-", dir=args.tmp))
    store = args.keep or tmp / "runs"
    try:
        bench, rows, labels = Bench(tmp), [], {}
        for name in names:
            spec = scaled(SHAPES[name])
            labels[spec] = name
            verb = "reusing" if genruns.is_complete(store / name, spec) else "generating"
            print(f"{name}: {verb} {spec.label()} in {store / name}", file=sys.stderr)
            run = genruns.write(store / name, spec)
            rows += bench.measure({spec: run}, args.repeats, CASES)
            bench.clear_cache()
            if args.keep is None:
                shutil.rmtree(run)
        slopes: list[str] = []
        if not args.no_slopes:
            specs = list(dict.fromkeys(s for g, _, _ in sweeps(args.scale).values() for s in g))
            runs = {}
            for spec in specs:
                folder = store / f"sweep-{spec.epochs}x{spec.samples}x{spec.classes}"
                verb = "reusing" if genruns.is_complete(folder, spec) else "generating"
                print(f"sweep: {verb} {spec.label()} in {folder}", file=sys.stderr)
                runs[spec] = genruns.write(folder, spec)
            measured = bench.measure(runs, args.repeats, ("no-cache", "script"))
            slopes = slope_lines({r.spec: r for r in measured}, args.scale)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"Machine: {start}; at the end: load average {harness.load_average()}.")
    print(
        f"predaudit {harness.git_commit(Path(__file__).resolve().parents[1])}; whole processes, "
        f"interleaved, median wall of {args.repeats}, peak RSS (largest) from /usr/bin/time -v."
    )
    if args.scale != 1:
        print(f"Every N divided by {args.scale}: the targets do not apply to these shapes.")
    if rows:
        print()
        print("\n".join(table(rows, labels)))
    if slopes:
        print()
        print("How cost grows (least-squares line: intercept + slope):")
        print("\n".join(slopes))


if __name__ == "__main__":
    main()
