"""The one exception hierarchy of predaudit.

Library functions raise these (all are ``ValueError`` subclasses); only the CLI
turns them into one line on stderr and an exit code (see ``docs/design.md``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable


class PredauditError(ValueError):
    """Base class of every error predaudit raises on purpose."""

    exit_code = 4


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

    In library terms the message names the parameter, ``start=99: split 'test'
    has no epoch 99 (epochs 1..30)``; the CLI shows the same problem under its
    option name, ``--from 99: ...`` (:meth:`for_option`). ``cli_problem``, when
    given, is the wording of the problem on the command line (where it names
    other options).
    """

    exit_code = 2

    def __init__(
        self,
        problem: str,
        *,
        param: str | None = None,
        value: str | None = None,
        cli_problem: str | None = None,
        joiner: str = ": ",
        template: str | None = None,
    ) -> None:
        self.template = template
        if template is not None:  # "{start}best and {end}5 ...": parameters named in place
            problem = _fill(template, lambda p: f"{p}=")
        self.problem = problem
        self.param = param
        self.value = value
        self.cli_problem = cli_problem
        self.joiner = joiner
        head = f"{param}={value}{joiner}" if param is not None else ""
        super().__init__(head + problem)

    def for_option(self, options: dict[str, str]) -> str:
        """The message with the parameter shown as its command-line option (``options[param]``)."""
        if self.template is not None:
            return _fill(self.template, lambda p: f"{options.get(p, p)} ")
        problem = self.cli_problem or self.problem
        if self.param is None:
            return problem
        name = options.get(self.param, self.param)
        if self.value is None:
            return f"{name}{self.joiner}{problem}"
        return f"{name} {self.value}{self.joiner}{problem}"


def _fill(template: str, name: Callable[[str], str]) -> str:
    """Replace each ``{param}`` of ``template`` by ``name(param)``."""
    return re.sub(r"\{(\w+)\}", lambda m: name(m.group(1)), template)
