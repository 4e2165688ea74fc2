"""Renderer plumbing: every output format has a renderer; strict, readable JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from predaudit.render import OutputFormat, to_json
from predaudit.render.analyze import RENDERERS as ANALYZE
from predaudit.render.confusion import RENDERERS as CONFUSION
from predaudit.render.inspect import RENDERERS as INSPECT


@pytest.mark.parametrize("renderers", [ANALYZE, CONFUSION, INSPECT])
def test_every_format_has_a_renderer(renderers):
    assert set(renderers) == set(OutputFormat)


@dataclass
class Fake:
    data: dict

    def to_dict(self) -> dict:
        return self.data


def test_to_json_is_strict_and_keeps_number_lists_on_one_line():
    data = {
        "epochs": [1, 2, 3],
        "matrix": [[1, 0], [2, 5]],
        "ci": [float("nan"), 0.5],
        "x": float("inf"),
        "name": "@@0123456789abcdef:0@@",
        "empty": [],
        "mixed": [1, "a"],
    }
    text = to_json(Fake(data))
    assert '"epochs": [1, 2, 3]' in text
    assert '"matrix": [\n' in text and "[1, 0]" in text
    back = json.loads(text)
    assert back == {
        "epochs": [1, 2, 3],
        "matrix": [[1, 0], [2, 5]],
        "ci": [None, 0.5],
        "x": None,
        "name": "@@0123456789abcdef:0@@",
        "empty": [],
        "mixed": [1, "a"],
    }
    assert "NaN" not in text and "Infinity" not in text


def test_floats_survive_the_round_trip_exactly():
    vals = [0.1, 1 / 3, 2.5e-300, 123456789.123456789]
    assert json.loads(to_json(Fake({"v": vals}))) == {"v": vals}
