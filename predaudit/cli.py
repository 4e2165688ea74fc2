"""The command line: the only module that imports click.

It parses options, calls the library, prints what the renderers return and
turns :class:`predaudit.errors.PredauditError` into one line on stderr and an
exit code (0 ok, 1 a check failed, 2 usage error, 3 input error, 4 internal error).
Commands are entries of :mod:`predaudit.registry`.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from predaudit.errors import InputError, OptionError, PredauditError
from predaudit.registry import by_name
from predaudit.render import OutputFormat
from predaudit.version import __version__

if TYPE_CHECKING:
    from predaudit.report.vocab import InputKind
    from predaudit.store import RunStats
    from predaudit.store.columns import KeepEpochs

F = TypeVar("F", bound=Callable[..., Any])

FORMAT_CHOICE = click.Choice([f.value for f in OutputFormat])
KIND_CHOICE = click.Choice(["logits", "probs", "log_probs"])

PARAM_OPTIONS = {
    "start": "--from",
    "end": "--to",
    "epoch": "--epoch",
    "diff": "--diff",
    "check": "--check",
    "out": "--out",
    "baseline": "--baseline",
    "split": "--split",
    "clip": "--clip",
    "fit_on": "--fit-on",
    "n_bins": "--bins",
    "binning": "--binning",
    "epochs": "--epochs",
    "el2n_epoch": "--el2n-epoch",
    "top": "--top",
    "output": "--output",
}
"""Library parameter names and the options that set them, for error messages."""


def _stdout_console():  # type: ignore[no-untyped-def]
    from predaudit.render.safe import SafeConsole  # no markup; control characters escaped

    width = None if sys.stdout.isatty() else columns()
    return SafeConsole(width=width, soft_wrap=False, highlight=False)


def columns() -> int:
    """``$COLUMNS`` when it is a width (a positive integer up to 10,000), else 80."""
    text = os.environ.get("COLUMNS", "").strip()
    return int(text) if text.isdigit() and 0 < int(text) <= 10_000 else 80


def _stderr_console():  # type: ignore[no-untyped-def]
    from predaudit.render.safe import SafeConsole

    return SafeConsole(stderr=True, highlight=False)


def fail(message: str, code: int) -> None:
    """Print ``Error: message`` as one line on stderr and exit with ``code``."""
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def handle_errors(fn: F) -> F:
    """Turn library errors into one stderr line and the right exit code (traceback with --debug)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        kwargs.pop("clip", None)  # read by load() from the click context (clip_option())
        debug = kwargs.pop("debug", False)
        kwargs.pop("no_cache", None)  # read by load() from the click context
        warn_unused_plot_options(kwargs)
        kwargs.pop("layout", None)  # likewise (layout_option())
        engine_name = kwargs.pop("engine", "local")  # --engine/--scheduler: where reductions run
        scheduler = kwargs.pop("scheduler", None)
        _safe_streams()
        try:
            _cache_outside_run(kwargs.get("run"), quiet=bool(kwargs.get("quiet")))
            with quiet_libraries(), reduction_engine(engine_name, scheduler, debug=debug):
                return fn(*args, **kwargs)
        except OptionError as exc:
            error: BaseException = exc
            message, code = " ".join(exc.for_option(PARAM_OPTIONS).split()), exc.exit_code
        except PredauditError as exc:
            error = exc
            message, code = " ".join(str(exc).split()), exc.exit_code
        except OSError as exc:
            error, message = exc, f"{exc.filename or 'input'}: {exc.strerror or exc}"
            code = InputError.exit_code
        except MemoryError as exc:
            error, message = exc, "out of memory while reading the run"
            code = InputError.exit_code
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except Exception as exc:  # a bug: exit 4, never 1 (which means "a check failed")
            error = exc
            message = (
                f"internal error ({type(exc).__name__}: {' '.join(str(exc).split())[:200]}); "
                "rerun with --debug and report it"
            )
            code = INTERNAL_ERROR
        if debug:  # the traceback first, then the usual line and exit code
            traceback.print_exception(error, file=sys.stderr)
        fail(message, code)

    return wrapper  # type: ignore[return-value]


INTERNAL_ERROR = 4


def _safe_streams() -> None:
    """stdout and stderr write any text: a lone surrogate in an id becomes ``\\udcxx``."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError, TypeError):  # a stream that cannot change
                pass


@contextmanager
def quiet_libraries():  # type: ignore[no-untyped-def]
    """No warning of numpy, torch or the standard library reaches stderr as an extra line:
    what predaudit has to say is in its own messages (stderr stays exactly those lines)."""
    import warnings

    import numpy as np

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


@contextmanager
def reduction_engine(name: str, scheduler: str | None, *, debug: bool):  # type: ignore[no-untyped-def]
    """The engine of ``--engine``/``--scheduler`` for the command (Dask imported only for it).
    The process's allocator keeps freed scratch memory for the next epoch (tune_allocator)."""
    from predaudit.engine.local import tune_allocator

    tune_allocator()
    if name == "local" and scheduler is None:
        yield
        return
    from predaudit import engine

    with engine.use(engine.make_engine(name, scheduler, debug=debug)):
        yield


