"""Pass/fail checks for CI jobs: ``--check 'test:accuracy >= baseline.accuracy - 0.01'``.

Pure library code: it parses check expressions, reads metric values out of a
report (or out of a baseline report written earlier), evaluates the checks and
returns frozen :class:`CheckResult` objects. It never prints and never exits;
the CLI turns a failed check into exit code 1.

The grammar is in :mod:`predaudit.checks.parse`.

Metric values come from the report's ``to_dict()`` form, so the current run
and a baseline read back from JSON go through the same code.

**n/a values.** A metric that does not exist for a split (``ww_share`` when the
hypothesis is not applicable, ``delta_loss`` with a single epoch, or the same on
the baseline side) is ``None``, shown as ``n/a``. It compares like NaN: every
comparison with it is false except ``!=``, which is true. So ``ww_share < 0.5``
fails when the share is n/a, while ``ww_share != 1`` passes.
"""

from predaudit.checks.baseline import Baseline, load_baseline, report_metrics
from predaudit.checks.evaluate import CheckedReport, CheckResult, all_passed, check_report, evaluate
from predaudit.checks.parse import Check, compare, parse_check, parse_checks

__all__ = [
    "Baseline",
    "Check",
    "CheckResult",
    "CheckedReport",
    "all_passed",
    "check_report",
    "compare",
    "evaluate",
    "load_baseline",
    "parse_check",
    "parse_checks",
    "report_metrics",
]
