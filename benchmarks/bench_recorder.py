"""Recording overhead: an evaluation loop with and without ``predaudit.Recorder``.

Not a test: run it by hand (ideally on an idle machine) and read the table.

    python benchmarks/bench_recorder.py [--rounds 60] [--epochs 5] [--batch-size 64] [--fsync]
                                        [--thread] [--floors]

The loop is the sample-data model's: scikit-learn's ``load_digits`` (1797 samples, 64
features), a 64-128-10 ReLU MLP in PyTorch on the CPU (one thread), evaluated in
batches from a ``DataLoader`` with ``model.eval()`` and ``torch.no_grad()``. "off" runs
the loop and keeps only the loss (what a loop computes anyway); "on, background
(default)" also passes every batch's logits, labels and ids to a ``Recorder()``, which
writes one ``.npz`` per epoch (atomically; ``--fsync`` also flushes each file to the
disk) while the next epoch is evaluated, by the writer process (Linux) or else the writer
thread (the table says which; ``--thread`` forces the thread); "on, background=False"
is ``Recorder(background=False)``, which writes the file in ``end_epoch()``.

The machine this runs on is shared and its speed drifts, so the modes are compared
round by round: each round runs a block of ``--epochs`` consecutive epochs of every
mode, in an order that rotates from round to round, and a mode's overhead in that
round is its block's wall time over the "off" block's of the same round, minus 1.
The table gives the median of those paired overheads over ``--rounds`` rounds (the
first rounds warm up and are left out) with their interquartile range (the training
loop's also with a bootstrap 95% interval of that median), and the
median wall and CPU time per epoch (the process's CPU time, writer thread or process
included).
Then the time spent inside ``add()`` and ``end_epoch()`` themselves (timed around each
call in further blocks).

That loop evaluates epoch after epoch, so a background write always runs beside the
next evaluation, and each block ends waiting for its last write. A training loop
evaluates between training epochs: the second table is one, the sample-data run's
(scikit-learn's 75/25 stratified split of the digits, seed 0: an epoch trains on the
1347 training digits in shuffled batches of 64 with Adam, then evaluates the training
and the test digits, each split into its own ``Recorder`` as
``scripts/make_sample_data.py`` does), compared round by round in the same way. It gives
the overhead on the evaluation's wall time (from the first evaluation batch to the
return of the last ``end_epoch()``) and on the whole block (training, evaluation, and
the wait for the block's last write). The load average before and after is printed.
With ``--floors`` the training loop also runs three modes that write nothing, to show
where the background recorder's overhead lies: ``add()`` and ``end_epoch()`` called
and returning at once (what calling a recorder per batch costs at least), ``add()``
alone (the batches held, then dropped at ``end_epoch()``), and ``add()`` with the
epoch joined into the writer process's shared memory (then dropped, no job posted).
Target (issue 13): at most 5% of the wall time of a small training loop's evaluation.
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

from predaudit.record import Recorder, writerproc

MODES = ("off", "on, background (default)", "on, background=False")
FLOORS = ("add() called, nothing done", "add() only", "add() + join")
"""Training-loop modes that write nothing (``--floors``): the call of a recorder method
per batch and per epoch that do nothing (what any recorder with this API costs at
least), what ``add()`` costs alone (the batches held, then dropped at ``end_epoch()``),
and with the background recorder's join of the epoch into the writer process's shared
memory (then dropped, no job posted)."""


class _CallOnly(Recorder):
    """``add()`` and ``end_epoch()`` that return at once."""

    def add(self, scores, labels, ids=None) -> None:
        return None

    def end_epoch(self, epoch: int) -> Path:  # type: ignore[override]
        return self.folder


class _AddOnly(Recorder):
    """``add()`` as it is; ``end_epoch()`` drops the batches (nothing joined or written)."""

    def end_epoch(self, epoch: int) -> Path:  # type: ignore[override]
        self.discard()
        return self._path(epoch, None)  # as end_epoch() makes it


class _JoinOnly(Recorder):
    """``add()`` as it is; ``end_epoch()`` joins the batches as a background recorder does
    (straight into the writer process's shared memory), then posts no job."""

    def end_epoch(self, epoch: int) -> Path:  # type: ignore[override]
        batches = self._epoch
        self._reset()
        assert self._background is not None
        self._background.take(batches)  # (the next take() replaces what submit() would use)
        return self._path(epoch, None)  # as end_epoch() makes it


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


def sample_training(batch: int = 64):
    """The sample-data run's training loop: the training digits' loader (shuffled), one
    evaluation loader per split (``train``, ``test``), the model and its Adam."""
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    xs, ys, ids = torch.tensor(x / 16.0, dtype=torch.float32), torch.tensor(y), torch.arange(len(y))
    train, test = train_test_split(ids.numpy(), test_size=0.25, random_state=0, stratify=y)

    def data(rows):
        rows = torch.from_numpy(rows)
        return torch.utils.data.TensorDataset(xs[rows], ys[rows], ids[rows])

    fit = torch.utils.data.DataLoader(data(train), batch_size=batch, shuffle=True)
    splits = {s: torch.utils.data.DataLoader(data(r), batch_size=batch) for s, r in
              (("train", train), ("test", test))}  # fmt: skip
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=0.005)
    return fit, splits, model, opt


