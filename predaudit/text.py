"""Small helpers for the words of messages."""

from __future__ import annotations


def plural(n: int, singular: str, plural_form: str | None = None) -> str:
    """``plural(1, "label") == "1 label"``, ``plural(3, "label") == "3 labels"``."""
    return f"{n} {singular if n == 1 else (plural_form or singular + 's')}"


def human_bytes(n: int) -> str:
    """``human_bytes(1536) == "1.5 KiB"``: binary units, three significant figures."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.3g} {unit}"
        size /= 1024
    raise AssertionError("unreachable")