def _cache_outside_run(run: Any, *, quiet: bool = False) -> None:
    """A cache folder inside the run would write into the data: use none for this run
    (and say so on stderr, unless ``--quiet``)."""
    if run is None:
        return
    ctx = click.get_current_context(silent=True)
    if ctx is None or ctx.params.get("no_cache"):
        return
    from predaudit.store.cache import inside

    folder = inside(run)
    if folder is not None:
        ctx.params["no_cache"] = True
        if quiet:
            return
        click.echo(
            f"Notice: the cache folder {folder} is inside the run folder {run}; "
            "the cache is not used for this run",
            err=True,
        )


def warn_unused_plot_options(options: dict[str, Any]) -> None:
    """--no-plots and --plot-format only shape what --out writes: say so when there is no --out."""
    if "out" not in options or options["out"] is not None:
        return
    unused = []
    if options.get("no_plots"):
        unused.append("--no-plots")
    if options.get("plot_format", "png") != "png":
        unused.append(f"--plot-format {options['plot_format']}")
    if unused:
        click.echo(
            f"Warning: {' and '.join(unused)} {'has' if len(unused) == 1 else 'have'} no effect "
            "without --out",
            err=True,
        )


def top_option(help: str, *, default: int = 10) -> Callable[[F], F]:
    """``--top K``: how many rows of a list a command shows (a count, 0 or more)."""
    return click.option(
        "--top",
        default=default,
        show_default=default != 0,
        type=click.IntRange(min=0),
        metavar="K",
        help=help,
    )


def out_option(help: str) -> Callable[[F], F]:
    """``--out DIR``: the folder a command also writes its files into (``help``: which)."""
    return click.option(
        "--out",
        "out",
        default=None,
        type=click.Path(file_okay=False, path_type=Path),
        help=help,
    )


def common_options(fn: F) -> F:
    fn = click.option("--debug", is_flag=True, help="Show a traceback on errors.")(fn)
    fn = click.option(
        "--clip",
        type=float,
        default=None,
        metavar="EPS",
        help="Clip probabilities to [EPS, 1 - EPS] before the log, as Keras does with 1e-7 "
        "(0 < EPS < 0.5; default: exact losses).",
    )(fn)
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
    fn = click.option(
        "--no-cache",
        is_flag=True,
        help="Neither read nor write the cache of reduced statistics.",
    )(fn)
    fn = click.option(
        "--layout",
        "layout",
        type=click.Choice(["epochs", "tokens"]),
        default=None,
        help="How [A, B, C] scores with [A, B] labels read: A epochs of B samples, or "
        "one evaluation of A sequences of B tokens.",
    )(fn)
    fn = click.option(
        "--engine",
        type=click.Choice(["local", "dask"]),
        default="local",
        show_default=True,
        help="Where the reduction runs: here, or as Dask tasks per (epoch, row chunk) "
        '(needs pip install "predaudit[dask]").',
    )(fn)
    fn = click.option(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="With --engine dask: the distributed scheduler (tcp://host:8786); default a "
        "local cluster started for the command.",
    )(fn)
    return fn


def layout_option() -> Any:
    """``--layout`` of the current command (None when not given)."""
    return click.get_current_context().params.get("layout")


PROGRESS_DELAY = 0.5
"""Seconds of work before the progress bar appears (short runs stay silent)."""


def show_progress(quiet: bool) -> bool:
    """A progress bar only on a terminal (stdout and stderr), never in CI or with --quiet."""
    return not (quiet or os.environ.get("CI") or not sys.stderr.isatty() or not sys.stdout.isatty())


