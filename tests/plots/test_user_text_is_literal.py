"""Ids and split names holding ``$`` are drawn as written, never parsed as mathtext (a name
like ``$\\frac{$`` made matplotlib raise while saving: exit 4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from predaudit.cli import main
from predaudit.plots.style import literal

NAME = "$\\frac{$"


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("dollar") / f"{NAME}run"
    folder.mkdir()
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 60)
    ids = np.array([f"{NAME}{i}" for i in range(60)])
    for e in range(4):
        x = (rng.standard_normal((60, 3)) * (1 + e)).astype(np.float32)
        np.savez(folder / f"epoch_{e + 1}.npz", logits=x, labels=y, ids=ids)
    return folder


@pytest.mark.parametrize("command", ["analyze", "dynamics", "calibration", "confusion"])
def test_every_figure_is_written(run: Path, tmp_path: Path, command: str) -> None:
    out = tmp_path / "out"
    res = CliRunner().invoke(main, [command, str(run), "--out", str(out), "-q"])
    assert res.exit_code == 0, res.output
    pngs = sorted(out.glob("*.png"))
    assert pngs and all(p.stat().st_size > 1000 for p in pngs)


def test_literal_escapes_every_dollar() -> None:
    import io

    from matplotlib.figure import Figure

    assert literal(NAME) == "\\$\\frac{\\$" and literal("plain") == "plain"
    fig = Figure()
    ax = fig.add_subplot()
    ax.set_title(literal(NAME))
    fig.savefig(io.BytesIO(), format="png")  # mathtext would raise on the raw name
