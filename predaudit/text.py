"""Small helpers for the words of messages."""

from __future__ import annotations


def plural(n: int, singular: str, plural_form: str | None = None) -> str:
    """``plural(1, "label") == "1 label"``, ``plural(3, "label") == "3 labels"``."""
    return f"{n} {singular if n == 1 else (plural_form or singular + 's')}"