@contextmanager
def progress_bar(quiet: bool):  # type: ignore[no-untyped-def]
    """A transient Rich progress bar over epochs on stderr, shown once reading has taken
    more than :data:`PROGRESS_DELAY` seconds; ``None`` (no bar) when not on a terminal."""
    if not show_progress(quiet):
        yield None
        return
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    prog = Progress(
        TextColumn("reading {task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("epochs"),
        TimeElapsedColumn(),
        console=_stderr_console(),
        transient=True,
    )
    tasks: dict[str, Any] = {}
    start = time.monotonic()

    def update(split: str, done: int, total: int) -> None:
        if split not in tasks:
            tasks[split] = prog.add_task(split, total=total)
        prog.update(tasks[split], completed=done)
        if not prog.live.is_started and time.monotonic() - start > PROGRESS_DELAY:
            prog.start()

    try:
        yield update
    finally:
        prog.stop()


def clip_option() -> float | None:
    """``--clip`` of the current command (None when not given)."""
    return click.get_current_context().params.get("clip")


def load(
    run: str,
    *,
    split: str | None,
    input_kind: str | None,
    quiet: bool,
    keep: KeepEpochs | None = None,
) -> RunStats:
    """The run's statistics; ``keep``: only those epochs' columns (of a cached entry, only
    those are checked and readable)."""
    from predaudit.store.build import load_run

    no_cache = click.get_current_context().params.get("no_cache", False)
    with progress_bar(quiet) as update:
        return load_run(
            run,
            split=split,
            input_kind=cast("InputKind | None", input_kind),
            clip=clip_option(),
            progress=update,
            use_cache=not no_cache,
            layout=layout_option(),
            keep=keep,
        )


def emit(renderable: Any) -> None:
    """Print a renderer's result on stdout: strings verbatim, Rich renderables via Rich."""
    if isinstance(renderable, str):
        click.echo(renderable, nl=not renderable.endswith("\n"))
    else:
        _stdout_console().print(renderable)


def plot_options(fn: F) -> F:
    """--plot-format and --no-plots, for the commands that draw figures with --out."""
    fn = click.option("--no-plots", is_flag=True, help="With --out, write no plots.")(fn)
    fn = click.option(
        "--plot-format",
        type=click.Choice(["png", "svg", "pdf"]),
        default="png",
        show_default=True,
        help="Format of the plots written with --out.",
    )(fn)
    return fn


# Not click.Path(exists=True): a missing run is an input error (exit 3, docs/design.md); and
# not readable=True: an unreadable run is an input error naming the file, not a usage error.
RUN_ARG = click.argument("run", type=click.Path(readable=False, path_type=str))


def epoch_pair_options(fn: F) -> F:
    """``--from`` and ``--to``: the two compared epochs (analyze, calibration, report)."""
    fn = click.option(
        "--to",
        "end",
        default=None,
        metavar="EPOCH",
        help="Compare to this epoch: a label, first, best or last (default: last).",
    )(fn)
    return click.option(
        "--from",
        "start",
        default=None,
        metavar="EPOCH",
        help="Compare from this epoch: a label, first, best or last (default: best).",
    )(fn)


class _Program(click.Group):
    """The command group. Run as the program (arguments from ``sys.argv``), it exits
    without the interpreter's teardown once all is written (:mod:`predaudit.exiting`)."""

    def main(self, args: Any = None, *rest: Any, **extra: Any) -> Any:
        if args is not None or rest or not extra.get("standalone_mode", True):
            return super().main(args, *rest, **extra)  # Click's test runner, a caller's list
        try:
            return super().main(**extra)
        except SystemExit as exc:
            from predaudit.exiting import leave

            leave(exc.code)
            raise


@click.group(cls=_Program, context_settings={"help_option_names": ["-h", "--help"]})
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
    """Show what predaudit finds in RUN: splits, epochs, shapes, score kind, labels, ids.

    \b
    Examples:
      predaudit inspect sample_data/stacked
      predaudit inspect sample_data/stacked --split test --format json
    """
    command = by_name("inspect")
    stats = load(run, split=split, input_kind=input_kind, quiet=quiet)
    emit(command.renderer_table()[OutputFormat(fmt)](command.analyze()(stats)))


__all__ = ["main", "fail", "handle_errors", "OptionError"]


def _alpha(ctx: click.Context, param: click.Parameter, value: float) -> float:
    if not 0.0 < value < 1.0:
        raise click.BadParameter("must be between 0 and 1 (exclusive)")
    return value


# -- checks for CI jobs (--check, --baseline, GITHUB_STEP_SUMMARY) --------------------------


def check_options(fn: F) -> F:
    """``--check EXPR`` (repeatable) and ``--baseline REPORT`` (see predaudit.checks)."""
    fn = click.option(
        "--baseline",
        default=None,
        type=click.Path(readable=False, path_type=str),
        metavar="REPORT",
        help="A JSON report written earlier by predaudit (or an --out folder): "
        "the values of baseline.METRIC in --check.",
    )(fn)
    fn = click.option(
        "--check",
        "check_exprs",
        multiple=True,
        metavar="EXPR",
        help="Fail (exit 1) unless [SPLIT:]METRIC OP VALUE holds; VALUE is a number, a "
        "verdict word or baseline.METRIC [+|- NUMBER] (see the examples above). Repeatable.",
    )(fn)
    return fn


def prepare_checks(
    exprs: tuple[str, ...], baseline: str | None, *, metrics: Any, schema: str
) -> tuple[list[Any], Any]:
    """Parse the check expressions (exit 2 when malformed) and read the baseline (exit 3)."""
    from predaudit.checks import load_baseline, parse_checks

    checks = parse_checks(exprs, metrics=metrics, has_baseline=baseline is not None)
    base = load_baseline(baseline, schema=schema) if baseline is not None else None
    return checks, base


def emit_checked(
    report: Any,
    fmt: OutputFormat,
    render: Callable[[OutputFormat], Any],
    results: list[Any],
    *,
    baseline: Any,
    checked: bool,
) -> None:
    """Print ``report`` in ``fmt`` with its check results, and append the Markdown summary to
    ``$GITHUB_STEP_SUMMARY`` when set.

    table: the checks table after the report; json: a top-level "checks" list (only when
    there are checks, so the report is unchanged without --check);
    markdown: status line, report, key metrics and checks; csv: stdout keeps the report's
    own table and the checks go to stderr as a CSV table of their own.
    """
    from predaudit.checks import CheckedReport
    from predaudit.render import to_json
    from predaudit.render.checks import checks_csv, checks_table, ci_markdown

    def markdown() -> str:
        body = render(OutputFormat.MARKDOWN)
        if not checked and baseline is None:
            return body
        return ci_markdown(body, report, results, baseline=baseline)

    if fmt is OutputFormat.HTML:  # one page with the checks in it; their summary on stderr
        from predaudit.render.checks import summary_line
        from predaudit.render.html import render_html

        emit(render_html(report, checks=results))
        if checked:
            click.echo(summary_line(results), err=True)
    elif fmt is OutputFormat.JSON and checked:
        emit(to_json(CheckedReport(report, results)))
    elif fmt is OutputFormat.MARKDOWN:
        emit(markdown())
    else:
        emit(render(fmt))
        if checked and fmt is OutputFormat.TABLE:
            emit(checks_table(results))
        elif checked and fmt is OutputFormat.CSV:
            click.echo(checks_csv(results), err=True, nl=False)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    refused = _summary_refused(summary) if summary else None
    if refused:
        click.echo(
            f"Warning: GITHUB_STEP_SUMMARY {summary} {refused}; summary not written", err=True
        )
    elif summary:
        try:
            with open(summary, "a", encoding="utf-8", errors="backslashreplace") as fh:
                fh.write(markdown().rstrip("\n") + "\n\n")
        except OSError as exc:
            click.echo(
                f"Warning: GITHUB_STEP_SUMMARY {summary}: {exc.strerror or exc}; "
                "summary not written",
                err=True,
            )


@main.command()
@RUN_ARG
@epoch_pair_options
@click.option(
    "--alpha",
    default=0.05,
    show_default=True,
    type=float,
    callback=_alpha,
    help="Significance level of the Wilcoxon test.",
)
@top_option("Also list the K samples whose loss rose most.", default=0)
@click.option("--all-epochs", is_flag=True, help="Every epoch in the per-epoch table.")
@click.option(
    "--no-temperature",
    is_flag=True,
    help="Fit no temperature at the compared epochs (faster: they are not read again; "
    "the temperature share is then n/a).",
)
@out_option("Also write report.json, per_sample.csv and plots into this folder.")
@plot_options
@check_options
@common_options
@handle_errors
def analyze(
    run: str,
    start: str | None,
    end: str | None,
    alpha: float,
    top: int,
    all_epochs: bool,
    no_temperature: bool,
    out: Path | None,
    plot_format: str,
    no_plots: bool,
    check_exprs: tuple[str, ...],
    baseline: str | None,
    fmt: str,
    split: str | None,
    input_kind: str | None,
    quiet: bool,
) -> None:
    """Split the change in loss into correct and wrong samples; test "wrong get more wrong".

    Compares the epoch of lowest mean loss with the last epoch (change with
    --from/--to), shows the four transition cells (correct/wrong at each epoch)
    and their exact shares of the change, and gives a verdict, with the share of the
    rise a single temperature (fitted at each compared epoch) would undo.

    \b
    Examples:
      predaudit analyze sample_data/stacked --split test --top 3
      predaudit analyze sample_data/stacked --from first --to best --format markdown
      predaudit analyze sample_data/stacked --check 'test:accuracy >= 0.9'
      predaudit analyze sample_data/stacked --check 'test:hypothesis != supported'  # exit 1
      predaudit analyze sample_data/stacked --check 'test:temperature_share < 0.5'  # exit 1
      predaudit analyze sample_data/stacked --out base --no-plots
      predaudit analyze sample_data/stacked --check 'loss <= baseline.loss + 0.02' --baseline base
    """
    from predaudit.checks import check_report
    from predaudit.output import check_out_dir

    command = by_name("analyze")
    checks, base = prepare_checks(
        check_exprs, baseline, metrics=command.metrics, schema=command.schema
    )
    if out is not None:
        check_out_dir(out, Path(run))
    from predaudit.store.columns import KeepEpochs

    # the report reads the columns of the compared epochs only (figures: every epoch)
    keep = KeepEpochs(start, end) if out is None else None
    stats = load(run, split=split, input_kind=input_kind, quiet=quiet, keep=keep)
    report = command.analyze()(
        stats, start=start, end=end, alpha=alpha, top=top, temperature=not no_temperature
    )
    results = check_report(report, checks, baseline=base)
    fmt_enum = OutputFormat(fmt)
    written: list[Path] = []
    if out is not None:
        written = write_outputs(command, report, out, no_plots, plot_format).written
    renderers = command.renderer_table()
    finish(
        report,
        fmt_enum,
        lambda f: renderers[f](report, all_epochs=all_epochs),
        results,
        base,
        checked=bool(checks),
        out=out,
        written=written,
        quiet=quiet,
    )


def finish(
    report: Any,
    fmt: OutputFormat,
    render: Callable[[OutputFormat], Any],
    results: Any,
    baseline: Any,
    *,
    checked: bool,
    out: Path | None,
    written: list[Path],
    quiet: bool,
) -> None:
    """Print the report and its checks, say where --out files went, exit 1 on a failed check."""
    from predaudit.checks import all_passed

    emit_checked(report, fmt, render, results, baseline=baseline, checked=checked)
    if out is not None and not quiet:  # a notice: stderr, so stdout holds only the report
        click.echo(f"Wrote {len(written)} files to {out}/", err=True)
    if not all_passed(results):
        sys.exit(1)


def _summary_refused(summary: str) -> str | None:
    """Why ``$GITHUB_STEP_SUMMARY`` is not appended to (inside the run, not a regular file)."""
    import stat

    from predaudit.output import leads_into

    run = click.get_current_context().params.get("run")
    path = Path(summary)
    if run is not None and leads_into(path, Path(run)):
        return f"is inside the run folder {run}"
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None  # a new file (or an error the append reports)
    if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):  # a folder: the append says so
        from predaudit.filetype import _file_type

        return f"is not a regular file ({_file_type(mode)})"
    return None


