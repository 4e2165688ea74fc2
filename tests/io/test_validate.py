"""``predaudit.io.validate.not_numbers``: what an error line says a column holds instead of
numbers, by its first offending value and row (the bad-input assets check the whole line)."""

from __future__ import annotations

import numpy as np
import pytest

from predaudit.io.validate import not_numbers


@pytest.mark.parametrize(
    ("column", "integers", "said"),
    [
        (np.array(["0.5", "n/a", "x"]), False, "text ('n/a' at row 1)"),
        (np.array(["1", "2"]), False, "text ('1' at row 0)"),  # numbers stored as text
        (np.array(["1", "2.5"]), True, "text ('2.5' at row 1)"),
        (np.array([1.0, 2.0, np.nan, 0.5]), True, "nan at row 2"),
        (np.array([b"7", b"q"]), False, "text (b'q' at row 1)"),
    ],
)
def test_the_first_value_that_is_not_a_number_is_named(column, integers, said):
    assert not_numbers(column, integers=integers) == said
