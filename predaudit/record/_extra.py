"""Optional frameworks: import one, or say which extra installs it."""

from __future__ import annotations

import importlib
from types import ModuleType


def require(modules: tuple[str, ...], extra: str, framework: str, user: str) -> ModuleType:
    """The first of ``modules`` that imports; else an ``ImportError`` naming the extra."""
    errors = []
    for name in modules:
        try:
            return importlib.import_module(name)
        except ImportError as exc:
            errors.append(exc)
    raise ImportError(
        f"{user} needs {framework}: pip install 'predaudit[{extra}]' ({errors[0]})"
    ) from errors[0]