def write_outputs(command: Any, report: Any, out: Path, no_plots: bool, plot_format: str) -> Any:
    """The ``--out`` bundle of ``command`` (:func:`predaudit.bundle.write_bundle`), all or
    nothing, never leading into the run."""
    from predaudit.bundle import write_bundle

    run = click.get_current_context().params.get("run")
    return write_bundle(
        command,
        report,
        out,
        plots=not no_plots,
        plot_format=plot_format,
        run=None if run is None else Path(run),
    )


# -- predaudit confusion -------------------------------------------------------------------


def _read_class_names(path: Path, stats: Any) -> list[str]:
    """The names in ``path`` (one a line, or a JSON list), one per class of every split."""
    from predaudit.analysis.classnames import check_class_names, parse_class_names
    from predaudit.filetype import check_regular

    check_regular(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(
            path, "not UTF-8 text: expected one class name a line or a JSON list"
        ) from None
    names = parse_class_names(text, source=str(path))
    check_class_names(names, stats, source=str(path))
    return names


@main.command()
@RUN_ARG
@click.option(
    "--epoch",
    default=None,
    metavar="EPOCH",
    help="The epoch: a label, first, best or last (default: last).",
)
@click.option(
    "--diff",
    nargs=2,
    default=None,
    metavar="FROM TO",
    help="Show the change between two epochs (labels, first, best or last).",
)
@click.option(
    "--normalize",
    type=click.Choice(["none", "true", "pred", "all"]),
    default="none",
    show_default=True,
    help="Matrix values in json/csv: counts, or fractions of the true class (rows), of the "
    "predicted class (columns) or of all samples. The table shows each count with that "
    "percentage (row % for none).",
)
@click.option(
    "--class-names",
    type=click.Path(exists=True, dir_okay=False, readable=False, path_type=Path),
    default=None,
    help="A file of class names: one a line, or a JSON list.",
)
@top_option("How many confused pairs (and grown/shrunk confusions) to list.")
@out_option(
    "Also write confusion.json, confusion_matrix.csv (with --diff also "
    "confusion_matrix_diff.csv; over 2000 classes confusion_cells.csv, one nonzero cell a "
    "row) and confusion.png into this folder; a sub-folder per split when several."
)
@plot_options
@check_options
@common_options
@handle_errors
def confusion(
    run: str,
    epoch: str | None,
    diff: tuple[str, str] | None,
    normalize: str,
    class_names: Path | None,
    top: int,
    out: Path | None,
    plot_format: str,
    no_plots: bool,
    check_exprs: tuple[str, ...],
    baseline: str | None,
    fmt: str,
    split: str | None,
    input_kind: str | None,
    quiet: bool,
) -> None:
    """Confusion matrix, per-class precision/recall/F1 and loss, top confused pairs.

    Rows are the true class, columns the predicted class; samples labelled -100
    are left out. Precision, recall and F1 are scikit-learn's with
    zero_division=0. Each class's "contribution" is its share of the mean loss
    (they sum to it). Over 20 classes the matrix is not drawn: get it with
    --format csv or --out.

    With --diff FROM TO: the change in the matrix, the confusions that grew and
    shrank most, and the change in mean loss split by true class.

    A run with several splits is shown split by split; --format json then prints
    {"schema", "run", "splits": {NAME: {"split", "epoch", ...}}} (the same shape as
    for one split), and --format csv needs --split.

    \b
    Examples:
      predaudit confusion sample_data/stacked --split test
      predaudit confusion sample_data/stacked --split test --diff best last
      predaudit confusion sample_data/stacked --check 'test:macro_f1 >= 0.9'
      predaudit confusion sample_data/stacked --check 'min_recall >= 0.99'  # exit 1
    """
    from predaudit.checks import check_report
    from predaudit.output import check_out_dir

    command = by_name("confusion")
    if diff is not None and epoch is not None:
        raise click.UsageError("--epoch and --diff cannot be used together")
    checks, base = prepare_checks(
        check_exprs, baseline, metrics=command.metrics, schema=command.schema
    )
    if out is not None:
        check_out_dir(out, Path(run))
    fmt_enum = OutputFormat(fmt)
    if fmt_enum is OutputFormat.CSV and split is None:
        from predaudit.io.discover import discover

        split_names = list(discover(run).splits)
        if len(split_names) > 1:
            raise OptionError(
                f"--format csv prints the matrix of one split; {run} has splits "
                f"{', '.join(split_names)}: choose one with --split"
            )
    stats = load(run, split=split, input_kind=input_kind, quiet=quiet)
    names: list[str] | None = None
    if class_names is not None:
        names = _read_class_names(class_names, stats)
    report = command.analyze()(
        stats,
        epoch=epoch or "last",
        diff=diff,
        normalize=normalize,
        class_names=names,
        top=top,
    )
    results = check_report(report, checks, baseline=base)
    written: list[Path] = []
    csv_paths: dict[str, str] = {}
    if out is not None:
        bundle = write_outputs(command, report, out, no_plots, plot_format)
        written = bundle.written
        for name, paths in bundle.paths.items():  # the CSV of the matrix the table shows
            shown = paths.get("matrix_diff", paths.get("matrix"))
            if shown is not None:
                csv_paths[name] = str(shown)
    renderers = command.renderer_table()
    finish(
        report,
        fmt_enum,
        lambda f: renderers[f](report, csv_paths=csv_paths),
        results,
        base,
        checked=bool(checks),
        out=out,
        written=written,
        quiet=quiet,
    )


# -- predaudit calibration -----------------------------------------------------------------


def _load_calibrated(
    run: str, *, split: str | None, input_kind: str | None, quiet: bool, fit_on: str | None
) -> tuple[RunStats, str | None]:
    """The run with per-epoch temperatures: fitted on each split, or on split ``fit_on``."""
    from predaudit.analysis.calibration import fit_on_temperatures
    from predaudit.io.discover import discover
    from predaudit.store import RunStats as Run
    from predaudit.store.build import load_run as read_run

    load_run = functools.partial(read_run, clip=clip_option())  # every read takes --clip
    no_cache = click.get_current_context().params.get("no_cache", False)
    kind = cast("InputKind | None", input_kind)
    with progress_bar(quiet) as update:
        if fit_on is None:
            stats = load_run(
                run, split=split, input_kind=kind, progress=update, use_cache=not no_cache,
                layout=layout_option(),
                calibration=True,
            )  # fmt: skip
            return stats, None
        names = list(discover(run).splits)
        if fit_on not in names:
            raise OptionError(
                f"no split named '{fit_on}' in {run} (splits: {', '.join(names)})",
                param="fit_on",
                value=fit_on,
            )
        fit = load_run(
            run, split=fit_on, input_kind=kind, progress=update, use_cache=not no_cache,
            layout=layout_option(),
            calibration=True,
        ).splits[fit_on]  # fmt: skip
        out = Run(path=run)
        for name in [split] if split is not None else [n for n in names if n != fit_on]:
            epochs = load_run(
                run, split=name, input_kind=kind, use_cache=not no_cache, layout=layout_option()
            )
            temps = fit_on_temperatures(fit, epochs.splits[name].epochs, target=name)
            out.splits[name] = load_run(
                run, split=name, input_kind=kind, progress=update, use_cache=not no_cache,
                layout=layout_option(),
                calibration=temps,
            ).splits[name]  # fmt: skip
        if not out.splits:
            raise OptionError(
                f"split '{fit_on}' is the only split of {run}: nothing to apply it to",
                param="fit_on",
                value=fit_on,
            )
        out.path = run
        return out, fit_on


@main.command()
@RUN_ARG
@epoch_pair_options
@click.option("--bins", "n_bins", default=15, show_default=True, type=int, help="Number of bins.")
@click.option(
    "--binning",
    type=click.Choice(["uniform", "quantile"]),
    default="uniform",
    show_default=True,
    help="Equal-width or equal-mass bins.",
)
@click.option(
    "--fit-on",
    "fit_on",
    default=None,
    metavar="SPLIT",
    help="Fit the temperature of each epoch on this split (e.g. val) and apply it to the "
    "analysed split(s) (default: fitted on the analysed split itself, a diagnosis).",
)
@out_option(
    "Also write calibration.json, calibration_per_epoch.csv, reliability diagrams "
    "and the temperature plot into this folder."
)
@plot_options
@check_options
@common_options
@handle_errors
def calibration(
    run: str,
    start: str | None,
    end: str | None,
    n_bins: int,
    binning: str,
    fit_on: str | None,
    out: Path | None,
    plot_format: str,
    no_plots: bool,
    check_exprs: tuple[str, ...],
    baseline: str | None,
    fmt: str,
    split: str | None,
    input_kind: str | None,
    quiet: bool,
) -> None:
    """Calibration per epoch (ECE, MCE, RMSCE, smECE, Brier, NLL, temperature) and how much
    of a loss rise a single temperature would undo.

    Between the compared epochs: ΔL = Δ(loss at T*) + Δ(calibration gap), with
    the temperature share Δgap/ΔL, in total and per transition cell. Without
    --fit-on the temperature is fitted on the analysed split itself: a
    diagnosis, not a deployable calibration.

    \b
    Examples:
      predaudit calibration sample_data/stacked --split test
      predaudit calibration sample_data/stacked --split test --binning quantile --bins 10
      predaudit calibration sample_data/stacked --check 'temperature_share < 0.5'  # exit 1
    """
    from predaudit.analysis.calibration import check_bins
    from predaudit.checks import check_report
    from predaudit.output import check_out_dir

    command = by_name("calibration")
    check_bins(n_bins, binning)
    if fit_on is not None and split is not None and fit_on == split:
        raise OptionError(
            "is the analysed split; fit on another split (e.g. val)", param="fit_on", value=fit_on
        )
    checks, base = prepare_checks(
        check_exprs, baseline, metrics=command.metrics, schema=command.schema
    )
    if out is not None:
        check_out_dir(out, Path(run))
    stats, fitted_on = _load_calibrated(
        run, split=split, input_kind=input_kind, quiet=quiet, fit_on=fit_on
    )
    report = command.analyze()(
        stats, start=start, end=end, n_bins=n_bins, binning=binning, fitted_on=fitted_on
    )
    results = check_report(report, checks, baseline=base)
    fmt_enum = OutputFormat(fmt)
    written: list[Path] = []
    if out is not None:
        written = write_outputs(command, report, out, no_plots, plot_format).written
    renderers = command.renderer_table()
    finish(
        report,
        fmt_enum,
        lambda f: renderers[f](report),
        results,
        base,
        checked=bool(checks),
        out=out,
        written=written,
        quiet=quiet,
    )


# -- end of predaudit calibration ----------------------------------------------------------


# -- predaudit report ----------------------------------------------------------------------


@main.command()
@RUN_ARG
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The HTML file to write: one self-contained page that works offline.",
)
@epoch_pair_options
@top_option("How many samples whose loss rose most to list.")
@click.option(
    "--check",
    "check_exprs",
    multiple=True,
    metavar="EXPR",
    help="As analyze --check: the page shows the result; exit 1 (after writing the page) "
    "unless [SPLIT:]METRIC OP VALUE holds. Repeatable.",
)
@click.option("--split", "split", default=None, help="Only this split.")
@click.option(
    "--input-kind",
    type=KIND_CHOICE,
    default=None,
    help="What the scores are (default: detected from the data).",
)
@click.option(
    "--clip",
    type=float,
    default=None,
    metavar="EPS",
    help="Clip probabilities to [EPS, 1 - EPS] before the log (default: exact losses).",
)
@click.option(
    "--layout",
    "layout",
    type=click.Choice(["epochs", "tokens"]),
    default=None,
    help="How [A, B, C] scores with [A, B] labels read (as for every command).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or notices.")
