"""Regenerate the README's figures in docs/img/ from sample_data/ (test split).

Run from the repository root: ``python scripts/make_readme_figures.py``.
"""

from __future__ import annotations

from pathlib import Path

import predaudit
from predaudit.analysis.analyze import analyze_split
from predaudit.analysis.confusion import split_confusion
from predaudit.plots import confusion_figures_for, write_analyze_figures

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "img"


def main() -> None:
    stats = predaudit.load_run(ROOT / "sample_data" / "stacked", split="test").splits["test"]
    for path in write_analyze_figures(analyze_split(stats), OUT, fmt="png"):
        print(path.relative_to(ROOT))
    # confusion --diff best last: the matrix at the last epoch and its change since the best
    for path in confusion_figures_for(split_confusion(stats, diff=("best", "last")), OUT):
        print(path.relative_to(ROOT))


if __name__ == "__main__":
    main()