def train_epoch(model, opt, fit) -> None:
    model.train()
    for xb, yb, _ in fit:
        opt.zero_grad()
        F.cross_entropy(model(xb), yb).backward()
        opt.step()


def train_loop(args, tmp: Path) -> dict[str, dict[str, list[float]]]:
    """Per mode, the paired overheads of the evaluation and of the whole block, and the
    evaluation's wall time per epoch (seconds), over the rounds of the training loop."""
    fit, splits, model, opt = sample_training(args.batch_size)
    modes = MODES + (FLOORS if args.floors else ())
    recs = {
        "off": None,
        "on, background=False": {
            s: Recorder(tmp / "train-on", split=s, fsync=args.fsync, background=False)
            for s in splits
        },
        **(
            {
                "add() called, nothing done": {
                    s: _CallOnly(tmp / "train-call", split=s, background=False) for s in splits
                },
                "add() only": {
                    s: _AddOnly(tmp / "train-add", split=s, background=False) for s in splits
                },
                "add() + join": {s: _JoinOnly(tmp / "train-join", split=s) for s in splits},
            }
            if args.floors
            else {}
        ),
        "on, background (default)": {
            s: Recorder(tmp / "train-bg", split=s, fsync=args.fsync) for s in splits
        },
    }
    out: dict[str, dict[str, list[float]]] = {
        m: {"eval": [], "block": [], "eval_ms": []} for m in modes
    }
    epoch = {m: 0 for m in modes}
    warm = 3
    for r in range(warm + args.rounds):
        k = r % len(modes)
        evals: dict[str, float] = {}
        blocks: dict[str, float] = {}
        for mode in modes[k:] + modes[:k]:
            rec = recs[mode]
            spent = 0.0
            t0 = time.perf_counter()
            for _ in range(args.epochs):
                train_epoch(model, opt, fit)
                t1 = time.perf_counter()
                for split, loader in splits.items():
                    evaluate(model, loader, None if rec is None else rec[split], epoch[mode])
                spent += time.perf_counter() - t1
                epoch[mode] += 1
            if rec is not None:
                for split_rec in rec.values():
                    split_rec.flush()
            evals[mode], blocks[mode] = spent, time.perf_counter() - t0
        if r >= warm:
            for mode in modes:
                out[mode]["eval"].append(evals[mode] / evals["off"] - 1)
                out[mode]["block"].append(blocks[mode] / blocks["off"] - 1)
                out[mode]["eval_ms"].append(evals[mode] / args.epochs * 1e3)
    for rec in recs.values():
        for split_rec in (rec or {}).values():
            split_rec.close()
    return out


def spread(values: list[float]) -> str:
    """Median and interquartile range of paired overheads, as percentages."""
    q1, _, q3 = statistics.quantiles(values, n=4)
    return f"{100 * statistics.median(values):+.1f}% | {100 * q1:+.1f}% … {100 * q3:+.1f}%"


def median_interval(values: list[float], level: float = 0.95) -> str:
    """A bootstrap interval of the median of paired overheads (percentile method, 4000
    resamplings of the rounds, seeded): how far the median itself may be off."""
    import numpy as np

    v = np.asarray(values)
    rng = np.random.default_rng(0)
    medians = np.median(v[rng.integers(0, len(v), (4000, len(v)))], axis=1)
    lo, hi = np.quantile(medians, [(1 - level) / 2, (1 + level) / 2])
    return f"{100 * lo:+.1f}% … {100 * hi:+.1f}%"


def breakdown(model, loader, out: Path, args) -> tuple[float, float]:
    """Median ms per epoch spent in add() and in end_epoch() of a Recorder (one thread)."""
    rec = Recorder(out, fsync=args.fsync, background=False)
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