@click.option(
    "--no-cache", is_flag=True, help="Neither read nor write the cache of reduced statistics."
)
@click.option("--debug", is_flag=True, help="Show a traceback on errors.")
@handle_errors
def report(
    run: str,
    output: Path,
    start: str | None,
    end: str | None,
    top: int,
    check_exprs: tuple[str, ...],
    split: str | None,
    input_kind: str | None,
    quiet: bool,
) -> None:
    """Write one self-contained HTML page about RUN: the verdict first, then why.

    Per split: the question and the verdict in plain words, loss and accuracy per
    epoch, the loss split, the transition cells, calibration (the temperature share,
    reliability diagrams), the data map and the samples behind the rise, and the
    confusion matrix and its change; then the --check results. Figures are inline
    SVG; the page fetches nothing. HTML only: there is no JSON form (and no schema).

    \b
    Examples:
      predaudit report sample_data/stacked -o report.html
      predaudit report sample_data/stacked -o report.html --split test --top 5 -q
      predaudit report sample_data/stacked -o r.html --check 'hypothesis != supported'  # exit 1
    """
    import dataclasses

    from predaudit.checks import all_passed, check_report
    from predaudit.output import check_out_dir, write_atomic
    from predaudit.page import build_page
    from predaudit.render.html import page_html
    from predaudit.store.build import load_run

    command = by_name("analyze")
    checks, _ = prepare_checks(check_exprs, None, metrics=command.metrics, schema=command.schema)
    try:
        check_out_dir(output.parent, Path(run))
    except OptionError:
        raise OptionError(
            f"is inside the input run folder {run}; predaudit never writes there: "
            "choose another file",
            param="output",
            value=str(output),
            joiner=" ",
        ) from None
    no_cache = click.get_current_context().params.get("no_cache", False)
    with progress_bar(quiet) as update:
        stats = load_run(
            run,
            split=split,
            input_kind=cast("InputKind | None", input_kind),
            progress=update,
            use_cache=not no_cache,
            calibration=True,
            clip=clip_option(),
            layout=layout_option(),
        )
    page, analyzed = build_page(stats, start=start, end=end, top=top)
    results = check_report(analyzed, checks)
    text = page_html(dataclasses.replace(page, checks=results))
    write_atomic(output, text)
    if not quiet:
        size = len(text.encode("utf-8"))
        click.echo(f"Wrote {output} ({size / 1024:,.0f} KB)", err=True)
    if not all_passed(results):
        sys.exit(1)


