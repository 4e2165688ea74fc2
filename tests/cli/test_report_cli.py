"""``predaudit report`` and ``--format html``: a self-contained, escaped, offline page.

Fast tests, no browser (``test_report_browser.py`` opens the page in Chromium): the
page holds every figure as inline SVG, fetches nothing (no ``src``/``href`` but
``#`` anchors and ``data:`` URIs, a Content-Security-Policy forbidding the rest),
escapes every user-controlled string, shows the JSON reports' numbers, stays under
2 MB for the sample run, and ``-o``/``--check`` behave as ``--out``/``--check`` do.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from predaudit.cli import main
from predaudit.render.html_parts import CSP
from predaudit.render.numbers import fixed_finite

ROOT = Path(__file__).resolve().parents[2]
STACKED = ROOT / "sample_data" / "stacked"
EVIL_SPLIT = "<img src=x onerror=alert(1)>"
EVIL_FOLDER = "<i>run&\"'"
EVIL_ID = "&<>\"'"


def run_cli(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args], env={"COLUMNS": "80", "NO_COLOR": "1"})


@pytest.fixture(scope="module")
def sample_page(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("report") / "r.html"
    res = run_cli("report", STACKED, "-o", out)
    assert res.exit_code == 0, res.output
    assert res.stdout == ""  # the notice goes to stderr
    assert f"Wrote {out}" in res.stderr
    return out.read_text(encoding="utf-8")


def evil_run(root: Path) -> Path:
    """A small run whose folder, split and ids are HTML; wrong samples get more wrong."""
    rng = np.random.default_rng(0)
    e, n, c = 4, 60, 3
    labels = rng.integers(0, c, n)
    logits = rng.normal(size=(e, n, c))
    wrong = np.arange(n) < 8
    for k in range(e):
        logits[k, np.arange(n), labels] += 2.0 + 0.3 * k
        logits[k, wrong, labels[wrong]] -= 3.0 + 1.5 * k
    folder = root / EVIL_FOLDER
    folder.mkdir()
    np.save(folder / f"{EVIL_SPLIT}_logits.npy", logits.astype(np.float32))
    np.save(folder / f"{EVIL_SPLIT}_labels.npy", labels)
    np.save(folder / f"{EVIL_SPLIT}_ids.npy", np.array([f"{i}{EVIL_ID}" for i in range(n)]))
    return folder


class Links(HTMLParser):
    """Every URL-valued attribute and every tag of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in {"src", "href", "xlink:href", "action", "poster", "srcset", "data"}:
                self.urls.append(value or "")


def links(page: str) -> Links:
    parser = Links()
    parser.feed(page)
    return parser


def test_the_sample_page_is_small_and_has_every_figure_inline(sample_page):
    assert len(sample_page.encode("utf-8")) < 2_000_000
    # per split: loss/accuracy, loss split, transitions, loss distribution, reliability,
    # temperature, data map, the samples behind the rise, confusion matrix and its change
    assert sample_page.count("<svg") == 2 * 10
    assert sample_page.count('<figure class="fig">') == 2 * 10
    assert "could not be drawn" not in sample_page
    assert sample_page.count("<script>") == 1  # the sorter, nothing else


def test_the_sample_page_fetches_nothing(sample_page):
    assert f'<meta http-equiv="Content-Security-Policy" content="{CSP}">' in sample_page
    parsed = links(sample_page)
    assert parsed.urls, "expected the split anchors at least"
    assert all(u.startswith(("#", "data:")) for u in parsed.urls), parsed.urls
    assert not {"link", "iframe", "object", "embed", "img", "video", "audio"} & set(parsed.tags)
    for pattern in ("http://", "https://", "//fonts", "@import", "@font-face"):
        assert pattern not in sample_page
    assert re.findall(r"url\((?!#)", sample_page) == []


def test_the_verdict_comes_first_and_matches_the_json(sample_page):
    res = run_cli("analyze", STACKED, "--format", "json")
    doc = json.loads(res.stdout)
    for name in ("test", "train"):
        split = sample_page.split(f'id="split-{name}"', 1)[1]
        first = split.index('class="verdict')
        assert first < split.index("<svg")  # the verdict before any figure
        h = doc["splits"][name]["hypothesis"]
        assert re.search(r'class="verdict v-(\w+)"', split).group(1) == h["verdict"]
        assert h["statement"].replace("'", "&#x27;") in split[:4000]
    test = sample_page.split('id="split-test"', 1)[1].split('id="split-train"', 1)[0]
    assert test.index("Supported") < test.index("<svg")


def cells_table(section: str) -> list[list[str]]:
    table = section.split('class="sortable cells"', 1)[1].split("</tbody>", 1)[0]
    return [re.findall(r'data-v="([^"]*)"', row) for row in table.split("<tr>")[2:]]


