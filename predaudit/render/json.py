"""JSON output: a report's ``to_dict()`` as strict JSON (RFC 8259)."""

from __future__ import annotations

import json
import math
import re
import secrets
from typing import Any


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
    """Serialise ``report.to_dict()`` as strict JSON, indented, with lists of numbers
    (epochs, matrix rows) kept on one line each.

    Non-finite floats become ``null``. The lists of numbers are encoded by the
    C encoder in one go, so a 1000 x 1000 confusion matrix takes milliseconds.
    """
    leaves: list[str] = []
    nonce = secrets.token_hex(8)  # so no string in the data can look like a placeholder

    def walk(obj: Any) -> Any:
        if isinstance(obj, dict):
            return {k: walk(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            if obj and all(type(v) in (int, float) for v in obj):
                text = json.dumps(obj)
                if "NaN" in text or "Infinity" in text:
                    text = json.dumps(_clean(obj))
                leaves.append(text)
                return f"@@{nonce}:{len(leaves) - 1}@@"
            return [walk(v) for v in obj]
        return _clean(obj)

    text = json.dumps(walk(report.to_dict()), indent=2, allow_nan=False)
    placeholder = re.compile(rf'"@@{nonce}:(\d+)@@"')
    return placeholder.sub(lambda m: leaves[int(m.group(1))], text) + "\n"
