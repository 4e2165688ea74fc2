"""The link between ``analyze`` and ``dynamics`` in words: analyze's one line on where its
wrong → wrong samples fall on the data map, and dynamics' list of them.

>>> from predaudit.report.wrong_to_wrong import WrongToWrongRegions
>>> r = WrongToWrongRegions(8, {"easy-to-learn": 0, "ambiguous": 2, "hard-to-learn": 6,
...                             "other": 0}, 0, (1, 30), 30)
>>> regions_phrase(r)
'8 samples, 6 hard-to-learn, 2 ambiguous'
"""

from __future__ import annotations

import io

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

from predaudit.render import safe
from predaudit.render.numbers import DASH, count, fixed
from predaudit.render.safe import one_line
from predaudit.report.analyze import Comparison
from predaudit.report.wrong_to_wrong import (
    HARD,
    WRONG_TO_WRONG_COLUMNS,
    WRONG_TO_WRONG_CSV,
    WrongToWrongRegions,
    WrongToWrongSamples,
)

ORDER = (HARD, "ambiguous", "other", "easy-to-learn")
"""The regions in the order the line names them: hard-to-learn first (always named)."""
WW_HEADER = ("id", "label", "region", "conf.", "var.")
POINTER = "(predaudit dynamics)"


def regions_phrase(r: WrongToWrongRegions, unit: str = "sample") -> str:
    """``8 samples, 6 hard-to-learn, 2 ambiguous`` (empty regions left out but
    hard-to-learn, then how many are not on the map)."""
    head = f"{count(r.n)} {unit if r.n == 1 else unit + 's'}"
    if r.n == 0:
        return head
    parts = [f"{count(r.regions[k])} {k}" for k in ORDER if k == HARD or r.regions[k]]
    if r.not_in_map:
        parts.append(f"{count(r.not_in_map)} not on the map")  # ignored at another epoch
    return ", ".join([head, *parts])


def analyze_line(c: Comparison, unit: str = "sample") -> str | None:
    """analyze's line: ``Wrong → wrong: 8 samples, 6 hard-to-learn, 2 ambiguous (predaudit
    dynamics)`` (no pointer when there are none to list), or why there is no data map; None
    when the transitions are not available either (their line already says why)."""
    r = c.wrong_to_wrong_regions
    if r is None:
        if c.transitions is None:
            return None
        return f"Wrong → wrong: no data map: {c.wrong_to_wrong_regions_reason}."
    pointer = "" if r.n == 0 else f" {POINTER}"  # none to list: no pointer to the list
    return f"Wrong → wrong: {regions_phrase(r, unit)}{pointer}"


class PointedLine:
    """A line of comma-separated counts ending in ``(predaudit dynamics)`` that, when too
    wide for the terminal, breaks after a comma or before the pointer, never inside a
    count or the pointer."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if cell_len(self.text) <= options.max_width or not self.text.endswith(POINTER):
            yield Text(self.text)
            return
        parts = self.text[: -len(POINTER) - 1].split(", ")
        pieces = [p + "," for p in parts[:-1]] + [parts[-1], POINTER]
        line = ""
        for piece in pieces:
            if line and cell_len(line) + 1 + cell_len(piece) > options.max_width:
                yield Text(line)
                line = piece
            else:
                line = f"{line} {piece}" if line else piece
        yield Text(line)


def dynamics_heading(w: WrongToWrongSamples) -> str:
    """``Wrong → wrong in analyze's comparison, epoch 7 → 30``."""
    return f"Wrong → wrong in analyze's comparison, epoch {w.from_epoch} → {w.to_epoch}"


def dynamics_rows(w: WrongToWrongSamples, k: int) -> tuple[list[list[str]], int]:
    """The first ``k`` samples as cells of :data:`WW_HEADER` (ids as one line of user
    text), and how many more there are."""
    rows = [
        [
            one_line(s.id),
            str(s.label),
            s.region or "not on the map",
            fixed(s.confidence) if s.confidence is not None else DASH,
            fixed(s.variability) if s.variability is not None else DASH,
        ]
        for s in w.samples[:k]
    ]
    return rows, max(len(w.samples) - k, 0)


def more_line(n_more: int, k: int) -> str:
    """``… and 12 more (...)`` after the first ``k`` rows; ``not listed (--top 0)`` at k = 0."""
    if k == 0:
        return "not listed (--top 0)"
    return f"… and {count(n_more)} more (all of them: --format json, --out {WRONG_TO_WRONG_CSV})"


def wrong_to_wrong_csv(w: WrongToWrongSamples) -> str:
    """``wrong_to_wrong.csv``: every wrong → wrong sample (:data:`WRONG_TO_WRONG_COLUMNS`),
    in the order of the list; empty cells where a sample is not on the map."""
    buf = io.StringIO()
    out = safe.writer(buf)
    out.writerow(WRONG_TO_WRONG_COLUMNS)
    for s in w.samples:
        row = s.to_dict()
        out.writerow(["" if row[c] is None else _cell(row[c]) for c in WRONG_TO_WRONG_COLUMNS])
    return buf.getvalue()


def _cell(x: object) -> str:
    return repr(x) if isinstance(x, float) else str(x)
