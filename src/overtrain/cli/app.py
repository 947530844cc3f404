"""The command line's frame: the typer app, one-line errors and Ctrl-C, progress on stderr, JSON on stdout."""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
import typer.core
from rich.console import Console

from overtrain._version import __version__
from overtrain.errors import OvertrainError
from overtrain.interrupts import checkpoint, interrupted, listen
from overtrain.names import ENSEMBLE, ERROR_LAW_NAMES, LOSS_LAW_NAMES

if TYPE_CHECKING:
    pass


# Every command imports the machinery it needs when it runs: `overtrain --help` loads typer, rich and numpy only.

def _version(value: bool) -> None:
    if value:
        print(__version__)
        raise typer.Exit()


#: click's exceptions, wherever this typer takes click from (its own copy since typer 0.2x, else the click package)
_CLICK_ERRORS = sys.modules[typer.BadParameter.__module__]


class OneLineErrors(typer.core.TyperGroup):
    """The command group: a usage error (unknown option, missing or bad value, extra argument, unknown command) is
    one line on stderr and exit code 2, like every other error, not click's box with the usage."""

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        with _usage_errors_in_one_line():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: Any) -> Any:
        with _usage_errors_in_one_line(ctx):
            return super().invoke(ctx)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name, command, rest = super().resolve_command(ctx, args)
        ctx.meta["overtrain.command"] = name  # for the errors click raises without the command's context
        return name, command, rest


@contextlib.contextmanager
def _usage_errors_in_one_line(group: Any = None) -> Iterator[None]:
    try:
        yield
    except _CLICK_ERRORS.UsageError as error:
        named = group.meta.get("overtrain.command") if group is not None else None
        print(f"overtrain: error: {usage_message(error, named)}", file=sys.stderr)
        raise typer.Exit(2) from None


def usage_message(error: Any, command: str | None = None) -> str:
    """A click usage error as one line in overtrain's words, led by the command it is about: `forecast: no such
    option --colum (did you mean --column?)`."""
    import difflib
    import re

    ctx = error.ctx
    if isinstance(error, _CLICK_ERRORS.NoSuchOption):
        dashes = "--" if error.option_name.startswith("--") else "-"
        shown = [name for param in (ctx.command.get_params(ctx) if ctx else []) if not getattr(param, "hidden", False)
                 for name in param.opts if name.startswith(dashes) and name[len(dashes)] != "-"]
        near = difflib.get_close_matches(error.option_name, shown, n=1)
        message = f"no such option {error.option_name}" + (f" (did you mean {near[0]}?)" if near else "")
    elif isinstance(error, _CLICK_ERRORS.BadOptionUsage) and "requires an argument" in error.message:
        message = f"{error.option_name} needs a value"
    else:
        text = re.sub(r"'(--?[\w-]+)'", r"\1", " ".join(error.format_message().split()))
        text = text.removeprefix("Got ").rstrip(".")
        message = "; ".join(part[:1].lower() + part[1:] for part in text.split(". "))
    if ctx is not None:
        command = ctx.info_name if ctx.parent is not None else None
    return f"{command}: {message}" if command else message


app = typer.Typer(
    name="overtrain",
    help="Forecast the loss and downstream error of a large training run from cheap small runs.",
    cls=OneLineErrors,
    pretty_exceptions_enable=False,
    add_completion=False,
)


console = Console()
#: Warnings and notes about the output, on stderr: stdout holds only the tables (or the JSON document).
errors_console = Console(stderr=True)


def warn(message: str) -> None:
    """One warning on stderr (in --json, warnings are in the document instead)."""
    errors_console.print(f"[yellow]warning:[/] {message}", highlight=False)


F = TypeVar("F", bound=Callable[..., Any])


@app.callback(invoke_without_command=True)
def _main(ctx: typer.Context, version: Annotated[bool, typer.Option(
        "--version", help="Print the version and exit.", callback=_version, is_eager=True, metavar="")] = False,
) -> None:
    """Forecast the loss and downstream error of a large training run from cheap small runs."""
    if ctx.invoked_subcommand is None:  # bare `overtrain`: the help, as --help prints it, and success
        typer.echo(ctx.get_help(), color=ctx.color)
        raise typer.Exit()


