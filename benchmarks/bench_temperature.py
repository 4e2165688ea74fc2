"""Time of one epoch's temperature fit (``reduce.calibrate.calibrate_epoch``), before and after.

Not a test: run it by hand and read the table.

    python benchmarks/bench_temperature.py [--repeats 5] [--shapes 1000000x10,50000x1000]
                                           [--codes 39f4ec1,now,now-nobrier] [--crossover]

For each shape, generates float32 logits (a model that is right on about 70%
of the rows and overconfident, so ``T*`` is about 1.2 to 2) and times, in this
one process and interleaved round by round (a busy machine slows all alike):

- **2e7e7d3**: the fit as it was up to commit 2e7e7d3, kept below verbatim in
  ``_before_*``: every Newton pass reads the chunks again, widens them to
  float64 and takes ~15 full-array operations with row-wise reductions over the
  class axis; then one more pass for the per-sample loss at ``T*`` and the Brier
  score. (The Newton loop itself is unchanged: ``fit_temperature_with``.) Slow:
  not run unless named in ``--codes``.
- **39f4ec1**: the fit up to commit 39f4ec1 (``plain`` below, from the same
  kernels): Newton from ``T = 1``, every pass in float64 over chunks of 2^20
  scores prepared once when they take at most ``KEEP_BYTES``, else prepared
  again at every pass; the Brier score from the pass at ``T = 1``.
- **now**: ``calibrate_epoch`` as it is now (the staged fit), with the Brier
  score (as ``calibration`` fits), and **now-nobrier** without it
  (``brier=False``, as ``analyze`` fits at its two compared epochs).

``passes`` counts the full passes over the epoch, float32 and float64 alike.
``--run PATH --epochs 10,20`` also times what ``analyze`` fits on a saved run
(``store.temperature.calibrate_epochs`` on those epochs, reading them again);
``--shapes ''`` skips the generated shapes. For the code of an older commit, run
this script with ``PYTHONPATH`` set to that commit's tree (``git archive``).

Each is the median of ``--repeats`` rounds, wall time (``perf_counter``) and
CPU time of this process (``process_time``: on a shared machine the CPU time is
the steadier figure). "peak MiB" is the largest traced allocation (tracemalloc,
which sees numpy's buffers) during one more, untimed run of each, beyond the
input. The table also shows the passes of the fit, ``T*`` from
both (they agree to rounding) and the largest difference of the per-sample
columns. ``--crossover`` times one pass of the kernel, class-major against
row-major, for C from 2 to 1000 at 2^20 scores a chunk (CPU ms), and the
once-an-epoch preparation (``CLASS_MAJOR_MAX`` comes from it).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
import tracemalloc
from collections.abc import Callable

import numpy as np

from predaudit.calibration.scores import (
    base_scores,
    check_labels,
    prepare_scores,
    prepared_moments,
    scaled_probabilities,
    workspace,
)
from predaudit.calibration.temperature import TemperatureSums, fit_temperature_with, sums_from
from predaudit.reduce import calibrate
from predaudit.reduce.calibrate import calibrate_epoch


def _chunks(x: np.ndarray, y: np.ndarray, _: str, rows: int = 0):  # type: ignore[no-untyped-def]
    rows = rows or max(1, (1 << 20) // (x.shape[1] if x.ndim == 2 else 1))
    for a in range(0, x.shape[0], rows):
        yield x[a : a + rows], y[a : a + rows]


def make_logits(rows: int, classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """float32 logits ``[rows, classes]`` and labels: 70% right, overconfident (T* ~ 2)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, rows)
    pred = np.where(rng.random(rows) < 0.7, y, rng.integers(0, classes, rows))
    z = rng.standard_normal((rows, classes), dtype=np.float32) * 2.0
    z[np.arange(rows), pred] += 5.0
    return z, y


# -- before: the code of commit 2e7e7d3 ------------------------------------------------------


def _before_sums(x: np.ndarray, labels: np.ndarray, t: float) -> TemperatureSums:
    z = base_scores(x)
    valid = check_labels(labels, z.shape[0], z.shape[1], -100)
    if not valid.all():
        z = z[valid]
    y = np.asarray(labels)[valid].astype(np.int64)
    n = int(y.size)
    if n == 0:
        return TemperatureSums.zero(t)
    r = np.arange(n)
    zmax = z.max(axis=1)
    n_wrong = int(np.count_nonzero(z[r, y] < zmax))
    n_varied = int(np.count_nonzero(z.min(axis=1) < zmax))
    s = z / t
    am = np.argmax(s, axis=1)
    d = s - s[r, am][:, None]
    e = np.exp(d)
    e[r, am] = 0.0
    rest = e.sum(axis=1)
    e[r, am] = 1.0
    p = e / (1.0 + rest)[:, None]
    dy = d[r, y]
    log_norm = np.log1p(rest)
    loss = log_norm - dy
    grad = np.sum(p * (dy[:, None] - d), axis=1)
    mean_d = np.sum(p * d, axis=1)
    c = d - mean_d[:, None]
    var = np.sum(p * c * c, axis=1)
    entropy = log_norm - mean_d
    return TemperatureSums(
        t,
        n,
        float(loss.sum()),
        float(grad.sum()),
        float((var - grad).sum()),
        float(entropy.sum()),
        int(np.count_nonzero(am == y)),
        n_wrong,
        n_varied,
    )


