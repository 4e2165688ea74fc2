"""Throughput of the per-sample reduction against what a user would otherwise run.

Not a test: run it by hand on an idle machine and read the table.

    python benchmarks/bench_reduce.py [--rows 50000] [--classes 1000] [--repeats 7]

Generates a ``[rows, classes]`` float32 logits array (random, with a share of
confident rows, as a trained model's outputs) and times, in this one process
and interleaved round by round, so that a busy machine slows all of them alike:

- predaudit's reduction (``reduce_scores``: loss, prediction, true-class
  probability, confidence and margin; and ``reduce_detect``, which also
  gathers the score-kind evidence),
- PyTorch's ``cross_entropy(reduction="none")`` alone,
- a naive numpy log-softmax (``x - logsumexp(x)``, then the true class),
- scikit-learn's ``log_loss`` (on the softmax probabilities, computed beforehand,
  on a slice of the rows to keep it short; its throughput is scaled to bytes read).

Throughput is the float32 input size over the median wall time.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np


def make_logits(rows: int, classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, classes), dtype=np.float32)
    x *= 3.0
    y = rng.integers(0, classes, rows)
    # a trained model: half the rows put their true class well ahead
    half = rng.random(rows) < 0.5
    x[np.flatnonzero(half), y[half]] += rng.uniform(5, 20, int(half.sum())).astype(np.float32)
    return x, y


def naive_numpy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    mx = x.max(axis=1, keepdims=True)
    logp = x - mx - np.log(np.exp(x - mx).sum(axis=1, keepdims=True))
    return -logp[np.arange(len(y)), y]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=50000)
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--sklearn-rows", type=int, default=5000)
    args = ap.parse_args()

    import torch
    import torch.nn.functional as F
    from sklearn.metrics import log_loss

    from predaudit.reduce import reduce_detect, reduce_scores

    x, y = make_logits(args.rows, args.classes)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    ns = min(args.sklearn_rows, args.rows)
    probs = torch.softmax(xt[:ns].double(), dim=1).numpy()
    labels = np.arange(args.classes)

    cases: dict[str, tuple[Callable[[], object], float]] = {
        "predaudit reduce_scores": (lambda: reduce_scores(x, y, kind="logits"), 1.0),
        "predaudit reduce_detect": (lambda: reduce_detect(x, y), 1.0),
        "torch cross_entropy": (lambda: F.cross_entropy(xt, yt, reduction="none"), 1.0),
        "numpy log-softmax": (lambda: naive_numpy(x, y), 1.0),
        "sklearn log_loss": (
            lambda: log_loss(y[:ns], probs, labels=labels, normalize=False),
            ns / args.rows,
        ),
    }
    times: dict[str, list[float]] = {k: [] for k in cases}
    for fn, _ in cases.values():  # warm up
        fn()
    for _ in range(args.repeats):
        for name, (fn, _) in cases.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)

    gb = x.nbytes / 1e9
    med = {k: statistics.median(v) / cases[k][1] for k, v in times.items()}
    torch_t = med["torch cross_entropy"]
    print(
        f"[{args.rows}, {args.classes}] float32 ({gb:.2f} GB), median of {args.repeats}, "
        f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), numpy {np.__version__}"
    )
    print(f"{'':26s} {'time (ms)':>10s} {'GB/s':>7s} {'vs torch':>9s}")
    for name, t in med.items():
        note = f"  (on {ns} rows, scaled)" if cases[name][1] != 1.0 else ""
        print(f"{name:26s} {t * 1e3:10.1f} {gb / t:7.2f} {torch_t / t:8.2f}x{note}")


if __name__ == "__main__":
    main()