# -- end of predaudit report ---------------------------------------------------------------


# -- predaudit dynamics --------------------------------------------------------------------


def _export_cartography(stats: Any, report: Any, run: Path, folder: Path) -> list[Path]:
    """``dynamics --export cartography DIR``: per split (a sub-folder when several)."""
    from predaudit.bundle import split_folder
    from predaudit.store.cartography import export_cartography

    several = len(report.splits) > 1
    written: list[Path] = []
    for name, split in report.splits.items():
        dest = split_folder(folder, name, several=several)
        written += export_cartography(stats.splits[name], split, dest)
    return written


def _load_with_brier(
    run: str, *, split: str | None, input_kind: str | None, quiet: bool
) -> RunStats:
    """The run with the Brier score per sample (EL2N), at temperature 1.

    The Brier score is taken at T = 1, so no temperature is fitted: each split is
    read once to learn its epochs (a cache hit when read before) and again with
    ``calibration=[1.0] * n_epochs``, which is much faster than fitting one.
    """
    from predaudit.store import RunStats as Run
    from predaudit.store.build import load_run

    no_cache = click.get_current_context().params.get("no_cache", False)
    options: dict[str, Any] = {
        "input_kind": cast("InputKind | None", input_kind),
        "use_cache": not no_cache,
        "clip": clip_option(),
        "layout": layout_option(),
    }
    with progress_bar(quiet) as update:
        plain = load_run(run, split=split, progress=update, **options)
        out = Run(path=plain.path)
        for name, s in plain.splits.items():
            ones = [1.0] * len(s.epochs)
            out.splits[name] = load_run(run, split=name, calibration=ones, **options).splits[name]
    return out


