"""End-to-end: ``predaudit analyze`` on a 4 GB run against the script a user would write.

Not a test: run it by hand on an idle machine and read the table.

    python benchmarks/bench_end_to_end.py [--dir /tmp/predaudit-bench-e2e] [--repeats 3]

Writes (once; reused while present) a stacked run ``logits.npy`` of shape
``[20, 50000, 1000]`` float32 (4 GB) and ``labels.npy``, then times as whole
processes, interleaved round by round, median of ``--repeats``:

- ``predaudit analyze RUN --format json --quiet`` (plus ``--no-cache`` when the
  installed CLI has it, so every run does the full work),
- the bare script: load each epoch from the same file, PyTorch's
  ``cross_entropy(reduction="none")`` and ``argmax`` (written next to the data as
  ``bare.py``).

Each process runs under ``/usr/bin/time -v`` for its peak resident memory (the
pages of memory-mapped files it read count). The file is read once beforehand
so both start from the page cache. Targets (issue 7): predaudit's wall time at
most 0.4x the bare script's, peak RSS under 1 GiB.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

EPOCHS, ROWS, CLASSES = 20, 50000, 1000

BARE = """\
import sys

import numpy as np
import torch
import torch.nn.functional as F

scores = np.load(sys.argv[1], mmap_mode="r")
labels = torch.from_numpy(np.load(sys.argv[2]))
for epoch in range(scores.shape[0]):
    logits = torch.from_numpy(np.array(scores[epoch]))
    loss = F.cross_entropy(logits, labels, reduction="none")
    pred = logits.argmax(dim=1)
    print(epoch + 1, float(loss.mean()), float((pred == labels).double().mean()))
"""


def make_run(folder: Path) -> Path:
    """Write the run into ``folder`` unless a complete copy is already there."""
    done = folder / "COMPLETE"
    if done.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, CLASSES, ROWS)
    np.save(folder / "labels.npy", labels)
    out = np.lib.format.open_memmap(
        folder / "logits.npy", mode="w+", dtype=np.float32, shape=(EPOCHS, ROWS, CLASSES)
    )
    # a model that learns, then grows over-confident on the samples it gets wrong
    skill = rng.uniform(0, 1, ROWS).astype(np.float32)
    rows = np.arange(ROWS)
    for e in range(EPOCHS):
        x = rng.standard_normal((ROWS, CLASSES), dtype=np.float32)
        sharpness = np.float32(1.0 + 0.15 * e)
        x *= sharpness
        x[rows, labels] += skill * np.float32(min(e, 8) * 0.8)
        out[e] = x
        print(f"  wrote epoch {e + 1}/{EPOCHS}", file=sys.stderr)
    out.flush()
    del out
    done.write_text("ok\n")
    return folder


def timed(cmd: list[str]) -> tuple[float, int, str]:
    """Run ``cmd`` under /usr/bin/time -v: wall seconds, peak RSS in KiB, stdout."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        t0 = time.perf_counter()
        proc = subprocess.run(
            ["/usr/bin/time", "-v", "-o", tf.name, *cmd],
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - t0
        report = Path(tf.name).read_text()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", report).group(1))
    return wall, rss, proc.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", type=Path, default=Path("/tmp/predaudit-bench-e2e"))
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if not Path("/usr/bin/time").exists():
        raise SystemExit("needs GNU time: apt-get install -y time")

    run = make_run(args.dir)
    scores, labels = run / "logits.npy", run / "labels.npy"
    bare = run / "bare.py"
    bare.write_text(BARE)

    exe = shutil.which("predaudit", path=str(Path(sys.executable).parent)) or "predaudit"
    help_text = subprocess.run([exe, "analyze", "--help"], capture_output=True, text=True).stdout
    cmd_pred = [exe, "analyze", str(run), "--format", "json", "--quiet"]
    if "--no-cache" in help_text:
        cmd_pred.append("--no-cache")
    cmd_bare = [sys.executable, str(bare), str(scores), str(labels)]

    with open(scores, "rb") as fh:  # into the page cache
        while fh.read(1 << 24):
            pass

    results: dict[str, list[tuple[float, int]]] = {"predaudit": [], "bare script": []}
    for i in range(args.repeats):
        for name, cmd in (("predaudit", cmd_pred), ("bare script", cmd_bare)):
            wall, rss, _ = timed(cmd)
            results[name].append((wall, rss))
            line = f"  round {i + 1}: {name:12s} {wall:6.2f} s  {rss / 1024:7.0f} MiB"
            print(line, file=sys.stderr)

    size = os.path.getsize(scores) / 1e9
    print(
        f"run: {run} [{EPOCHS}, {ROWS}, {CLASSES}] float32 ({size:.1f} GB), "
        f"{os.cpu_count()} cores, median of {args.repeats} interleaved runs"
    )
    print(f"predaudit: {' '.join(cmd_pred)}")
    print(f"bare:      {' '.join(cmd_bare)}")
    bare_t = statistics.median(w for w, _ in results["bare script"])
    print(f"{'':12s} {'wall (s)':>9s} {'vs bare':>8s} {'peak RSS (MiB)':>15s}")
    for name, rs in results.items():
        wall = statistics.median(w for w, _ in rs)
        peak = max(r for _, r in rs) / 1024
        print(f"{name:12s} {wall:9.2f} {wall / bare_t:7.2f}x {peak:15.0f}")
    print("targets: predaudit <= 0.40x the bare script's wall time, peak RSS < 1024 MiB")


if __name__ == "__main__":
    main()
