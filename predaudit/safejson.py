"""JSON read from user files (baselines, class names, ``.jsonl`` records) without surprises.

:func:`loads` is :func:`json.loads` whose every failure is one ``ValueError`` subclass,
:class:`JsonProblem`, with a one-line reason: invalid text, nesting deeper than Python's
recursion limit, or an integer literal of more than :data:`MAX_INT_DIGITS` digits (no
count, id or label needs more; Python refuses over 4300 digits, and a float conversion
of a 400-digit integer overflows).
"""

from __future__ import annotations

import json
from typing import Any

MAX_INT_DIGITS = 40
"""The longest integer literal accepted (a 128-bit integer has 39 digits)."""


class JsonProblem(ValueError):
    """Why a text is not acceptable JSON, in one line (``line 2, column 5`` when known)."""


def parse_int(text: str) -> int:
    """An integer literal of JSON, refused (:class:`JsonProblem`) over :data:`MAX_INT_DIGITS`."""
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise JsonProblem(f"an integer of {digits} digits; at most {MAX_INT_DIGITS} are accepted")
    return int(text)


def loads(text: str) -> Any:
    """``json.loads(text)``; raises :class:`JsonProblem` for any text it cannot accept.

    >>> loads('[1, 2.5, "a"]')
    [1, 2.5, 'a']
    >>> loads("[" * 100000)
    Traceback (most recent call last):
    ...
    predaudit.safejson.JsonProblem: nested too deeply
    >>> loads("1" * 400)
    Traceback (most recent call last):
    ...
    predaudit.safejson.JsonProblem: an integer of 400 digits; at most 40 are accepted
    """
    try:
        return json.loads(text, parse_int=parse_int)
    except JsonProblem:
        raise
    except json.JSONDecodeError as exc:
        raise JsonProblem(f"{exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except RecursionError:
        raise JsonProblem("nested too deeply") from None
    except (ValueError, TypeError, OverflowError) as exc:
        raise JsonProblem(" ".join(str(exc).split())[:160]) from None
