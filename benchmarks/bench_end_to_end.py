"""End-to-end: ``predaudit analyze`` on a 4 GB run against the script a user would write.

Not a test: run it by hand on an idle machine and read the table.

    python benchmarks/bench_end_to_end.py [--dir /tmp/predaudit-bench-e2e] [--repeats 3]

The ``c1000`` shape of bench_scale.py alone: a stacked run ``logits.npy`` of shape
``[20, 50000, 1000]`` float32 (4 GB) and ``labels.npy``, written once into
``DIR/c1000`` and reused while present, then timed as whole processes, interleaved
round by round, median of ``--repeats``, peak RSS from ``/usr/bin/time -v``:
``predaudit analyze RUN --format json --quiet --no-cache``, the cached rerun, the
bare PyTorch script (load each epoch, ``cross_entropy(reduction="none")``,
``argmax``) and a read pass over the file from the page cache. Targets (issue 17):
predaudit's wall time at most 0.25x the bare script's, peak RSS at most 300 MB.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import bench_scale


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--dir", type=Path, default=Path("/tmp/predaudit-bench-e2e"))
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    keep = ["--keep", str(args.dir)]
    bench_scale.main(["--shapes", "c1000", "--no-slopes", *keep, "--repeats", str(args.repeats)])


if __name__ == "__main__":
    main()
