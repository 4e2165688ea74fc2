"""Throughput of the per-sample reduction against what a user would otherwise run.

Not a test: run it by hand on an idle machine and read the table.

    python benchmarks/bench_reduce.py [--repeats 7] [--rows N --classes C] [--crossover]

For each shape — [50000, 1000] (many classes), [1000000, 10] (few classes, the
column kernel) and a single binary logit [1000000] — generates float32 logits
(random, with a share of confident rows, as a trained model's outputs) and
times, in this one process and interleaved round by round, so that a busy
machine slows all of them alike:

- predaudit's reduction (``reduce_scores``: loss, prediction, true-class
  probability, confidence and margin; and ``reduce_detect``, which also
  gathers the score-kind evidence),
- PyTorch's ``cross_entropy(reduction="none")`` alone
  (``binary_cross_entropy_with_logits`` for the binary shape),
- a naive numpy log-softmax (``x - logsumexp(x)``, then the true class),
- scikit-learn's ``log_loss`` (on the softmax probabilities, computed beforehand,
  on a slice of the rows to keep it short; its throughput is scaled to bytes read),
- for the multiclass shapes, a floor ("floor: exp, log1p"): numpy's float32 ``exp`` of
  every score and the float64 ``log1p`` of one value a row, in the reduction's chunks
  and threads. A kernel whose results stay those of numpy's ``exp``
  (compiled or not) does at least this work, so its distance to the reduction shows
  what the other passes cost, and its ratio to PyTorch bounds the reduction's.

Throughput is the float32 input size over the median wall time; "best" is the
fastest round and "spread" (max - min) / median, to judge how busy the machine
was. ``--crossover`` times the column kernel against the row kernel for C from
4 to 128 (the threshold ``reduce.columns.MAX_CLASSES`` comes from it).
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


SHAPES = {
    "large-C": (50000, 1000),
    "small-C": (1000000, 10),
    "binary": (1000000, 0),
}


def transcendental_floor(x: np.ndarray) -> Callable[[], object]:
    """The work no numpy kernel that keeps numpy's own ``exp`` can skip, in the
    reduction's threads and chunks: float32 ``exp`` of every score, then the float64
    ``log1p`` of one value a row (the loss's ``log1p(R)``)."""
    from predaudit.reduce.columns import column_chunk_rows
    from predaudit.reduce.pool import _run_chunks, _threads

    n, c = x.shape
    rows = column_chunk_rows(c, None, 4)

    def make_worker() -> Callable[[int, int], None]:
        buf, row = np.empty((rows, c), dtype=np.float32), np.empty(rows)

        def run(a: int, b: int) -> None:
            m = b - a
            np.exp(x[a:b], out=buf[:m])
            np.abs(buf[:m, 0], out=row[:m])
            np.log1p(row[:m], out=row[:m])

        return run

    return lambda: _run_chunks(n, rows, _threads(None), make_worker)


def spread(ts: list[float]) -> str:
    """The median's spread: (max - min) / median, in percent."""
    return f"{100 * (max(ts) - min(ts)) / statistics.median(ts):.0f}%"


def bench_shape(rows: int, classes: int, repeats: int, sklearn_rows: int) -> None:
    import torch
    import torch.nn.functional as F
    from sklearn.metrics import log_loss

    from predaudit.reduce import reduce_detect, reduce_scores

    cases: dict[str, tuple[Callable[[], object], float]]
    if classes == 0:  # a single sigmoid logit per sample
        rng = np.random.default_rng(0)
        s = (rng.standard_normal(rows) * 4).astype(np.float32)
        yb = rng.integers(0, 2, rows)
        st, ybt = torch.from_numpy(s), torch.from_numpy(yb.astype(np.float32))
        x = s
        cases = {
            "predaudit reduce_scores": (lambda: reduce_scores(s, yb, kind="logits"), 1.0),
            "predaudit reduce_detect": (lambda: reduce_detect(s, yb, kind="logits"), 1.0),
            "torch cross_entropy": (
                lambda: F.binary_cross_entropy_with_logits(st, ybt, reduction="none"),
                1.0,
            ),
        }
        torch_name = "torch cross_entropy"
    else:
        x, y = make_logits(rows, classes)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        ns = min(sklearn_rows, rows)
        probs = torch.softmax(xt[:ns].double(), dim=1).numpy()
        labels = np.arange(classes)
        cases = {
            "predaudit reduce_scores": (lambda: reduce_scores(x, y, kind="logits"), 1.0),
            "predaudit reduce_detect": (lambda: reduce_detect(x, y), 1.0),
            "torch cross_entropy": (lambda: F.cross_entropy(xt, yt, reduction="none"), 1.0),
            "floor: exp, log1p": (transcendental_floor(x), 1.0),
            "numpy log-softmax": (lambda: naive_numpy(x, y), 1.0),
            "sklearn log_loss": (
                lambda: log_loss(y[:ns], probs, labels=labels, normalize=False),
                ns / rows,
            ),
        }
        torch_name = "torch cross_entropy"
    times: dict[str, list[float]] = {k: [] for k in cases}
    for fn, _ in cases.values():  # warm up
        fn()
    for _ in range(repeats):
        for name, (fn, _) in cases.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)

    gb = x.nbytes / 1e9
    med = {k: statistics.median(v) / cases[k][1] for k, v in times.items()}
    torch_t = med[torch_name]
    shape = f"[{rows}]" if classes == 0 else f"[{rows}, {classes}]"
    what = "binary logits" if classes == 0 else "logits"
    print(
        f"{shape} float32 {what} ({x.nbytes / 1e6:.0f} MB), median of {repeats}, "
        f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), numpy {np.__version__}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    ref = "torch BCE-with-logits" if classes == 0 else "torch cross_entropy"
    print(f"{'':26s} {'time (ms)':>10s} {'best':>7s} {'spread':>7s} {'GB/s':>7s} {'vs torch':>9s}")
    for name, t in med.items():
        note = f"  (on {ns} rows, scaled)" if cases[name][1] != 1.0 else ""
        best = min(times[name]) / cases[name][1]
        label = ref if name == torch_name else name
        print(
            f"{label:26s} {t * 1e3:10.1f} {best * 1e3:7.1f} {spread(times[name]):>7s} "
            f"{gb / t:7.2f} {torch_t / t:8.2f}x{note}"
        )
    print()


