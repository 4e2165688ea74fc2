"""Optional frameworks: import one, or say which extra installs it."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any


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


def lazy_callback(namespace: dict[str, Any], make: Callable[[], type]) -> Callable[[str], Any]:
    """A module's ``__getattr__`` that makes its ``PredauditCallback`` on first use:
    ``make()`` imports the framework (:func:`require`), so importing the module does not,
    and the class is then kept in the module (``namespace``: its ``globals()``)."""

    def __getattr__(name: str) -> Any:
        if name == "PredauditCallback":
            cls = namespace[name] = make()
            return cls
        raise AttributeError(f"module {namespace['__name__']!r} has no attribute {name!r}")

    return __getattr__
