"""Class names from a file (one a line, or a JSON list), checked against a run."""

from __future__ import annotations

import re

from predaudit import safejson
from predaudit.errors import InputError
from predaudit.store import RunStats


def parse_class_names(text: str, *, source: str) -> list[str]:
    """Class names from the text of a file: a JSON list of strings, or one name per line.

    Blank lines at the end are dropped; an empty name in the middle, a repeated
    name or a JSON value that is not a list of strings raises :class:`InputError`
    naming ``source``.

    >>> parse_class_names('["cat", "dog"]', source="names.json")
    ['cat', 'dog']
    >>> parse_class_names("cat\\ndog\\n", source="names.txt")
    ['cat', 'dog']
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    if text.lstrip().startswith("["):
        try:
            names = safejson.loads(text)
        except safejson.JsonProblem as exc:
            raise InputError(source, f"not valid JSON ({_without_column(str(exc))})") from None
        if not isinstance(names, list) or not all(isinstance(x, str) for x in names):
            raise InputError(source, "expected a JSON list of strings (class names)")
        names = [x.strip() for x in names]
        empty = [i + 1 for i, x in enumerate(names) if not x]
        if empty:
            raise InputError(source, f"class name {empty[0]} of the JSON list is empty")
    else:
        names = [line.strip() for line in text.splitlines()]
        while names and not names[-1]:
            names.pop()
        empty = [i + 1 for i, x in enumerate(names) if not x]
        if empty:
            raise InputError(source, f"line {empty[0]} is empty: expected one class name a line")
    if not names:
        raise InputError(source, "no class names")
    seen: set[str] = set()
    for x in names:
        if x in seen:
            raise InputError(source, f"class name {x!r} appears more than once")
        seen.add(x)
    return names


def _without_column(problem: str) -> str:
    """``Expecting value at line 1`` (this message never named the column)."""
    return re.sub(r"(at line \d+), column \d+$", r"\1", problem)


def check_class_names(names: list[str], run: RunStats, *, source: str) -> None:
    """Raise :class:`InputError` naming ``source`` when the count differs from a split's."""
    for s in run.splits.values():
        if len(names) != s.n_classes:
            where = f"split '{s.name}' has" if len(run.splits) > 1 else "the run has"
            raise InputError(source, f"{len(names)} class names but {where} {s.n_classes} classes")
