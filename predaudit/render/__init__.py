"""Renderers: report objects in, Rich renderables or strings out. They never print."""

from __future__ import annotations

import enum
import json
import math
from typing import Any


class OutputFormat(str, enum.Enum):
    """The ``--format`` choices."""

    TABLE = "table"
    JSON = "json"
    MARKDOWN = "markdown"
    CSV = "csv"


def _clean(obj: Any) -> Any:
    """Replace non-finite floats by None so the JSON is strict (RFC 8259)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    return obj


def to_json(report: Any) -> str:
    """Serialise ``report.to_dict()`` as strict, indented JSON."""
    return json.dumps(_clean(report.to_dict()), indent=2, allow_nan=False) + "\n"