@main.command()
@RUN_ARG
@click.option(
    "--epochs",
    "epochs",
    default=None,
    metavar="FROM:TO",
    help="Only the epochs whose labels are in FROM..TO (inclusive; either side may be left "
    "out, e.g. 5: or :20). Default: every epoch.",
)
@click.option(
    "--el2n-epoch",
    "el2n_epoch",
    default=None,
    type=int,
    metavar="EPOCH",
    help="The epoch label of EL2N, sqrt(Brier score) (default: the first epoch of the range).",
)
@top_option("How many of the most ambiguous, hardest and likely mislabeled samples to list.")
@out_option(
    "Also write dynamics.json, dynamics.csv (every sample; also dynamics.parquet "
    "when pyarrow is installed), data_map.png, "
    "forgetting_events.png and loss_trajectories.png into this folder; a sub-folder "
    "per split when several."
)
@click.option(
    "--export",
    "export",
    nargs=2,
    default=None,
    metavar="cartography DIR",
    type=(click.Choice(["cartography"]), click.Path(file_okay=False, path_type=Path)),
    help="Write the logits in Dataset Cartography's format into DIR: "
    "training_dynamics/dynamics_epoch_N.jsonl (N = 0, 1, ... over the range) and "
    "td_metrics.jsonl; a sub-folder per split when several. Logits only.",
)
@plot_options
@check_options
@common_options
@handle_errors
def dynamics(
    run: str,
    epochs: str | None,
    el2n_epoch: int | None,
    top: int,
    out: Path | None,
    export: tuple[str, Path] | None,
    plot_format: str,
    no_plots: bool,
    check_exprs: tuple[str, ...],
    baseline: str | None,
    fmt: str,
    split: str | None,
    input_kind: str | None,
    quiet: bool,
) -> None:
    """Per-sample training dynamics: data map, forgetting events, likely label problems.

    For every sample, over the epochs: confidence and variability (mean and std, ddof 0,
    of the true-class probability; Dataset Cartography), correctness, forgetting events
    (correct -> wrong changes), the first epoch learned, AUM (mean logit margin; logits
    only) and EL2N (sqrt of the Brier score at one epoch). Samples fall into the
    easy-to-learn, ambiguous and hard-to-learn regions of the data map (quantile
    thresholds, 33% each). The samples must be aligned across epochs: save sample ids.

    Likely label problems are samples predicted as one other class at most epochs; they
    may be mislabeled or genuinely hard — inspect them. --format csv prints every sample.

    \b
    Examples:
      predaudit dynamics sample_data/stacked --split test --top 5
      predaudit dynamics sample_data/stacked --split test --epochs 5:20 --el2n-epoch 10
      predaudit dynamics sample_data/stacked --split test --format csv
      predaudit dynamics sample_data/stacked --out dyn --check 'test:n_label_problems <= 10'
    """
    from predaudit.checks import check_report
    from predaudit.output import check_out_dir

    command = by_name("dynamics")
    checks, base = prepare_checks(
        check_exprs, baseline, metrics=command.metrics, schema=command.schema
    )
    if out is not None:
        check_out_dir(out, Path(run))
    if export is not None:
        check_out_dir(export[1], Path(run))
    stats = _load_with_brier(run, split=split, input_kind=input_kind, quiet=quiet)
    if export is not None:
        from predaudit.store.cartography import check_exportable

        for s in stats.splits.values():
            check_exportable(s)
    report = command.analyze()(stats, epochs=epochs, el2n_epoch=el2n_epoch, top=top)
    results = check_report(report, checks, baseline=base)
    written: list[Path] = []
    if out is not None:
        written = write_outputs(command, report, out, no_plots, plot_format).written
    if export is not None:
        written += _export_cartography(stats, report, Path(run), export[1])
    renderers = command.renderer_table()
    finish(
        report,
        OutputFormat(fmt),
        lambda f: renderers[f](report),
        results,
        base,
        checked=bool(checks),
        out=out,
        written=written,
        quiet=quiet,
    )


