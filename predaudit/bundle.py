"""What ``--out DIR`` writes, for any registered analysis: a library function, not CLI code.

The JSON report at the top of ``DIR``; per split (a sub-folder per split when
there are several) the analysis's data files and, unless ``plots=False``, its
figures. Every file is written atomically.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from predaudit.output import write_atomic
from predaudit.registry import Command, load_object
from predaudit.render.json import to_json


@dataclass(frozen=True)
class Bundle:
    """The files written, and per split where each data file went (by its role)."""

    written: list[Path]
    paths: dict[str, dict[str, Path]] = field(default_factory=dict)


def split_folder(out: Path, split: str, *, several: bool) -> Path:
    """The folder of one split's files: ``out/SPLIT`` when the report has several splits."""
    return out / split if several else out


def write_bundle(
    command: Command, report: Any, out: Path, *, plots: bool = True, plot_format: str = "png"
) -> Bundle:
    """Write ``report`` (a report of ``command``) and its files into ``out``."""
    written: list[Path] = []
    paths: dict[str, dict[str, Path]] = {}
    if command.json_name is not None:
        path = out / command.json_name
        write_atomic(path, to_json(report))
        written.append(path)
    files = load_object(command.files) if command.files else None
    figures = load_object(command.figures) if plots and command.figures else None
    several = len(report.splits) > 1
    for name, split in report.splits.items():
        folder = split_folder(out, name, several=several)
        paths[name] = {}
        for role, filename, text in files(split) if files is not None else []:
            path = folder / filename
            write_atomic(path, text)
            written.append(path)
            paths[name][role] = path
        if figures is not None:
            written.extend(figures(split, folder, fmt=plot_format))
    return Bundle(written=written, paths=paths)
