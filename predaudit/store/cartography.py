"""``dynamics --export cartography DIR``: the run's logits in Dataset Cartography's format.

Cartography (Swayamdipta et al. 2020, github allenai/cartography) reads
``training_dynamics/dynamics_epoch_{i}.jsonl`` for ``i = 0 .. E-1`` (it counts the
files of that folder), each line ``{"guid": id, "logits_epoch_{i}": [...], "gold": label}``,
and writes ``td_metrics.jsonl`` (guid, index, threshold_closeness, confidence,
variability, correctness, forgetfulness). This module writes both: the epochs of the
dynamics range numbered 0, 1, ... in order (``i`` is the position in the range, not
the epoch label), and ``td_metrics.jsonl`` from predaudit's own dynamics (correctness
the number of correct epochs, forgetfulness 1000 for a never-learned sample, as
Cartography's ``compute_forgetfulness``).

The logits are not in the store: they are read again from the split's files, one
epoch at a time (as :mod:`predaudit.store.temperature` does). Probabilities have no
logits to export: that is a usage error (exit 2).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from predaudit.errors import InputError, OptionError
from predaudit.io.load import SplitReader
from predaudit.output import write_atomic
from predaudit.report.dynamics import SplitDynamics
from predaudit.store.stats import SplitStats
from predaudit.store.temperature import _only

TD_FOLDER = "training_dynamics"
TD_METRICS = "td_metrics.jsonl"
NEVER_LEARNED_FORGETFULNESS = 1000


def check_exportable(stats: SplitStats) -> None:
    where = stats.pattern
    if stats.input_kind != "logits":
        raise OptionError(
            f"split '{stats.name}' holds {stats.input_kind}, not logits: Dataset Cartography's "
            "dynamics_epoch_N.jsonl files hold logits (its reader applies a softmax), and "
            "logits cannot be recovered from probabilities",
            param="export",
            value="cartography",
        )
    if stats.source is None:
        raise InputError(where, f"split '{stats.name}': its scores cannot be read again")


def export_cartography(stats: SplitStats, split: SplitDynamics, folder: Path) -> list[Path]:
    """Write ``folder/training_dynamics/dynamics_epoch_{i}.jsonl`` for the epochs of
    ``split`` and ``folder/td_metrics.jsonl``; returns the paths written.

    Only the samples of ``split`` (valid at every epoch) are written, in its row order.
    """
    check_exportable(stats)
    assert stats.source is not None
    folder = Path(folder)
    ids = list(split.samples.ids)
    canon_ids = np.asarray(stats.sample_ids()).tolist()
    pos = {v: j for j, v in enumerate(canon_ids)}
    rows = np.array([pos[v] for v in ids], dtype=np.int64)  # canonical positions
    gold = split.samples.labels
    epochs = list(split.epochs)
    number = {e: i for i, e in enumerate(epochs)}
    written: list[Path] = []
    seen: set[int] = set()
    for ep in SplitReader(_only(stats.source.layout, epochs)):
        if ep.epoch not in number:
            del ep
            continue
        order = ep.order if ep.order is not None else slice(None)
        logits = np.asarray(ep.scores)[order][rows]
        i = number[ep.epoch]
        key = f"logits_epoch_{i}"
        text = "".join(
            json.dumps({"guid": g, key: [float(x) for x in lg], "gold": int(y)}) + "\n"
            for g, lg, y in zip(ids, logits, gold, strict=True)
        )
        path = folder / TD_FOLDER / f"dynamics_epoch_{i}.jsonl"
        write_atomic(path, text)
        written.append(path)
        seen.add(ep.epoch)
        del ep, logits
        if len(seen) == len(epochs):
            break
    if len(seen) != len(epochs):
        raise InputError(stats.pattern, f"split '{stats.name}': epochs could not be read again")
    s = split.samples
    lines = []
    for j, g in enumerate(ids):
        c = float(s.confidence[j])
        lines.append(
            json.dumps(
                {
                    "guid": g,
                    "index": j,
                    "threshold_closeness": c * (1 - c),
                    "confidence": c,
                    "variability": float(s.variability[j]),
                    "correctness": int(s.correct_epochs[j]),
                    "forgetfulness": NEVER_LEARNED_FORGETFULNESS
                    if s.never_learned[j]
                    else int(s.forgetting_events[j]),
                }
            )
            + "\n"
        )
    path = folder / TD_METRICS
    write_atomic(path, "".join(lines))
    written.append(path)
    return written