# -- end of predaudit dynamics -------------------------------------------------------------


@main.group()
def cache() -> None:
    """The cache of reduced per-sample statistics ($XDG_CACHE_HOME/predaudit)."""


@cache.command("info")
@handle_errors
def cache_info() -> None:
    """Where the cache is, how large, and which runs its entries come from.

    Example: predaudit cache info
    """
    from predaudit.render.safe import one_line as plain
    from predaudit.store import cache as cache_mod
    from predaudit.text import human_bytes

    items = cache_mod.entries()
    total = sum(e.size for e in items)
    noun = "entry" if len(items) == 1 else "entries"
    click.echo(f"Cache folder: {plain(str(cache_mod.cache_dir()))}")
    click.echo(f"{len(items)} {noun}, {human_bytes(total)}")
    for e in items[:_CACHE_LISTED]:
        click.echo(f"  {human_bytes(e.size):>9}  {plain(e.split)}: {plain(e.source)}")
    if len(items) > _CACHE_LISTED:
        click.echo(f"  … and {len(items) - _CACHE_LISTED} more")


_CACHE_LISTED = 20


@cache.command("clear")
@handle_errors
def cache_clear() -> None:
    """Delete every cache entry (only files predaudit verifies as its own entries)."""
    from predaudit.store import cache as cache_mod

    n = cache_mod.clear()
    click.echo(f"Removed {n} cache {'entry' if n == 1 else 'entries'} from {cache_mod.cache_dir()}")
