"""Every doctest runs: the modules' docstrings and docs/api.md, from the repository root."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import predaudit

ROOT = Path(__file__).resolve().parents[1]
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
MODULES = sorted(m.name for m in pkgutil.walk_packages(predaudit.__path__, prefix="predaudit.")) + [
    "predaudit"
]


@pytest.fixture(autouse=True)
def _at_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # the examples name sample_data/ relative to the root


@pytest.mark.parametrize("name", MODULES)
def test_module_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=FLAGS, report=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctests failed in {name}"


def test_api_doc():
    result = doctest.testfile(
        str(ROOT / "docs" / "api.md"), module_relative=False, optionflags=FLAGS, report=False
    )
    assert result.attempted > 20
    assert result.failed == 0
