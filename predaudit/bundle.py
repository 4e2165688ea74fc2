"""What ``--out DIR`` writes, for any registered analysis: a library function, not CLI code.

The JSON report at the top of ``DIR``; per split (a sub-folder per split when
there are several) the analysis's data files and, unless ``plots=False``, its
figures.

All or nothing: the whole bundle is first written into a temporary sibling folder
(``.DIR.predaudit-*``, on the same file system), and only when every file is there
is each one renamed into place. A failure on the way (a full disk, a figure that
cannot be drawn) removes the temporary folder and leaves ``DIR`` as it was.
Given the run (``run=``), no destination may lead into it, symlinks resolved.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from predaudit.errors import OptionError
from predaudit.output import leads_into, write_atomic
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
    command: Command,
    report: Any,
    out: Path,
    *,
    plots: bool = True,
    plot_format: str = "png",
    run: Path | None = None,
) -> Bundle:
    """Write ``report`` (a report of ``command``) and its files into ``out``, all or nothing."""
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.predaudit-"))
    try:
        staged = _write(command, report, stage, plots=plots, plot_format=plot_format)
        moves = [(p, out / p.relative_to(stage)) for p in staged.written]
        if run is not None:
            for _, dest in moves:
                if leads_into(dest.parent, run) or leads_into(dest, run):
                    raise OptionError(
                        f"{dest} leads into the input run folder {run}; predaudit never "
                        "writes there: choose another folder",
                        param="out",
                        value=str(out),
                        joiner=": ",
                    )
        for src, dest in moves:
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dest)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return Bundle(
        written=[dest for _, dest in moves],
        paths={
            name: {role: out / p.relative_to(stage) for role, p in roles.items()}
            for name, roles in staged.paths.items()
        },
    )


def _write(command: Command, report: Any, out: Path, *, plots: bool, plot_format: str) -> Bundle:
    written: list[Path] = []
    paths: dict[str, dict[str, Path]] = {}
    if command.json_name is not None:
        path = out / command.json_name
        write_atomic(path, to_json(report))
        written.append(path)
    files = load_object(command.files) if command.files else None
    figures = load_object(command.figures) if plots and command.figures else None
    # every split's figures are drawn when the block ends, on every core (plots.workers)
    drawing = load_object("predaudit.plots.workers:drawing") if figures else nullcontext
    several = len(report.splits) > 1
    with drawing():
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
