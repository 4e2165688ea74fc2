"""Shared test fixtures: keep this small and generic."""

from __future__ import annotations

from pathlib import Path

import pytest

ASSETS = Path(__file__).resolve().parent / "assets"


@pytest.fixture(scope="session")
def assets_dir() -> Path:
    """``tests/assets``: small committed input files (see ``assets/make_bad_assets.py``)."""
    return ASSETS
