"""Recording overhead: an evaluation loop with and without ``predaudit.Recorder``.

Not a test: run it by hand (ideally on an idle machine) and read the numbers.

    python benchmarks/bench_recorder.py [--epochs 30] [--repeats 5] [--batch-size 64]

The loop is the sample-data model's: scikit-learn's ``load_digits`` (1797 samples, 64
features), a 64-128-10 ReLU MLP in PyTorch on the CPU, evaluated in batches with
``model.eval()`` and ``torch.no_grad()``. "off" runs the loop and keeps only the loss
(what a loop computes anyway); "on" also passes every batch's logits, labels and ids to
a ``Recorder`` and writes one ``.npz`` per epoch (atomically; ``--fsync`` also flushes
each file to the disk). Off and on alternate epoch by epoch (``--repeats`` x
``--epochs`` of each); the median and the minimum epoch times (wall clock and CPU time
of the process) are reported, with the overhead in per cent of "off" (on a busy machine
the CPU time and the minimum are the steadier estimates). Target (issue 13): at most 5%.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: N812
from sklearn.datasets import load_digits

from predaudit.record import Recorder


def loop(model, loader, rec: Recorder | None, epoch: int) -> float:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5)
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
    times: dict[str, list[float]] = {"off": [], "on": []}
    cpu: dict[str, list[float]] = {"off": [], "on": []}
    with tempfile.TemporaryDirectory() as tmp:
        rec = Recorder(Path(tmp) / "run", split="val", fsync=args.fsync)
        for e in range(3):  # warm up both paths
            loop(model, loader, None, e)
            loop(model, loader, rec, -e - 1 + 4 * args.epochs * args.repeats)
        epoch = 0
        for _ in range(args.repeats):
            for _ in range(args.epochs):  # off and on alternate epoch by epoch
                for mode in ("off", "on"):
                    t0, c0 = time.perf_counter(), time.process_time()
                    loop(model, loader, rec if mode == "on" else None, epoch)
                    times[mode].append(time.perf_counter() - t0)
                    cpu[mode].append(time.process_time() - c0)
                epoch += 1
    n = len(ds)
    print(f"{n} samples, batch {args.batch_size}, {len(times['on'])} epochs each way")
    for what, table in (("wall", times), ("CPU", cpu)):
        for stat in (statistics.median, min):
            off, on = stat(table["off"]), stat(table["on"])
            print(
                f"{what:>4} {stat.__name__:>6}: off {off * 1e3:7.2f} ms, on {on * 1e3:7.2f} ms "
                f"per epoch: overhead {100 * (on - off) / off:+.1f}% (target <= 5%)"
            )


if __name__ == "__main__":
    main()
