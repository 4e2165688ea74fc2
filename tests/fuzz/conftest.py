"""The fuzz suite's marker (``pytest -m fuzz``) and its budget (``PREDAUDIT_FUZZ_EXAMPLES``)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "fuzz: hypothesis-driven reader fuzzing; PREDAUDIT_FUZZ_EXAMPLES=5000 for a long run",
    )
