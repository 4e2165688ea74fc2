"""Per-sample statistics from one epoch's scores (docs/design.md), in nats.

This is the only module that touches full ``[N, C]`` score arrays. It makes one
streaming pass per epoch: the rows are cut into chunks small enough to stay in
the CPU cache, a small thread pool works on them (numpy releases the GIL), and
every statistic (loss, prediction, true-class probability, confidence, margin)
is written into preallocated per-sample arrays.

Precision. float16 and bfloat16 chunks are widened to float32, and float32
chunks are worked on in float32 (``exp`` is vectorised there); float64 and
integer scores are worked on in float64. Sums are accumulated in float64, and the
loss is formed as ``(max - z_y) + log1p(sum_{k != argmax} exp(z_k - max))``: two
non-negative terms, no cancellation and no ``log(1 + tiny)``, so even a loss of
1e-20 keeps its relative precision (see :func:`_reduce_logits` for how float32
keeps every ``exp`` term within an ulp). Every statistic is returned in float64;
the per-sample loss is within a relative 1e-6 of an exact computation on the
same values.

Every row is computed on its own, so the result does not depend on the chunk
size or on the number of threads (tests pin this bit for bit).
"""

from predaudit.reduce.epoch import EpochStats, reduce_detect, reduce_scores
from predaudit.reduce.kind import KindEvidence, decide_kind, scan_kind

__all__ = [
    "EpochStats",
    "KindEvidence",
    "decide_kind",
    "reduce_detect",
    "reduce_scores",
    "scan_kind",
]
