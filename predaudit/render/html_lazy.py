"""``--format html`` for the renderers' format tables, the page code imported on first use
(only that format needs it: about 40 ms of imports that every other format skips)."""

from __future__ import annotations

from typing import Any


def render_html(report: Any, **options: Any) -> str:
    """:func:`predaudit.render.html.render_html` of ``report``."""
    from predaudit.render.html import render_html as page

    return page(report, **options)