def _before_loss(x: np.ndarray, labels: np.ndarray, t: float) -> np.ndarray:
    z = base_scores(x)
    valid = check_labels(labels, z.shape[0], z.shape[1], -100)
    z, y = z[valid], np.asarray(labels)[valid].astype(np.int64)
    out = np.full(valid.shape[0], np.nan)
    if y.size:
        s = z / t
        r = np.arange(y.size)
        am = np.argmax(s, axis=1)
        d = s - s[r, am][:, None]
        e = np.exp(d)
        e[r, am] = 0.0
        out[valid] = -d[r, y] + np.log1p(e.sum(axis=1))
    return out


def _before_brier(x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    p = scaled_probabilities(x)
    valid = check_labels(labels, p.shape[0], p.shape[1], -100)
    out = np.full(p.shape[0], np.nan)
    pv = p[valid]
    y = np.asarray(labels)[valid].astype(np.int64)
    if y.size:
        r = np.arange(y.size)
        py = pv[r, y]
        pv[r, y] = 0.0
        out[valid] = (1.0 - py) ** 2 + np.sum(pv * pv, axis=1)
    return out


def before(x: np.ndarray, y: np.ndarray) -> tuple[float, int, np.ndarray, np.ndarray]:
    def at(t: float) -> TemperatureSums:
        total = TemperatureSums.zero(t)
        for a, b in _chunks(x, y, ""):
            total = total + _before_sums(a, b, t)
        return total

    fit = fit_temperature_with(at)
    loss, brier = [], []
    for a, b in _chunks(x, y, ""):
        loss.append(_before_loss(a, b, fit.temperature))
        brier.append(_before_brier(a, b))
    return fit.temperature, fit.passes, np.concatenate(loss), np.concatenate(brier)


def plain(x: np.ndarray, y: np.ndarray) -> tuple[float, int, np.ndarray, np.ndarray]:
    """The fit of commit 39f4ec1: float64 Newton passes from T = 1 (its _Epoch, condensed)."""
    c = x.shape[1] if x.ndim == 2 else 2
    rows = max(1, (1 << 20) // c)
    keep = x.shape[0] * (8 * c + 17) <= calibrate.KEEP_BYTES
    work = workspace(rows * c)
    kept = [(a, prepare_scores(u, v)) for a, (u, v) in enumerate(_chunks(x, y, "", rows)) if keep]
    passes: dict[float, tuple[np.ndarray, np.ndarray | None]] = {}

    def at(t: float) -> TemperatureSums:
        loss, brier = np.full(x.shape[0], np.nan), np.full(x.shape[0], np.nan)
        total = TemperatureSums.zero(t)
        chunks = (
            kept if keep else enumerate(prepare_scores(u, v) for u, v in _chunks(x, y, "", rows))
        )
        for i, prep in chunks:
            mo = prepared_moments(prep, t, loss_rows=True, brier_rows=t == 1.0, work=work)
            total = total + sums_from(prep, mo, t)
            part = slice(i * rows, i * rows + prep.valid.shape[0])
            loss[part][prep.valid] = mo.loss_rows
            if mo.brier_rows is not None:
                brier[part][prep.valid] = mo.brier_rows
        passes[t] = (loss, brier if t == 1.0 else None)
        return total

    fit = fit_temperature_with(at)
    brier = passes[1.0][1]
    assert brier is not None
    return fit.temperature, fit.passes, passes[fit.temperature][0], brier


def after(x: np.ndarray, y: np.ndarray) -> tuple[float, int, np.ndarray, np.ndarray]:
    c = calibrate_epoch(x, y, kind="logits")
    assert c.fit is not None
    return c.temperature, c.fit.passes, c.loss_at_t, c.brier


def after_no_brier(x: np.ndarray, y: np.ndarray) -> tuple[float, int, np.ndarray, np.ndarray]:
    c = calibrate_epoch(x, y, kind="logits", brier=False)
    assert c.fit is not None
    return c.temperature, c.fit.passes, c.loss_at_t, c.brier


CODES = {
    "2e7e7d3": before,
    "39f4ec1": plain,
    "now": after,
    "now-nobrier": after_no_brier,
}


# -- timing ---------------------------------------------------------------------------------


def timed(fn: Callable[[], object]) -> tuple[float, float, object]:
    w, p = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w, time.process_time() - p, out


def bench_shape(rows: int, classes: int, repeats: int, codes: list[str]) -> None:
    x, y = make_logits(rows, classes)
    runs: dict[str, list[tuple[float, float]]] = {k: [] for k in codes}
    results: dict[str, tuple[float, int, np.ndarray, np.ndarray]] = {}
    for _ in range(repeats):
        for name in codes:
            w, p, out = timed(lambda fn=CODES[name]: fn(x, y))  # type: ignore[misc]
            runs[name].append((w, p))
            results[name] = out  # type: ignore[assignment]
    peak = {}
    for name in codes:  # one more run each, untimed
        tracemalloc.start()
        CODES[name](x, y)
        peak[name] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    med = {
        k: (statistics.median(a for a, _ in v), statistics.median(b for _, b in v))
        for k, v in runs.items()
    }
    base = codes[0]
    tb, _, lb, bb = results[base]
    print(f"\n[{rows}, {classes}] float32, {repeats} rounds, load average {os.getloadavg()[0]:.1f}")
    print(
        "| code | wall median (s) | wall min (s) | CPU median (s) | peak MiB | passes | T* "
        f"| vs {base}: wall, CPU, abs(T*/T* - 1), max loss diff, max Brier diff |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name in codes:
        t, passes, la, ba = results[name]
        wmin = min(a for a, _ in runs[name])
        with np.errstate(invalid="ignore"):
            db = np.nanmax(np.abs(ba - bb)) if not np.isnan(ba).all() else float("nan")
        cells = (
            f"{med[name][0]:.3f} | {wmin:.3f} | {med[name][1]:.3f} | {peak[name]:.0f} | "
            f"{passes} | {t:.12g} | x{med[base][0] / med[name][0]:.2f}, "
            f"x{med[base][1] / med[name][1]:.2f}, {abs(t / tb - 1):.1e}, "
            f"{np.nanmax(np.abs(la - lb)):.1e}, {db:.1e}"
        )
        print(f"| {name} | {cells} |")


def crossover() -> None:
    rng = np.random.default_rng(1)
    work = workspace(1 << 21)

    def cpu(fn: Callable[[], object], k: int = 7) -> float:
        ts = []
        for _ in range(k):
            p = time.process_time()
            fn()
            ts.append(time.process_time() - p)
        return statistics.median(ts) * 1e3

    print("\nOne pass of the kernel over 2^20 float32 scores (CPU ms, median of 7)")
    print("| C | class-major pass | row-major pass | class-major prepare | row-major prepare |")
    print("|---|---|---|---|---|")
    for c in (2, 4, 8, 16, 32, 48, 64, 128, 1000):
        m = (1 << 20) // c
        x = (rng.standard_normal((m, c)) * 3).astype(np.float32)
        y = rng.integers(0, c, m)
        cells = []
        for cm in (True, False):
            prep = prepare_scores(x, y, class_major=cm)
            cells.append(cpu(lambda p=prep: prepared_moments(p, 0.7, loss_rows=True, work=work)))
        for cm in (True, False):
            cells.append(cpu(lambda x=x, y=y, cm=cm: prepare_scores(x, y, class_major=cm), 5))
        print(f"| {c} | " + " | ".join(f"{v:.2f}" for v in cells) + " |")


def bench_run(path: str, epochs: list[int], repeats: int) -> None:
    """``analyze``'s fits: ``store.temperature.calibrate_epochs`` on a run's epochs."""
    from predaudit.io.discover import discover
    from predaudit.store.temperature import calibrate_epochs

    for name, layout in discover(path).splits.items():
        times = []
        for _ in range(repeats):
            w, p, out = timed(
                lambda layout=layout: calibrate_epochs(layout, epochs, input_kind="logits")  # type: ignore[misc]
            )
            times.append((w, p))
        fits = {e: (f"{v.temperature:.12g}", v.iterations, v.status) for e, v in out.items()}  # type: ignore[attr-defined]
        wall = statistics.median(a for a, _ in times)
        cpu = statistics.median(b for _, b in times)
        print(
            f"\n{path} split {name}, epochs {epochs}, {repeats} rounds, load average "
            f"{os.getloadavg()[0]:.1f}: wall median {wall:.2f} s, CPU median {cpu:.2f} s; {fits}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--shapes", default="1000000x10,50000x1000")
    ap.add_argument("--codes", default="39f4ec1,now,now-nobrier")
    ap.add_argument("--crossover", action="store_true")
    ap.add_argument("--run", help="also time analyze's fits on this run's --epochs (logits)")
    ap.add_argument("--epochs", default="10,20")
    args = ap.parse_args()
    cpu = platform.processor() or platform.machine()
    print(f"{cpu}, {os.cpu_count()} CPUs, numpy {np.__version__}")
    for shape in filter(None, args.shapes.split(",")):
        rows, classes = (int(v) for v in shape.lower().split("x"))
        bench_shape(rows, classes, args.repeats, args.codes.split(","))
    if args.run:
        bench_run(args.run, [int(e) for e in args.epochs.split(",")], args.repeats)
    if args.crossover:
        crossover()


if __name__ == "__main__":
    main()
