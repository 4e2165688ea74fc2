"""Regenerate the README's figures in docs/img/ from sample_data/ (test split).

Run from the repository root: ``python scripts/make_readme_figures.py``.
"""

from __future__ import annotations

from pathlib import Path

import predaudit
from predaudit.analysis.analyze import analyze_split
from predaudit.analysis.confusion import epoch_confusion
from predaudit.plots import write_analyze_figures, write_confusion_figure

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "img"


def main() -> None:
    stats = predaudit.load_run(ROOT / "sample_data" / "stacked", split="test").splits["test"]
    for path in write_analyze_figures(analyze_split(stats), OUT, fmt="png"):
        print(path.relative_to(ROOT))
    conf = epoch_confusion(stats, stats.epochs[-1])
    labels = [str(label) for label in conf.labels]
    path = write_confusion_figure(
        conf.matrix, labels, OUT / "confusion.png", top_pairs=conf.top_confusions
    )
    print(path.relative_to(ROOT))


if __name__ == "__main__":
    main()
