"""Writing figures: atomically, byte-stable, and the figures each command writes with ``--out``."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib as mpl
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from predaudit.output import write_atomic
from predaudit.plots.canvas import MeasuringCanvas
from predaudit.plots.cells import plot_transitions
from predaudit.plots.confusion import plot_confusion, plot_confusion_diff
from predaudit.plots.confusion_pairs import (
    PLOT_MAX_CLASSES,
    plot_confusion_changes,
    plot_top_confusions,
)
from predaudit.plots.curves import plot_loss_accuracy, plot_loss_split
from predaudit.plots.layout import paused_gc
from predaudit.plots.png import encode_png
from predaudit.plots.rise import plot_rise_samples
from predaudit.plots.style import DPI, FORMATS
from predaudit.plots.tickmemo import remembered_ticks
from predaudit.plots.workers import figure_job

if TYPE_CHECKING:
    from predaudit.report.analyze import SplitAnalysis
    from predaudit.report.confusion import SplitConfusion

# Byte-stable output (committed README images do not change when nothing changed).
_METADATA: dict[str, dict[str, Any]] = {
    "png": {"Software": None},
    "svg": {"Date": None, "Creator": None},
    "pdf": {"CreationDate": None, "ModDate": None, "Creator": None, "Producer": None},
}


def _check_format(fmt: str) -> str:
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise ValueError(f"plot format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return fmt


_SAVE_RC: dict[Any, Any] = {"svg.hashsalt": "predaudit", "text.hinting": "no_hinting"}
"""rc settings while a figure is laid out and drawn for saving: stable SVG ids, and glyphs
drawn from their outlines without FreeType's hinting, which at 100 dpi looks the same to
a reader and takes about a quarter of the figures' drawing time away (every glyph is
hinted when measured, when laid out for drawing and when rendered)."""


def save_figure(fig: Figure, path: Path, *, fmt: str = "png", dpi: int = DPI) -> Path:
    """Save ``fig`` to ``path`` atomically (temporary file in the same folder, then rename).

    Laid out and drawn under :data:`_SAVE_RC` (text without font hinting)."""
    fmt = _check_format(fmt)
    buf = io.BytesIO()
    with mpl.rc_context(_SAVE_RC):
        if fmt == "png" and dpi == fig.dpi and _plain_savefig_rc():
            _print_png(fig, buf)
        else:
            fig.savefig(buf, format=fmt, dpi=dpi, metadata=_METADATA[fmt])
    # Not flushed to the disk file by file: the --out bundle is renamed into place
    # only once every file is written, and a figure can always be drawn again.
    write_atomic(path, buf.getvalue(), fsync=False)
    return path


def _plain_savefig_rc() -> bool:
    """Whether savefig would draw the figure as it is (its own colours, not transparent)."""
    rc = mpl.rcParams
    return (
        str(rc["savefig.facecolor"]) == "auto"
        and str(rc["savefig.edgecolor"]) == "auto"
        and not rc["savefig.transparent"]
    )


def _print_png(fig: Figure, buf: io.BytesIO) -> None:
    """The pixels ``fig.savefig(buf, format="png")`` writes, drawn once instead of twice.

    With a layout engine, ``savefig`` draws the whole figure once only to run the
    layout, then again for the pixels. Here the layout runs by itself on the Agg
    canvas the pixels are drawn with (the same renderer, so the same text
    metrics), and the engine is detached for the one drawing that follows. A figure
    without an Agg canvas gets a :class:`~predaudit.plots.canvas.MeasuringCanvas`
    (text measurements shared with the figures drawn before it). Each axis computes its
    ticks once per size and view (:func:`~predaudit.plots.tickmemo.remembered_ticks`),
    not at every measurement of the layout and the drawing. An
    opaque figure is written as RGB (its alpha is 255 everywhere) by
    :func:`~predaudit.plots.png.encode_png`: the same pixels, a smaller file, in
    about a third of the time of Pillow's encoder.
    """
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else MeasuringCanvas(fig)
    engine = fig.get_layout_engine()
    with paused_gc(), remembered_ticks(fig):
        if engine is not None and fig.axes:
            try:
                engine.execute(fig)
            except ValueError:  # as Figure.draw: a layout that cannot be solved is skipped
                pass
        fig.set_layout_engine(None)
        try:
            canvas.draw()
        finally:
            fig.set_layout_engine(engine)
    rgba = np.asarray(canvas.buffer_rgba())
    pixels = rgba[..., :3] if bool((rgba[..., 3] == 255).all()) else rgba
    buf.write(encode_png(pixels, dpi=fig.dpi))


def _write_and_close(fig: Figure, path: Path, fmt: str, dpi: int) -> Path:
    """Save ``fig``; nothing else holds it, so the collector frees it (no pyplot registry).

    Not ``fig.clear()``: that re-initialises every axes before dropping it, about a
    tenth of the cost of drawing the figure, for memory the collector frees anyway.
    """
    return save_figure(fig, path, fmt=fmt, dpi=dpi)


def analyze_figures(split: SplitAnalysis) -> list[str]:
    """The names of the figures that can be drawn for ``split``, in order.

    One epoch (no comparison): only ``loss_accuracy`` and ``loss_split``; samples
    not aligned: no ``rise_samples`` (``transitions`` then says why there are
    no transitions).
    """
    names = ["loss_accuracy", "loss_split"]
    if split.comparison is not None:
        names.append("transitions")
        if split.samples is not None:
            names.append("rise_samples")
    return names


_ANALYZE_PLOTTERS: dict[str, Callable[[SplitAnalysis], Figure]] = {
    "loss_accuracy": plot_loss_accuracy,
    "loss_split": plot_loss_split,
    "transitions": plot_transitions,
    "rise_samples": plot_rise_samples,
}


def write_analyze_figures(
    split: SplitAnalysis, out_dir: Path, *, fmt: str = "png", dpi: int = DPI
) -> list[Path]:
    """Write the analyze figures of one split into ``out_dir`` (created if needed).

    Files are ``loss_accuracy.<fmt>``, ``loss_split.<fmt>``, ``transitions.<fmt>``,
    ``rise_samples.<fmt>`` — those :func:`analyze_figures` says can be drawn —
    each written atomically; returns their paths in that order. Inside
    :func:`predaudit.plots.workers.drawing` they are written when its block ends.
    """
    fmt = _check_format(fmt)
    out_dir = Path(out_dir)
    return [
        write_job(out_dir / f"{name}.{fmt}", partial(_ANALYZE_PLOTTERS[name], split), fmt, dpi)
        for name in analyze_figures(split)
    ]


def write_job(path: Path, build: Callable[[], Figure], fmt: str, dpi: int = DPI) -> Path:
    """Build a figure with ``build()`` and write it to ``path``: now, or inside
    :func:`predaudit.plots.workers.drawing` when its block ends (on every core).
    Returns ``path``."""
    return figure_job(path, partial(_build_and_write, build, path, fmt, dpi))


def _build_and_write(build: Callable[[], Figure], path: Path, fmt: str, dpi: int) -> Path:
    with paused_gc():  # no cyclic collection walking the artists while they are made
        return _write_and_close(build(), path, fmt, dpi)


def write_confusion_figure(
    matrix: np.ndarray,
    labels: Sequence[str],
    out_path: Path,
    *,
    fmt: str = "png",
    top_pairs: Iterable[Any] | None = None,
    title: str | None = None,
    dpi: int = DPI,
    split: str | None = None,
    epoch: int | None = None,
    epoch_unit: str = "epoch",
) -> Path:
    """Write :func:`plot_confusion` to ``out_path`` atomically; returns the path written.

    The file's suffix is set to ``.<fmt>`` (``confusion.png`` becomes
    ``confusion.svg`` with ``fmt="svg"``). ``split`` and ``epoch`` go into the title.
    """
    fmt = _check_format(fmt)
    out_path = Path(out_path).with_suffix(f".{fmt}")
    build = partial(
        plot_confusion,
        matrix,
        labels,
        title=title,
        top_pairs=top_pairs,
        split=split,
        epoch=epoch,
        epoch_unit=epoch_unit,
    )
    return write_job(out_path, build, fmt, dpi)


def write_confusion_diff_figure(
    matrix: np.ndarray,
    labels: Sequence[str],
    out_path: Path,
    *,
    from_epoch: int,
    to_epoch: int,
    fmt: str = "png",
    split: str | None = None,
    epoch_unit: str = "epoch",
    dpi: int = DPI,
) -> Path:
    """Write :func:`plot_confusion_diff` (``matrix`` = count difference) to ``out_path``."""
    fmt = _check_format(fmt)
    out_path = Path(out_path).with_suffix(f".{fmt}")
    build = partial(
        plot_confusion_diff,
        matrix,
        labels,
        from_epoch=from_epoch,
        to_epoch=to_epoch,
        split=split,
        epoch_unit=epoch_unit,
    )
    return write_job(out_path, build, fmt, dpi)


def analyze_figures_for(split: SplitAnalysis, folder: Path, *, fmt: str = "png") -> list[Path]:
    """The figures ``analyze --out`` writes for one split."""
    return write_analyze_figures(split, folder, fmt=fmt)


def confusion_figures_for(split: SplitConfusion, folder: Path, *, fmt: str = "png") -> list[Path]:
    """The figures ``confusion --out`` writes for one split.

    ``confusion.<fmt>``, the matrix at the report's epoch (with ``--diff`` its ``to``
    epoch), and with ``--diff`` also ``confusion_diff.<fmt>``, the change in counts.
    """
    e = split.epoch
    unit = str(getattr(split, "epoch_unit", "epoch"))
    if split.n_classes > PLOT_MAX_CLASSES:  # the confused pairs as bars, no C×C matrix
        return _pair_figures(split, Path(folder), _check_format(fmt), unit)
    labels = [str(label) for label in e.labels]
    paths = [
        write_confusion_figure(
            e.matrix,
            labels,
            folder / f"confusion.{fmt}",
            fmt=fmt,
            top_pairs=e.top_confusions,
            split=split.name,
            epoch=e.epoch,
            epoch_unit=unit,
        )
    ]
    d = split.diff
    if d is not None:
        paths.append(
            write_confusion_diff_figure(
                d.matrix,
                labels,
                folder / f"confusion_diff.{fmt}",
                from_epoch=d.from_epoch,
                to_epoch=d.to_epoch,
                fmt=fmt,
                split=split.name,
                epoch_unit=unit,
            )
        )
    return paths


def _pair_figures(split: SplitConfusion, folder: Path, fmt: str, unit: str) -> list[Path]:
    """``confusion_figures_for`` over ``PLOT_MAX_CLASSES`` classes: bars of the pairs."""
    e, d = split.epoch, split.diff
    build = partial(
        plot_top_confusions, e.top_confusions, n_classes=split.n_classes,
        accuracy=e.accuracy, split=split.name, epoch=e.epoch, epoch_unit=unit,
    )  # fmt: skip
    paths = [write_job(folder / f"confusion.{fmt}", build, fmt)]
    if d is not None:
        build = partial(
            plot_confusion_changes, d.grew, d.shrank, n_classes=split.n_classes,
            from_epoch=d.from_epoch, to_epoch=d.to_epoch, split=split.name, epoch_unit=unit,
        )  # fmt: skip
        paths.append(write_job(folder / f"confusion_diff.{fmt}", build, fmt))
    return paths
