"""Dtypes as predaudit reads them: bfloat16 bit patterns, and names users understand."""

from __future__ import annotations

import numpy as np

BF16 = "bfloat16"
"""numpy has no bfloat16: such arrays travel as ``uint16`` bit patterns under this name."""


def bf16_to_float32(raw: np.ndarray) -> np.ndarray:
    """Convert bfloat16 values stored as ``uint16`` bit patterns to float32 (exact)."""
    return (np.asarray(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def describe_dtype(dtype: np.dtype | str) -> str:
    """A dtype as users read it: ``<U3`` -> ``text (<U3)``, ``complex64`` -> ``complex64``."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        return str(dtype)
    if dt.kind in "US":
        return f"text ({dt.str})"
    if dt.kind == "O":
        return "Python objects"
    if dt.kind == "V":
        return f"raw bytes ({dt.str})"
    if dt.kind == "M" or dt.kind == "m":
        return f"date/time ({dt})"
    return str(dt)
