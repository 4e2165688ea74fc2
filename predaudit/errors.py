"""The one exception hierarchy of predaudit.

Library functions raise these; only the CLI turns them into a line on stderr
and an exit code (DESIGN.md §6).
"""

from __future__ import annotations

import os


class PredauditError(Exception):
    """Base class of every error predaudit raises on purpose."""

    exit_code = 1


class InputError(PredauditError):
    """Missing, unreadable or invalid input data (exit code 3).

    The message always starts with the file it is about:
    ``run/epoch_7.npz: 12 logits are NaN or infinite``.
    """

    exit_code = 3

    def __init__(self, path: str | os.PathLike[str] | None, problem: str) -> None:
        self.path = None if path is None else os.fspath(path)
        self.problem = problem
        super().__init__(problem if self.path is None else f"{self.path}: {problem}")


class OptionError(PredauditError):
    """A well-formed option whose value does not fit the data (exit code 2).

    For example ``--from 99`` on a run whose epochs are 1..30.
    """

    exit_code = 2
