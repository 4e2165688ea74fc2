"""Renderers: report objects in, Rich renderables or strings out. They never print."""

from __future__ import annotations

import enum

from predaudit.render.json import to_json


class OutputFormat(str, enum.Enum):
    """The ``--format`` choices."""

    TABLE = "table"
    JSON = "json"
    MARKDOWN = "markdown"
    CSV = "csv"
    HTML = "html"


__all__ = ["OutputFormat", "to_json"]