def reports_errors(command: F) -> F:
    """Turn an OvertrainError into one line on stderr and exit code 2, Ctrl-C into "interrupted" and exit code 130;
    never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            _check_names(kwargs)
            result = command(*args, **kwargs)
            checkpoint()
            return result
        except OvertrainError as error:
            print(f"overtrain: error: {error}", file=sys.stderr)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            print("overtrain: interrupted", file=sys.stderr)
            raise typer.Exit(130) from None
        except Exception as error:
            if not interrupted(error):
                raise
            print("overtrain: interrupted", file=sys.stderr)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _check_names(options: dict[str, Any]) -> None:
    """Laws and fit-set presets named on the command line exist, before any work: a misspelling is one line with the
    names known and the nearest, not an error about the first family fitted."""
    import difflib

    def unknown(what: str, name: str, known: list[str], more: str = "", where: str = "") -> OvertrainError:
        near = difflib.get_close_matches(name, known, n=1)
        return OvertrainError(f"unknown {what} {name!r}{where} (known: {', '.join(known)}{more})"
                              + (f"; did you mean {near[0]!r}?" if near else ""))

    law = options.get("law")
    if isinstance(law, str) and law not in (*LOSS_LAW_NAMES, "auto"):
        raise unknown("loss law", law, [*LOSS_LAW_NAMES, "auto"])
    error_law = options.get("error_law")
    if isinstance(error_law, str) and error_law not in (*ERROR_LAW_NAMES, ENSEMBLE):
        raise unknown("error law", error_law, [*ERROR_LAW_NAMES, ENSEMBLE])
    for option in ("fit_loss", "fit_error"):
        spec = options.get(option)
        if isinstance(spec, str) and not any(op in spec for op in "=<>"):
            from overtrain.runs.fitsets import CHEAP_SUFFIX, PRESETS

            base = spec.removesuffix(CHEAP_SUFFIX)
            if base not in PRESETS:
                raise unknown("fit-set preset", base, list(PRESETS), "; or a filter like params<=4e8",
                              f" for --{option.replace('_', '-')}")


@contextlib.contextmanager
def working(description: str, total: int | None = None) -> Iterator[Callable[[str], None]]:
    """A progress display on stderr for work that may take seconds: yields `step(name)`, which names the step
    under way (and advances the bar when `total` is known). Nothing is drawn when stderr is not a terminal."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    if not console.is_terminal:  # rich would still end its display with a blank line
        yield lambda name: checkpoint()
        return
    columns = [SpinnerColumn(), TimeElapsedColumn(), BarColumn(bar_width=16), TextColumn("{task.description}")]
    if total is not None:
        columns.insert(3, TextColumn("{task.completed}/{task.total}"))
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(description, total=total)

        def step(name: str) -> None:
            checkpoint()
            progress.update(task, description=name, advance=1 if total is not None else 0)

        yield step


def print_json(document: Any) -> None:
    """One JSON document on stdout; a number that does not exist (NaN: e.g. an error score of runs without
    tasks) is null."""
    sys.stdout.write(json.dumps(_finite(document), indent=2, allow_nan=False) + "\n")


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def main() -> None:
    """Console-script entry point; Ctrl-C before a command's own handling starts (while typer parses) exits as it
    does within one: 130, one line. An interrupted process leaves at once once its files are cleaned up: the
    interpreter's shutdown would wait on (or abort over) the threads of a worker pool the interruption cut short."""
    listen()
    try:
        app()
    except KeyboardInterrupt:
        print("overtrain: interrupted", file=sys.stderr)
        _leave(130)
    except SystemExit as leaving:
        if leaving.code == 130:
            _leave(130)
        raise
    except Exception as error:
        if not interrupted(error):
            raise
        print("overtrain: interrupted", file=sys.stderr)
        _leave(130)


def _leave(code: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
