"""The figures of ``confusion``: :func:`plot_confusion`, a row-normalised heatmap
(``confusion.png``), and with ``--diff`` :func:`plot_confusion_diff`, the change in
counts between the two epochs on a diverging scale (``confusion_diff.png``)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.colors import LinearSegmentedColormap, PowerNorm, TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

from predaudit.plots.axes import _new_figure, _root, _wrap
from predaudit.plots.style import ANNOTATE_MAX_CLASSES, CORRECT, TOP_PAIRS, WRONG, literal
from predaudit.plots.text import _count, _pct

if TYPE_CHECKING:
    from matplotlib.axes import Axes


# -- confusion ----------------------------------------------------------------------------


def _tick_choice(c: int, annotate: bool) -> tuple[list[int], Any]:
    """The classes named on the axes of a ``c``-class matrix, and their font size: every
    class beside cell numbers, else every k-th (about 25 names)."""
    if annotate:
        return list(range(c)), "medium" if c <= 10 else "small"
    return list(range(0, c, math.ceil(c / 25))), 8


def _class_ticks(
    ax: Axes, names: Sequence[str], ticks: list[int], tick_size: float, annotate: bool
) -> None:
    """Class names at ``ticks`` on both axes; the x labels turned when they would overlap
    (90° without cell numbers, else 45° anchored at their right end)."""
    ax.set_xticks(ticks, labels=[names[i] for i in ticks], fontsize=tick_size)
    ax.set_yticks(ticks, labels=[names[i] for i in ticks], fontsize=tick_size)
    longest = max((len(names[i]) for i in ticks), default=0)
    if not annotate or longest * len(ticks) > 40:
        ax.tick_params(axis="x", labelrotation=90 if not annotate else 45)
        if annotate:
            for text in ax.get_xticklabels():
                text.set_horizontalalignment("right")
                text.set_rotation_mode("anchor")


def top_confusions(matrix: np.ndarray, k: int = 10) -> list[tuple[int, int, int]]:
    """The ``k`` largest off-diagonal cells as ``(true, pred, count)``, count > 0, largest first.

    Ties go to the lower (true, pred) index.
    """
    m = np.asarray(matrix)
    off = m.astype(np.int64, copy=True)
    np.fill_diagonal(off, 0)
    flat = off.ravel()
    order = np.argsort(-flat, kind="stable")[:k]
    c = m.shape[0]
    return [(int(i // c), int(i % c), int(flat[i])) for i in order if flat[i] > 0]


def _pairs(
    matrix: np.ndarray, names: list[str], top_pairs: Iterable[Any] | None, k: int
) -> list[tuple[str, str, int, float | None]]:
    """Top pairs as ``(true name, pred name, count, share of the true class)``.

    ``top_pairs`` items may be ``(true, pred, count)`` tuples, ``{"true", "pred",
    "count"}`` dicts, or objects with ``true_index``, ``pred_index`` and ``count``
    (:class:`predaudit.analysis.confusion.Confusion`); ``true``/``pred`` are class
    indices (ints) or names.
    """
    raw: list[tuple[Any, Any, int]]
    if top_pairs is None:
        raw = list(top_confusions(matrix, k))
    else:
        raw = []
        for p in top_pairs:
            if hasattr(p, "true_index"):
                raw.append((int(p.true_index), int(p.pred_index), int(p.count)))
            elif isinstance(p, dict):
                raw.append((p["true"], p["pred"], int(p["count"])))
            else:
                t, q, n = p
                raw.append((t, q, int(n)))

    def index(x: Any) -> int | None:
        if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
            return int(x)
        return names.index(str(x)) if str(x) in names else None

    rows = matrix.sum(axis=1)
    out = []
    for t, q, n in raw[:k]:
        ti, qi = index(t), index(q)
        share = n / rows[ti] if ti is not None and rows[ti] > 0 else None
        out.append(
            (
                names[ti] if ti is not None else str(t),
                names[qi] if qi is not None else str(q),
                n,
                share,
            )
        )
    return out


def _confusion_title(matrix: np.ndarray, pairs: list[tuple[str, str, int, float | None]]) -> str:
    total = int(matrix.sum())
    if total == 0:
        return "no samples"
    acc = f"accuracy {_pct(float(np.trace(matrix)) / total)}"
    if not pairs:
        return f"{acc}: no confusions"
    t, q, n, share = pairs[0]
    of = f", {_pct(share)} of {t}" if share is not None else ""
    return f"{acc}; most confused: {t} → {q} ({_samples(n)}{of})"


def _named(text: str, split: str | None, where: str | None) -> str:
    """``"test · epoch 30: accuracy …"`` when the split or epoch is known, else ``"Accuracy …"``."""
    prefix = literal(" · ".join(p for p in (split, where) if p))
    return f"{prefix}: {text}" if prefix else f"{text[0].upper()}{text[1:]}"


def _square(matrix: Any, labels: Sequence[object]) -> tuple[np.ndarray, list[str]]:
    """The matrix as int64 counts ``[C, C]`` and the class names as literal text (never
    mathtext); ``ValueError`` unless the matrix is square with one name per class."""
    m = np.asarray(matrix)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"matrix must be square, got shape {m.shape}")
    if len(labels) != m.shape[0]:
        raise ValueError(f"labels has {len(labels)} names but matrix has {m.shape[0]} classes")
    return np.rint(m).astype(np.int64), [literal(x) for x in labels]


def plot_confusion(
    matrix: np.ndarray,
    labels: Sequence[str],
    *,
    title: str | None = None,
    top_pairs: Iterable[Any] | None = None,
    ax: Axes | None = None,
    split: str | None = None,
    epoch: int | None = None,
    epoch_unit: str = "epoch",
) -> Figure:
    """Confusion heatmap: rows = true class, columns = predicted class.

    ``matrix`` is an array of shape (n_classes, n_classes) of counts; ``labels``
    the class names (length n_classes). Colour is the share of the row (true
    class), on a square-root scale so that small confusions show; the image's
    data (``AxesImage.get_array()``) is that share. Up to
    :data:`ANNOTATE_MAX_CLASSES` classes the counts are written in the cells as
    integers (texts with gid ``"count"``). With more classes every k-th class is
    named and the top confused pairs are listed in a side panel (or, when ``ax``
    is given, in the title). ``top_pairs`` are ``(true, pred, count)`` tuples or
    ``{"true", "pred", "count"}`` dicts with class indices or names; by default
    the largest off-diagonal cells. The default title names ``split`` and
    ``epoch`` when given (``"test · epoch 30: accuracy 98%; …"``) and states the
    accuracy and the most confused pair.
    """
    m, names = _square(matrix, labels)
    c = m.shape[0]
    annotate = c <= ANNOTATE_MAX_CLASSES
    pairs = _pairs(m, names, top_pairs, TOP_PAIRS)

    panel = None
    if ax is None:
        if annotate:
            side = max(4.8, 0.42 * c + 2.6)
            fig = _new_figure((side + 1.2, side))
            ax = fig.add_subplot()
        else:
            fig = _new_figure((13, 9.5))
            grid = fig.add_gridspec(1, 2, width_ratios=(4.2, 1.6))
            ax = fig.add_subplot(grid[0])
            panel = fig.add_subplot(grid[1])
        owned = True
    else:
        fig, owned = _root(ax.figure), False

    rows = m.sum(axis=1, keepdims=True)
    share = np.divide(m, rows, out=np.zeros(m.shape, dtype=float), where=rows > 0)
    norm = PowerNorm(gamma=0.5, vmin=0.0, vmax=1.0)
    im = ax.imshow(share, cmap="Blues", norm=norm, interpolation="nearest", aspect="equal")
    im.set_gid("share")
    if owned:
        bar = fig.colorbar(im, ax=ax, shrink=0.8 if annotate else 0.6, pad=0.02)
        bar.set_label("share of the true class (%)")
        bar.ax.yaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))

    if annotate:
        digits = max(len(str(int(m.max()))) if m.size else 1, 1)
        size = float(np.clip(42 / digits, 6, 10)) if c > 8 else 10.0
        for i in range(c):
            for j in range(c):
                ax.text(
                    j,
                    i,
                    f"{m[i, j]:d}",
                    ha="center",
                    va="center",
                    fontsize=size,
                    color="white" if norm(share[i, j]) > 0.6 else "black",
                    gid="count",
                )
    ticks, tick_size = _tick_choice(c, annotate)
    _class_ticks(ax, names, ticks, tick_size, annotate)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.tick_params(length=2 if not annotate else 0)

    if not annotate:  # outline the top confused cells, in the colour of wrong samples
        index = {name: i for i, name in enumerate(names)}
        for t, q, _, _ in pairs:
            if t in index and q in index:
                ax.add_patch(
                    Rectangle(
                        (index[q] - 0.5, index[t] - 0.5),
                        1,
                        1,
                        fill=False,
                        edgecolor=WRONG,
                        linewidth=1.2,
                        gid="top_pair",
                    )
                )
    where = f"{epoch_unit} {epoch}" if epoch is not None else None
    heading = title if title is not None else _named(_confusion_title(m, pairs), split, where)
    if panel is not None:
        panel.set_axis_off()
        lines = [
            "Most confused pairs (outlined)",
            "true → predicted: count (share of true)",
            "",
        ]
        for t, q, n, sh in pairs:
            share_txt = f" ({_pct(sh)})" if sh is not None else ""
            lines.append(f"{t} → {q}: {_count(n)}{share_txt}")
        if not pairs:
            lines.append("none: every sample is on the diagonal")
        panel.text(0, 1, "\n".join(lines), va="top", ha="left", gid="top_pairs")
    elif not annotate and pairs and title is None:
        listed = "; ".join(f"{t} → {q} ({_count(n)})" for t, q, n, _ in pairs[:3])
        heading = f"{heading}\nTop confusions: {listed}"
    if owned:
        fig.suptitle(_wrap(heading, float(fig.get_figwidth())), fontsize="large")
    else:
        ax.set_title(heading, fontsize="medium")
    return fig


# -- the change between two epochs --------------------------------------------------------


def _signed_count(v: int) -> str:
    return f"+{v:,}" if v > 0 else f"−{-v:,}" if v < 0 else "0"


def _samples(n: int) -> str:
    return f"{_count(n)} sample{'' if n == 1 else 's'}"


def _diff_title(delta: np.ndarray, names: list[str], pairs: int = 2) -> str:
    """The change in wrong samples and the (up to ``pairs``) confusions that grew most."""
    off = delta.copy()
    np.fill_diagonal(off, 0)
    net = int(off.sum())
    if net == 0:
        wrong = "as many wrong samples"
    else:
        wrong = f"{_count(abs(net))} {'more' if net > 0 else 'fewer'} wrong sample"
        wrong += "" if abs(net) == 1 else "s"
    grew = top_confusions(np.maximum(off, 0), pairs)
    if not grew:
        return f"{wrong}; no confusion grew"
    listed = ", ".join(f"{names[t]} predicted as {names[q]} (+{_count(k)})" for t, q, k in grew)
    return f"{wrong}; grew most: {listed}"


DIFF_CMAP = LinearSegmentedColormap.from_list("predaudit_diff", [CORRECT, "#ffffff", WRONG])
"""Blue (fewer samples), white (no change), vermillion (more samples; off the diagonal: wrong)."""


def plot_confusion_diff(
    matrix: np.ndarray,
    labels: Sequence[str],
    *,
    from_epoch: int,
    to_epoch: int,
    split: str | None = None,
    epoch_unit: str = "epoch",
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """The change of a confusion matrix between two epochs: a diverging heatmap centred on 0.

    ``matrix`` is the count difference ``to − from``, shape (n_classes, n_classes),
    rows = true class (:attr:`predaudit.report.confusion.ConfusionDiff.matrix`). Off
    the diagonal, vermillion is a confusion that grew (more wrong samples) and blue
    one that shrank, on a :class:`~matplotlib.colors.TwoSlopeNorm` centred at 0 with
    symmetric limits (± the largest off-diagonal change). The diagonal (correct
    predictions) is masked, drawn grey, and only written. The image's data
    (``AxesImage.get_array()``, a masked array) is the count difference. Up to
    :data:`ANNOTATE_MAX_CLASSES` classes every cell's change is written (texts with
    gid ``"count"``: ``"+3"``, ``"−2"``, ``"·"`` for no change); with more, every
    k-th class is named and the :data:`TOP_PAIRS` confusions that grew most are
    outlined (gid ``"grown_pair"``). The default title names ``split`` and the
    epochs, the change in wrong samples and the two confusions that grew most (three
    without cell numbers), once.
    """
    m, names = _square(matrix, labels)
    c = m.shape[0]
    annotate = c <= ANNOTATE_MAX_CLASSES

    if ax is None:
        side = max(4.8, 0.42 * c + 2.6) if annotate else 9.5
        fig = _new_figure((side + 1.2, side))
        ax = fig.add_subplot()
        owned = True
    else:
        fig, owned = _root(ax.figure), False

    diagonal = np.eye(c, dtype=bool)
    off = np.where(diagonal, 0, m)
    limit = max(int(np.abs(off).max()) if off.size else 0, 1)
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-limit, vmax=limit)
    cmap = DIFF_CMAP.with_extremes(bad="#e6e6e6")
    im = ax.imshow(
        np.ma.masked_array(m, mask=diagonal),
        cmap=cmap,
        norm=norm,
        interpolation="nearest",
        aspect="equal",
    )
    im.set_gid("change")
    where = f"{epoch_unit} {from_epoch} → {to_epoch}"
    if owned:
        bar = fig.colorbar(im, ax=ax, shrink=0.8, pad=0.02)
        bar.set_label(f"change in count, {where}")
        bar.ax.yaxis.set_major_locator(MaxNLocator(integer=True, symmetric=True))
        bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _signed_count(round(v))))

    if annotate:
        digits = max(len(_signed_count(int(v))) for v in m.ravel()) if m.size else 1
        size = float(np.clip(42 / digits, 6, 10)) if c > 8 else 10.0
        for i in range(c):
            for j in range(c):
                v = int(m[i, j])
                strong = abs(float(norm(v)) - 0.5) > 0.3
                ax.text(
                    j,
                    i,
                    _signed_count(v) if v else "·",
                    ha="center",
                    va="center",
                    fontsize=size,
                    color="#555555" if i == j else "white" if strong else "black",
                    style="italic" if i == j else "normal",
                    alpha=0.5 if v == 0 else 1.0,
                    gid="count",
                )
    else:
        for t, q, _ in top_confusions(np.maximum(off, 0), TOP_PAIRS):
            ax.add_patch(
                Rectangle(
                    (q - 0.5, t - 0.5),
                    1,
                    1,
                    fill=False,
                    edgecolor="black",
                    lw=1.2,
                    gid="grown_pair",
                )
            )
    ticks, tick_size = _tick_choice(c, annotate)
    _class_ticks(ax, names, ticks, tick_size, annotate)
    ax.set_xlabel("predicted class\n(grey diagonal: change in correct predictions)")
    ax.set_ylabel("true class")
    ax.tick_params(length=2 if not annotate else 0)

    if title is not None:
        heading = title
    else:
        # without cell numbers, the title names one confusion more (the cells say no count)
        heading = _named(_diff_title(m, names, 2 if annotate else 3), split, where)
    if owned:
        fig.suptitle(_wrap(heading, float(fig.get_figwidth())), fontsize="large")
    else:
        ax.set_title(heading, fontsize="medium")
    return fig
