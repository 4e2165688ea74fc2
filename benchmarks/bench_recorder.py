"""Recording overhead: an evaluation loop with and without ``predaudit.Recorder``.

Not a test: run it by hand (ideally on an idle machine) and read the table.

    python benchmarks/bench_recorder.py [--epochs 20] [--repeats 7] [--batch-size 64]

The loop is the sample-data model's: scikit-learn's ``load_digits`` (1797 samples, 64
features), a 64-128-10 ReLU MLP in PyTorch on the CPU (one thread), evaluated in
batches from a ``DataLoader`` with ``model.eval()`` and ``torch.no_grad()``. "off" runs
the loop and keeps only the loss (what a loop computes anyway); "on" also passes every
batch's logits, labels and ids to a ``Recorder`` and writes one ``.npz`` per epoch
(atomically; ``--fsync`` also flushes each file to the disk); "on, background" is
``Recorder(background=True)``, whose writes overlap the next epoch's evaluation.

The modes run in blocks of ``--epochs`` consecutive epochs (so a background write can
only overlap its own mode's next epoch), the blocks interleaved off, on, background,
off, …, ``--repeats`` times. A block's time per epoch is its wall time (and the
process's CPU time, writer thread included) over its epochs; the table gives the
median and the minimum over the repeats and the overhead of each against "off" in
per cent. Then the time spent inside ``add()`` and ``end_epoch()`` themselves (the
recorder's own cost, timed around each call in further blocks). The load average
before and after is printed: on a shared machine the minimum is the steadier
estimate. Target (issue 13): at most 5%.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: N812
from sklearn.datasets import load_digits

from predaudit.record import Recorder

MODES = ("off", "on", "on, background")


def evaluate(model, loader, rec: Recorder | None, epoch: int) -> float:
    total = 0.0
    model.eval()
    with torch.no_grad():
        for x, y, ids in loader:
            logits = model(x)
            total += float(F.cross_entropy(logits, y, reduction="sum"))
            if rec is not None:
                rec.add(logits, y, ids)
    if rec is not None:
        rec.end_epoch(epoch)
    return total


def breakdown(model, loader, out: Path, args) -> tuple[float, float]:
    """Median ms per epoch spent in add() and in end_epoch() of a Recorder (one thread)."""
    rec = Recorder(out, fsync=args.fsync)
    adds: list[float] = []
    ends: list[float] = []
    epoch = 0
    for _ in range(args.repeats):
        a_sum = e_sum = 0.0
        model.eval()
        for _ in range(args.epochs):
            with torch.no_grad():
                for x, y, ids in loader:
                    logits = model(x)
                    float(F.cross_entropy(logits, y, reduction="sum"))
                    t0 = time.perf_counter()
                    rec.add(logits, y, ids)
                    a_sum += time.perf_counter() - t0
            t0 = time.perf_counter()
            rec.end_epoch(epoch)
            e_sum += time.perf_counter() - t0
            epoch += 1
        adds.append(a_sum / args.epochs * 1e3)
        ends.append(e_sum / args.epochs * 1e3)
    return statistics.median(adds), statistics.median(ends)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20, help="epochs per block")
    parser.add_argument("--repeats", type=int, default=7, help="blocks of each mode")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--fsync", action="store_true", help="Recorder(fsync=True)")
    args = parser.parse_args()

    torch.set_num_threads(1)
    x, y = load_digits(return_X_y=True)
    ds = torch.utils.data.TensorDataset(
        torch.tensor(x / 16.0, dtype=torch.float32), torch.tensor(y), torch.arange(len(y))
    )
    loader = torch.utils.data.DataLoader(ds, batch_size=args.batch_size, shuffle=False)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    wall: dict[str, list[float]] = {m: [] for m in MODES}
    cpu: dict[str, list[float]] = {m: [] for m in MODES}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        recs = {
            "off": None,
            "on": Recorder(Path(tmp) / "on", fsync=args.fsync),
            "on, background": Recorder(Path(tmp) / "bg", fsync=args.fsync, background=True),
        }
        epoch = {m: 0 for m in MODES}
        for r in range(args.repeats + 1):  # the first round warms every path up
            for mode in MODES:
                rec = recs[mode]
                t0, c0 = time.perf_counter(), time.process_time()
                for _ in range(args.epochs):
                    evaluate(model, loader, rec, epoch[mode])
                    epoch[mode] += 1
                if rec is not None:
                    rec.flush()  # the block's last background write counts too
                if r:
                    wall[mode].append((time.perf_counter() - t0) / args.epochs)
                    cpu[mode].append((time.process_time() - c0) / args.epochs)
        for rec in recs.values():
            if rec is not None:
                rec.close()
        parts = breakdown(model, loader, Path(tmp) / "parts", args)
    load_after = os.getloadavg()

    n_batches = len(loader)
    print(
        f"{len(ds)} samples, batch {args.batch_size} ({n_batches} batches per epoch), "
        f"{args.repeats} blocks of {args.epochs} epochs per mode, interleaved; "
        f"{os.cpu_count()} CPUs, load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after"
    )
    print()
    print(
        "| mode | wall median (ms/epoch) | overhead | wall min | overhead | CPU median | overhead |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    ref = {
        "wm": statistics.median(wall["off"]),
        "wn": min(wall["off"]),
        "cm": statistics.median(cpu["off"]),
    }
    for mode in MODES:
        wm, wn, cm = statistics.median(wall[mode]), min(wall[mode]), statistics.median(cpu[mode])
        cells = []
        for value, base in ((wm, ref["wm"]), (wn, ref["wn"]), (cm, ref["cm"])):
            pct = "" if mode == "off" else f"{100 * (value - base) / base:+.1f}%"
            cells += [f"{value * 1e3:.2f}", pct]
        print(f"| {mode} | " + " | ".join(cells) + " |")
    print()
    add_ms, end_ms = parts
    print(
        f"Where the time of 'on' goes (median over {args.repeats} blocks): add() "
        f"{add_ms * 1e3 / n_batches:.1f} us per batch ({add_ms:.3f} ms per epoch), "
        f"end_epoch() {end_ms:.3f} ms per epoch"
    )
    print("Target (issue 13): recording adds at most 5% to the evaluation's wall time.")


if __name__ == "__main__":
    main()
