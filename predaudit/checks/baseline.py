"""Baselines: metric values read back from a JSON report written earlier."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from predaudit import safejson
from predaudit.errors import InputError
from predaudit.filetype import check_regular
from predaudit.registry import by_schema
from predaudit.report.protocol import MalformedReport, Value, get_field
from predaudit.report.vocab import ANALYZE_SCHEMA


def report_metrics(report: Mapping[str, Any]) -> dict[str, dict[str, Value]]:
    """Metric values per split of any predaudit report dict, by its ``schema`` (the registry).

    Raises :class:`MalformedReport` naming the first bad field.
    """
    schema = get_field(report, "schema", "")
    command = by_schema(schema)
    if command is None:
        raise MalformedReport(f"unknown schema {schema!r}")
    return command.report_class().metrics_from_dict(report)


@dataclass(frozen=True)
class Baseline:
    """Metric values per split of a report written earlier (``--baseline report.json``)."""

    path: str
    schema: str
    splits: dict[str, dict[str, Value]]

    def match(self, split: str, *, current_splits: Sequence[str]) -> str:
        """The baseline split compared with the current ``split``.

        By name; or, when both reports have exactly one split, that one whatever
        its name. Raises :class:`InputError` naming the baseline file otherwise.
        """
        if split in self.splits:
            return split
        if len(self.splits) == 1 and len(current_splits) == 1:
            return next(iter(self.splits))
        raise InputError(
            self.path,
            f"baseline has no split {split!r} to compare with "
            f"(its splits: {', '.join(self.splits)})",
        )


def load_baseline(path: str | Path, *, schema: str = ANALYZE_SCHEMA) -> Baseline:
    """Read a JSON report written by predaudit; raise :class:`InputError` naming the file.

    ``path`` may also be a folder written by ``--out``, holding the command's JSON
    report (``report.json`` for analyze, ``confusion.json``, ``dynamics.json``, ...).
    """
    p = Path(path)
    shown = str(path)
    command = by_schema(schema)
    name = command.json_name if command is not None and command.json_name else "report.json"
    if p.is_dir() and (p / name).is_file():
        p = p / name
        shown = str(p)
    if not p.exists():
        raise InputError(shown, "does not exist")
    if p.is_dir():
        raise InputError(shown, f"is a folder without {name}; expected a JSON report")
    check_regular(shown)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(shown, "not valid JSON (not UTF-8 text)") from None
    except OSError as exc:
        raise InputError(shown, exc.strerror or str(exc)) from None
    try:
        data = safejson.loads(text)
    except safejson.JsonProblem as exc:
        raise InputError(shown, f"not valid JSON ({exc})") from None
    found = data.get("schema") if isinstance(data, dict) else None
    if not isinstance(found, str) or not found.startswith("predaudit."):
        raise InputError(
            shown, f'not a predaudit report (expected a JSON object with "schema": "{schema}")'
        )
    if found != schema:
        raise InputError(shown, f"is a {found} report; expected {schema}")
    try:
        splits = report_metrics(data)
    except MalformedReport as exc:
        raise InputError(shown, f"not a valid {schema} report: {exc}") from None
    except (ValueError, TypeError, OverflowError, KeyError) as exc:  # numbers out of range
        problem = " ".join(str(exc).split())[:160]
        raise InputError(shown, f"not a valid {schema} report ({problem})") from None
    return Baseline(path=shown, schema=schema, splits=splits)