def crossover(repeats: int) -> None:
    """The column kernel against the row kernel at a fixed 40 MB of float32 logits."""
    from predaudit.reduce import columns, reduce_scores

    default = columns.MAX_CLASSES
    print(f"column vs row kernel, 40 MB float32 logits, median of {repeats}")
    print(f"{'classes':>8s} {'columns (ms)':>13s} {'rows (ms)':>10s} {'rows/columns':>13s}")
    try:
        for c in (4, 8, 16, 24, 32, 48, 64, 128):
            x, y = make_logits(10_000_000 // c, c)
            ts: dict[int, list[float]] = {1 << 30: [], 0: []}
            for _ in range(repeats):
                for limit in ts:
                    columns.MAX_CLASSES = limit
                    t0 = time.perf_counter()
                    reduce_scores(x, y, kind="logits")
                    ts[limit].append(time.perf_counter() - t0)
            col, row = (statistics.median(ts[k]) for k in (1 << 30, 0))
            print(f"{c:8d} {col * 1e3:13.1f} {row * 1e3:10.1f} {row / col:12.2f}x")
    finally:
        columns.MAX_CLASSES = default


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, help="one [rows, classes] shape instead of the three")
    ap.add_argument("--classes", type=int, default=1000, help="0: a single binary logit")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--sklearn-rows", type=int, default=5000)
    ap.add_argument("--crossover", action="store_true", help="column vs row kernel by C")
    args = ap.parse_args()
    if args.crossover:
        crossover(args.repeats)
        return
    shapes = [(args.rows, args.classes)] if args.rows else list(SHAPES.values())
    for rows, classes in shapes:
        bench_shape(rows, classes, args.repeats, args.sklearn_rows)


if __name__ == "__main__":
    main()
