"""Shared test fixtures: keep this small and generic."""

from __future__ import annotations

from pathlib import Path

import pytest

ASSETS = Path(__file__).resolve().parent / "assets"


@pytest.fixture(scope="session")
def assets_dir() -> Path:
    """``tests/assets``: small committed input files (see ``assets/make_bad_assets.py``)."""
    return ASSETS


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Every test gets its own predaudit cache folder: nothing is written under $HOME."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
