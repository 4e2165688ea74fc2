"""The command line: the only module that imports click.

It parses options, calls the library, prints what the renderers return and
turns :class:`predaudit.errors.PredauditError` into one line on stderr and an
exit code (0 ok, 1 a check failed, 2 usage error, 3 input error).
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from predaudit import __version__
from predaudit.errors import InputError, OptionError, PredauditError
from predaudit.render import OutputFormat

F = TypeVar("F", bound=Callable[..., Any])

FORMAT_CHOICE = click.Choice([f.value for f in OutputFormat])
KIND_CHOICE = click.Choice(["logits", "probs", "log_probs"])


def _stdout_console():  # type: ignore[no-untyped-def]
    from rich.console import Console

    width = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "100") or 100)
    return Console(width=width, soft_wrap=False, highlight=False)


def _stderr_console():  # type: ignore[no-untyped-def]
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def fail(message: str, code: int) -> None:
    """Print ``Error: message`` as one line on stderr and exit with ``code``."""
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def handle_errors(fn: F) -> F:
    """Turn library errors into one stderr line and the right exit code (traceback with --debug)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = kwargs.pop("debug", False)
        try:
            return fn(*args, **kwargs)
        except PredauditError as exc:
            if debug:
                raise
            fail(" ".join(str(exc).split()), exc.exit_code)
        except OSError as exc:
            if debug:
                raise
            where = exc.filename or "input"
            fail(f"{where}: {exc.strerror or exc}", InputError.exit_code)
        except MemoryError:
            if debug:
                raise
            fail("out of memory while reading the run", InputError.exit_code)

    return wrapper  # type: ignore[return-value]


def common_options(fn: F) -> F:
    fn = click.option("--debug", is_flag=True, help="Show a traceback on errors.")(fn)
    fn = click.option(
        "--input-kind",
        type=KIND_CHOICE,
        default=None,
        help="What the scores are (default: detected from the data).",
    )(fn)
    fn = click.option("--split", "split", default=None, help="Only this split.")(fn)
    fn = click.option(
        "--format",
        "fmt",
        type=FORMAT_CHOICE,
        default="table",
        show_default=True,
        help="Output format on stdout.",
    )(fn)
    fn = click.option("-q", "--quiet", is_flag=True, help="No progress bar or notices.")(fn)
    return fn


@contextmanager
def progress_bar(quiet: bool):  # type: ignore[no-untyped-def]
    """A Rich progress bar over epochs on a terminal (stderr); nothing otherwise."""
    if quiet or not sys.stderr.isatty() or os.environ.get("CI"):
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("reading {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("epochs"),
        TimeElapsedColumn(),
        console=_stderr_console(),
        transient=True,
    ) as prog:
        tasks: dict[str, Any] = {}

        def update(split: str, done: int, total: int) -> None:
            if split not in tasks:
                tasks[split] = prog.add_task(split, total=total)
            prog.update(tasks[split], completed=done)

        yield update


def load(run: str, *, split: str | None, input_kind: str | None, quiet: bool):  # type: ignore[no-untyped-def]
    from predaudit.stats import load_run

    with progress_bar(quiet) as update:
        return load_run(run, split=split, input_kind=input_kind, progress=update)


def emit(renderable: Any) -> None:
    """Print a renderer's result on stdout: strings verbatim, Rich renderables via Rich."""
    if isinstance(renderable, str):
        click.echo(renderable, nl=not renderable.endswith("\n"))
    else:
        _stdout_console().print(renderable)


# Not click.Path(exists=True): a missing run is an input error (exit 3, DESIGN.md §6).
RUN_ARG = click.argument("run", type=click.Path(path_type=str))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="predaudit")
def main() -> None:
    """Audit a classifier's saved per-epoch predictions.

    Why did test loss rise while accuracy stayed flat? predaudit splits the
    change in mean cross-entropy into correct and wrong samples and tests
    whether wrong predictions got more wrong.
    """


@main.command()
@RUN_ARG
@common_options
@handle_errors
def inspect(run: str, fmt: str, split: str | None, input_kind: str | None, quiet: bool) -> None:
    """Show what predaudit finds in RUN: splits, epochs, shapes, score kind, labels, ids."""
    from predaudit.render.inspect import RENDERERS
    from predaudit.report import InspectReport

    stats = load(run, split=split, input_kind=input_kind, quiet=quiet)
    emit(RENDERERS[OutputFormat(fmt)](InspectReport.from_run(stats)))


__all__ = ["main", "fail", "handle_errors", "OptionError"]