def writer_cpu() -> float:
    """CPU seconds the writer process has used so far (0 without one)."""
    process = writerproc._WRITER[0].proc if writerproc._WRITER else None
    if process is None or process.poll() is not None:
        return 0.0
    fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=60, help="paired rounds")
    parser.add_argument("--epochs", type=int, default=5, help="epochs per block")
    parser.add_argument("--repeats", type=int, default=7, help="blocks timed for the breakdown")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--fsync", action="store_true", help="Recorder(fsync=True)")
    parser.add_argument("--thread", action="store_true", help="the writer thread, not the process")
    parser.add_argument(
        "--floors", action="store_true", help="also the training loop's modes that write nothing"
    )
    args = parser.parse_args()
    if args.thread:
        writerproc.shared = lambda: None  # what a platform without the process gets

    torch.set_num_threads(1)
    x, y = load_digits(return_X_y=True)
    ds = torch.utils.data.TensorDataset(
        torch.tensor(x / 16.0, dtype=torch.float32), torch.tensor(y), torch.arange(len(y))
    )
    loader = torch.utils.data.DataLoader(ds, batch_size=args.batch_size, shuffle=False)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    warm = 3
    wall: dict[str, list[float]] = {m: [] for m in MODES}
    cpu: dict[str, list[float]] = {m: [] for m in MODES}
    overhead: dict[str, list[float]] = {m: [] for m in MODES[1:]}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        recs = {
            "off": None,
            "on, background (default)": Recorder(Path(tmp) / "bg", fsync=args.fsync),
            "on, background=False": Recorder(Path(tmp) / "on", fsync=args.fsync, background=False),
        }
        epoch = {m: 0 for m in MODES}
        for r in range(warm + args.rounds):
            k = r % len(MODES)
            block: dict[str, float] = {}
            for mode in MODES[k:] + MODES[:k]:
                rec = recs[mode]
                t0, c0 = time.perf_counter(), time.process_time() + writer_cpu()
                for _ in range(args.epochs):
                    evaluate(model, loader, rec, epoch[mode])
                    epoch[mode] += 1
                if rec is not None:
                    rec.flush()  # the block's last background write counts too
                block[mode] = time.perf_counter() - t0
                if r >= warm:
                    wall[mode].append(block[mode] / args.epochs)
                    cpu[mode].append((time.process_time() + writer_cpu() - c0) / args.epochs)
            if r >= warm:
                for mode in MODES[1:]:
                    overhead[mode].append(block[mode] / block["off"] - 1)
        for rec in recs.values():
            if rec is not None:
                rec.close()
        parts = breakdown(model, loader, Path(tmp) / "parts", args)
        trained = train_loop(args, Path(tmp))
    load_after = os.getloadavg()
    writer = "thread" if writerproc.shared() is None else "process"

    n_batches = len(loader)
    print(
        f"{len(ds)} samples, batch {args.batch_size} ({n_batches} batches per epoch), "
        f"{args.rounds} rounds of {args.epochs} epochs per mode, order rotating; "
        f"{os.cpu_count()} CPUs, load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after; background writer: {writer}"
    )
    print()
    print("Evaluation only, epoch after epoch:")
    print()
    print("| mode | overhead (median of rounds) | interquartile range | wall (ms/epoch) | CPU |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for mode in MODES:
        cells = " | " if mode == "off" else spread(overhead[mode])
        wm, cm = statistics.median(wall[mode]) * 1e3, statistics.median(cpu[mode]) * 1e3
        print(f"| {mode} | {cells} | {wm:.2f} | {cm:.2f} |")
    print()
    print(
        "Training loop (train 1347 digits, then evaluate train and test, two recorders), "
        f"{args.rounds} rounds of {args.epochs} epochs per mode:"
    )
    print()
    print(
        "| mode | evaluation overhead | interquartile range | 95% interval of the median "
        "| evaluation (ms/epoch) | whole block overhead | interquartile range |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for mode in trained:
        t = trained[mode]
        cells = (
            (" | ", "", " | ")
            if mode == "off"
            else (spread(t["eval"]), median_interval(t["eval"]), spread(t["block"]))
        )
        ms = statistics.median(t["eval_ms"])
        print(f"| {mode} | {cells[0]} | {cells[1]} | {ms:.2f} | {cells[2]} |")
    print()
    add_ms, end_ms = parts
    print(
        f"Where the time of 'on, background=False' goes (median over {args.repeats} blocks "
        f"of {args.epochs}): add() "
        f"{add_ms * 1e3 / n_batches:.1f} us per batch ({add_ms:.3f} ms per epoch), "
        f"end_epoch() {end_ms:.3f} ms per epoch"
    )
    print("Target (issue 13): recording adds at most 5% to the evaluation's wall time.")


if __name__ == "__main__":
    main()
