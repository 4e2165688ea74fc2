"""The MeasuringRenderer's remembered text measurements are matplotlib's own.

References: a plain ``RendererAgg`` (``get_text_width_height_descent``), and text laid out
by ``Text._get_layout`` on a plain renderer (which reads the font's tables itself), under
the same rc settings; whole figures are compared pixel for pixel in test_layout.py.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib as mpl  # noqa: E402
import pytest  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.font_manager import FontProperties  # noqa: E402

from predaudit.plots.canvas import MeasuringCanvas, MeasuringRenderer, clear_caches  # noqa: E402

STRINGS = ["0", "10⁻³", "epoch", "mean loss (nats)", "test · epoch 7 → 30: ΔL = +0.0819", ""]
PROPS = [
    FontProperties(size=10),
    FontProperties(size=14.4, weight="bold"),
    FontProperties(family="serif", size=8.33),
    FontProperties(family="monospace", size=12, style="italic"),
]


def measuring(w: int = 300, h: int = 200, dpi: float = 100) -> MeasuringRenderer:
    fig = Figure(figsize=(w / dpi, h / dpi), dpi=dpi)
    renderer = MeasuringCanvas(fig).get_renderer()
    assert isinstance(renderer, MeasuringRenderer)
    return renderer


@pytest.mark.parametrize("dpi", [72, 100, 150])
def test_extents_are_those_of_renderer_agg(dpi):
    clear_caches()
    ours, reference = measuring(dpi=dpi), RendererAgg(300, 200, dpi)
    for _ in range(2):  # measured, then remembered
        for prop in PROPS:
            for s in STRINGS:
                assert ours.get_text_width_height_descent(s, prop, False) == (
                    reference.get_text_width_height_descent(s, prop, False)
                ), (s, prop)
    # math text is measured by matplotlib every time
    assert ours.get_text_width_height_descent(r"$x^2$", PROPS[0], True) == (
        reference.get_text_width_height_descent(r"$x^2$", PROPS[0], True)
    )


def extents(canvas_class: type, text: str, **kw) -> list[tuple[float, ...]]:
    fig = Figure(figsize=(4, 3), dpi=100)
    canvas = canvas_class(fig)
    texts = [fig.text(0.1, 0.5, text, **kw), fig.text(0.5, 0.2, text, rotation=30, **kw)]
    renderer = canvas.get_renderer()
    return [tuple(t.get_window_extent(renderer).bounds) for t in texts]


@pytest.mark.parametrize(
    "kw",
    [{}, {"fontsize": 14, "weight": "bold"}, {"family": "serif"}, {"linespacing": 1.5}],
)
def test_text_layout_is_that_of_a_plain_canvas(kw):
    """The font height metrics feed every line's ascent and descent: multi-line text
    lands where matplotlib's own font-table lookup puts it."""
    clear_caches()
    for text in ("one line", "two\nlines", "a title\nover three\nlines ↗"):
        for _ in range(2):
            assert extents(MeasuringCanvas, text, **kw) == extents(FigureCanvasAgg, text, **kw)


def test_rc_settings_that_choose_the_font_are_not_remembered_across():
    """A cached number never outlives the rc settings that gave it."""
    clear_caches()
    prop = FontProperties(family="sans-serif", size=10)
    seen = []
    for rc in (
        {"font.sans-serif": ["DejaVu Sans"]},
        {"font.sans-serif": ["DejaVu Sans Mono"]},
        {"font.sans-serif": ["DejaVu Sans"], "text.hinting": "no_hinting"},
        {"font.sans-serif": ["DejaVu Sans"]},
    ):
        with mpl.rc_context(rc):
            ours = measuring().get_text_width_height_descent("Wide mmm text", prop, False)
            reference = RendererAgg(300, 200, 100).get_text_width_height_descent(
                "Wide mmm text", prop, False
            )
            assert ours == reference, rc
            seen.append(ours)
            assert extents(MeasuringCanvas, "a\nb") == extents(FigureCanvasAgg, "a\nb"), rc
    assert seen[0] != seen[1] and seen[0] != seen[2] and seen[0] == seen[3]


def test_a_resized_figure_gets_a_new_renderer():
    fig = Figure(figsize=(3, 2), dpi=100)
    canvas = MeasuringCanvas(fig)
    first = canvas.get_renderer()
    assert canvas.get_renderer() is first
    fig.set_size_inches(4, 2)
    second = canvas.get_renderer()
    assert second is not first and (second.width, second.height) == (400, 200)
