"""How each golden file in this folder is produced: one function per file.

The tests compare these texts with the files and never write them;
``scripts/update_goldens.py`` writes them, run by a person on purpose after a
deliberate change of the output (then review ``git diff tests/golden``).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from rich.console import Console

import predaudit
from predaudit.analysis.confusion import confusion_report
from predaudit.cli import main
from predaudit.render import OutputFormat
from predaudit.render.confusion import RENDERERS

GOLDEN = Path(__file__).resolve().parent
ROOT = GOLDEN.parents[1]
SMALL_NAMES = ["cat", "dog", "a_rather_long_class_name"]
"""Class names of :func:`small_run` (one too long for a column)."""


@contextmanager
def _cwd(path: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def small_run(folder: Path) -> None:
    """3 classes (one long name), 12 samples (one ignored), 2 epochs; fixed numbers."""
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, -100])
    e1 = np.array([0, 0, 1, 2, 1, 1, 0, 1, 2, 0, 1, 0])  # predicted class at epoch 1
    e2 = np.array([0, 0, 0, 1, 1, 1, 1, 0, 2, 2, 1, 2])  # and at epoch 2
    logits = np.zeros((2, 12, 3))
    for k, pred in enumerate((e1, e2)):
        logits[k, np.arange(12), pred] = 2.0 + k
        logits[k, np.arange(12), (pred + 1) % 3] = 0.5
    folder.mkdir(parents=True)
    np.save(folder / "logits.npy", logits)
    np.save(folder / "labels.npy", y)


def render_80(renderable: object) -> str:
    """What an 80-column terminal without colour shows, trailing spaces removed."""
    console = Console(width=80, color_system=None, record=True, file=io.StringIO())
    console.print(renderable)
    return "\n".join(line.rstrip() for line in console.export_text().splitlines()) + "\n"


def _confusion_small(workdir: Path, **options: object) -> str:
    small_run(workdir / "small")
    with _cwd(workdir):  # the run is named "small" in the titles
        report = confusion_report(predaudit.load_run("small"), class_names=SMALL_NAMES, **options)
    return render_80(RENDERERS[OutputFormat.TABLE](report))


def confusion_small(workdir: Path) -> str:
    """``confusion`` of :func:`small_run` at its last epoch, table format, 80 columns."""
    return _confusion_small(workdir)


def confusion_small_diff(workdir: Path) -> str:
    """``confusion --diff first last`` of :func:`small_run`, table format, 80 columns."""
    return _confusion_small(workdir, diff=("first", "last"))


def analyze_sample_test(workdir: Path) -> str:
    """``predaudit analyze sample_data/stacked --split test --top 3`` at 80 columns (the README's
    example output), run at the repository root with its cache in ``workdir``."""
    env = {"COLUMNS": "80", "NO_COLOR": "1", "XDG_CACHE_HOME": str(workdir / "cache")}
    with _cwd(ROOT):
        res = CliRunner().invoke(
            main, ["analyze", "sample_data/stacked", "--split", "test", "--top", "3"], env=env
        )
    if res.exit_code != 0:
        raise RuntimeError(f"predaudit analyze failed ({res.exit_code}): {res.output}")
    return res.stdout


CASES: dict[str, Callable[[Path], str]] = {
    "confusion_small.txt": confusion_small,
    "confusion_small_diff.txt": confusion_small_diff,
    "analyze_sample_test.txt": analyze_sample_test,
}
"""Golden file name -> the function that renders its text (given an empty work folder)."""