def test_the_numbers_are_the_json_reports_numbers(sample_page):
    analyze = json.loads(run_cli("analyze", STACKED, "--format", "json").stdout)
    calibration = json.loads(run_cli("calibration", STACKED, "--format", "json").stdout)
    test = sample_page.split('id="split-test"', 1)[1].split('id="split-train"', 1)[0]
    c = analyze["splits"]["test"]["comparison"]
    # the transition table sorts by the exact values: the JSON's own floats
    rows = cells_table(test)
    assert [r[0] for r in rows] == list(c["transitions"])
    for row, cell in zip(rows, c["transitions"].values(), strict=True):
        assert int(row[1]) == cell["n"]
        assert float(row[3]) == cell["contribution"]
    assert f"<b>{fixed_finite(c['delta_loss'], signed=True)}</b>" in test
    share = calibration["splits"]["test"]["comparison"]["temperature_share"]
    assert f"One temperature would undo {100 * share:.0f}% of the loss rise" in test
    conf = json.loads(
        run_cli("confusion", STACKED, "--split", "test", "--diff", c["from"], c["to"], "--format",
                "json").stdout
    )["splits"]["test"]  # fmt: skip
    assert f"accuracy {100 * conf['accuracy']:.1f}%" in test
    top = analyze_top(c["from"], c["to"])
    shown = re.findall(r"<tr><td data-v=\"(\d+)\" class=\"num\">", test.split("rose most", 1)[1])
    assert [int(x) for x in shown[:10]] == [t["id"] for t in top]


def analyze_top(start: int, end: int) -> list[dict]:
    args = ["analyze", STACKED, "--split", "test", "--from", start, "--to", end, "--top", 10]
    res = run_cli(*args, "--format", "json")
    return json.loads(res.stdout)["splits"]["test"]["top"]


def test_every_user_string_is_escaped(tmp_path):
    folder = evil_run(tmp_path)
    out = tmp_path / "out" / "r.html"
    res = run_cli("report", folder, "-o", out, "--top", 5, "-q")
    assert res.exit_code == 0, res.output
    page = out.read_text(encoding="utf-8")
    for raw in (EVIL_SPLIT, EVIL_FOLDER, EVIL_ID):
        assert raw not in page
    assert "<img" not in page and page.count("<script>") == 1
    assert "&lt;img src=x onerror=alert(1)&gt;" in page  # the split name
    assert "&lt;i&gt;run&amp;&quot;&#x27;" in page  # the folder
    assert re.search(r">\d+&amp;&lt;&gt;&quot;&#x27;</td>", page)  # an id in the samples table
    assert all(u.startswith(("#", "data:")) for u in links(page).urls)
    assert page.count("<svg") == 10


@pytest.mark.parametrize(
    "check, code", [("test:accuracy >= 0.9", 0), ("test:hypothesis != supported", 1)]
)
def test_check_exit_codes_after_writing_the_page(tmp_path, check, code):
    out = tmp_path / "r.html"
    res = run_cli("report", STACKED, "-o", out, "--split", "test", "--check", check, "-q")
    assert res.exit_code == code, res.output
    page = out.read_text(encoding="utf-8")
    assert ('class="checks-fail"' in page) == bool(code) and 'id="checks"' in page
    assert check.split(":", 1)[1].replace("<", "&lt;").replace(">", "&gt;") in page


def test_a_malformed_check_is_a_usage_error_and_writes_nothing(tmp_path):
    out = tmp_path / "r.html"
    res = run_cli("report", STACKED, "-o", out, "--check", "nonsense >= 1")
    assert res.exit_code == 2
    assert not out.exists()


def test_output_inside_the_run_folder_is_refused(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    for f in STACKED.iterdir():
        (run / f.name).symlink_to(f)
    for target in (run / "r.html", run / "sub" / "r.html"):
        res = run_cli("report", run, "-o", target)
        assert res.exit_code == 2
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"Error: --output {target} is inside")
        assert not target.exists()
    assert res.stdout == ""


def test_output_is_required():
    res = run_cli("report", STACKED)
    assert res.exit_code == 2 and "--output" in res.output


@pytest.mark.parametrize("command", ["analyze", "inspect", "confusion", "calibration", "dynamics"])
def test_every_command_has_an_html_page(command):
    from predaudit.registry import COMMANDS

    if command not in COMMANDS:
        pytest.skip(f"no {command} command")
    res = run_cli(command, STACKED, "--split", "test", "--format", "html")
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("<!DOCTYPE html>") and res.stdout.rstrip().endswith("</html>")
    assert f"<title>predaudit {command} · " in res.stdout
    assert all(u.startswith(("#", "data:")) for u in links(res.stdout).urls)
    if command == "analyze":
        assert 'class="verdict v-supported"' in res.stdout and res.stdout.count("<svg") == 5


def test_a_script_split_name_is_escaped_in_the_library_page():
    """A split name with a slash cannot come from a file name, but from_arrays takes any."""
    import predaudit
    from predaudit.page import build_page
    from predaudit.render.html import page_html

    name = "<script>alert(1)</script>"
    logits = np.load(STACKED / "test_logits.npy")[-6:, :120]
    labels = np.load(STACKED / "test_labels.npy")[:120]
    run = predaudit.from_arrays(logits, labels, split=name, calibration=True)
    page, _ = build_page(run, top=3)
    text = page_html(page)
    assert name not in text and text.count("<script>") == 1
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert all(u.startswith(("#", "data:")) for u in links(text).urls)


def test_a_temperature_at_its_bound_reads_as_one_on_the_page():
    """The train split's last epochs are right on every sample (numpy's argmax of the
    stored logits), so their T* is the lower bound: the page's table says ``≤0.001`` and
    the note under it says what that means; the test split's fits are interior."""
    z = np.load(STACKED / "train_logits.npy")
    y = np.load(STACKED / "train_labels.npy")
    assert (z[-1].argmax(axis=1) == y).all()
    page = run_cli("calibration", STACKED, "--split", "train", "--format", "html").stdout
    assert "≤0.001" in page
    assert "T* ≥/≤: the end of the fit&#x27;s range; the loss keeps falling beyond it." in page
    test = run_cli("calibration", STACKED, "--split", "test", "--format", "html").stdout
    assert "the end of the fit" not in test
