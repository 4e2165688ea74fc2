"""Per-sample training dynamics computed post hoc from per-epoch statistics.

Pure numpy, no I/O: feed :class:`DynamicsAccumulator` one epoch at a time
(O(N) memory), then take data-map :func:`regions`, :func:`likely_label_problems`
and a :func:`summarize` of the :class:`DynamicsResult`.
"""

from predaudit.dynamics.accumulate import INPUT_KINDS, DynamicsAccumulator
from predaudit.dynamics.labels import LabelProblems, label_problem_score, likely_label_problems
from predaudit.dynamics.regions import (
    REGION_NAMES,
    RegionResult,
    RegionThresholds,
    quantile_thresholds,
    regions,
)
from predaudit.dynamics.result import DynamicsResult
from predaudit.dynamics.summary import (
    DynamicsSummary,
    region_counts,
    summarize,
    top_k_ambiguous,
    top_k_hardest,
)

__all__ = [
    "INPUT_KINDS",
    "REGION_NAMES",
    "DynamicsAccumulator",
    "DynamicsResult",
    "DynamicsSummary",
    "LabelProblems",
    "RegionResult",
    "RegionThresholds",
    "label_problem_score",
    "likely_label_problems",
    "quantile_thresholds",
    "region_counts",
    "regions",
    "summarize",
    "top_k_ambiguous",
    "top_k_hardest",
]
