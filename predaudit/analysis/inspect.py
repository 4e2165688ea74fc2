"""``predaudit inspect``: what was found in a run, from its per-sample statistics."""

from __future__ import annotations

from predaudit.report.inspect import InspectReport, SplitInspection
from predaudit.store import RunStats, SplitStats


def inspect_split(s: SplitStats) -> SplitInspection:
    """What one split holds: epochs, sizes, score kind, labels, ids and files."""
    return SplitInspection(
        name=s.name,
        epochs=list(s.epochs),
        n_samples=s.n_samples,
        n_classes=s.n_classes,
        input_kind=s.input_kind,
        kind_detected=s.kind_detected,
        label_format=s.label_format,
        dtype=s.dtype,
        has_ids=s.has_ids,
        aligned=s.aligned,
        n_ignored=s.n_ignored,
        n_clipped=s.n_clipped,
        n_floored=s.n_floored,
        clip=s.clip,
        files=list(s.files),
        pattern=s.pattern,
        binary=s.binary,
        epoch_unit=s.epoch_unit,
        sample_unit=s.sample_unit,
        tokens_per_sequence=s.tokens_per_sequence,
    )


def inspect_run(run: RunStats) -> InspectReport:
    """:func:`inspect_split` for every split of ``run``."""
    return InspectReport(run=run.path, splits={k: inspect_split(v) for k, v in run.splits.items()})
