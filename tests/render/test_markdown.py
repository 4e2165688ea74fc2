"""The Markdown table builder and cell escaping (literal expectations)."""

from __future__ import annotations

from predaudit.render import markdown


def test_cell_escapes_pipes_only():
    assert markdown.cell("a|b|c") == "a\\|b\\|c"
    assert markdown.cell("**x** `y`") == "**x** `y`"
    assert markdown.cell(12) == "12"


def test_table_right_aligned_by_default():
    assert markdown.table(["a", "b"], [["1", "2"], ["3", "4"]]) == [
        "| a | b |",
        "| ---: | ---: |",
        "| 1 | 2 |",
        "| 3 | 4 |",
    ]


def test_table_alignment_and_escaping():
    lines = markdown.table(["name", "n", "note"], [["x|y", 3, "ok"]], "lrl", escape=True)
    assert lines == ["| name | n | note |", "| --- | ---: | --- |", "| x\\|y | 3 | ok |"]
    raw = markdown.table(["name"], [["x|y"]], "l")
    assert raw == ["| name |", "| --- |", "| x|y |"]


def test_table_without_rows_is_header_and_delimiter():
    assert markdown.table(["a"], []) == ["| a |", "| ---: |"]


def test_align():
    assert markdown.align(1, 4) == "lrrr"
    assert markdown.align(0, 2) == "rr"
    assert markdown.align(2, 2) == "ll"
    assert markdown.align(5, 2) == "ll"
