"""The `blossom-edge` command line: a thin typer app.

Usage:
    blossom-edge demo                      # offline end-to-end run on a built-in tiny model
    blossom-edge models                    # the Blossom family and its aliases
    blossom-edge convert 4b                # Hugging Face checkpoint -> GGUF
    blossom-edge quantize 4b q4_k_m        # ... -> verified quantized GGUF

Each command lives in `blossom_edge/cli/commands/<name>.py` and only parses, calls one
function of a library module and renders. Heavy imports (numpy, gguf, llama_cpp) happen
inside the command bodies so that `--help` stays fast on a phone.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
from typer.core import TyperGroup

from blossom_edge import __version__
from blossom_edge.cli.commands import register_all


class _Group(TyperGroup):
    """The root group, as typer's, except that no flag shows a value placeholder in `--help`.

    typer lists `--json <bool>`, `--force <bool>`, `--help <bool>` as if the flags took a value;
    an empty metavar leaves their type column blank. Every command passes through `get_command`
    before its help or its parsing, so each is fixed there once, with its help option.
    """

    def get_params(self, ctx):
        return _without_flag_metavars(super().get_params(ctx))

    def get_command(self, ctx, cmd_name):
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _without_flag_metavars([*command.params, command.get_help_option(ctx)])
        return command


def _without_flag_metavars(params: list) -> list:
    for param in params:
        if param is not None and getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    return params


app = typer.Typer(
    name="blossom-edge",
    cls=_Group,
    help="Blossom chat models from a Hugging Face checkpoint to GGUF, Ollama and your device.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"blossom-edge {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit."),
    ] = None,
) -> None:
    """Blossom chat models from a Hugging Face checkpoint to GGUF, Ollama and your device.

    Start with `blossom-edge demo` (offline, about a minute), then
    `blossom-edge quantize 4b q4_k_m`.
    """


register_all(app)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and turn every failure a user can cause into one line and an exit code.

    Typer runs with standalone_mode=False so that its own usage errors (a bad option value, an
    unknown option, a missing argument) come here too and read like every other error, one
    line, instead of typer's usage line, hint and boxed message; everything a command raises is
    looked up in the error table.
    """
    from blossom_edge.base.errors import excerpt, one_line
    from blossom_edge.base.signals import signals_as_interrupts

    try:
        with signals_as_interrupts():
            code = app(args=argv, prog_name="blossom-edge", standalone_mode=False)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except typer.Abort:
        print("blossom-edge: aborted", file=sys.stderr)
        return 1
    except BaseException as exc:  # the one place that decides how failures look
        known = one_line(exc) or _usage_error(exc)
        if known is None:
            if os.environ.get("BLOSSOM_EDGE_DEBUG"):
                raise
            print(
                f"blossom-edge: internal error: {type(exc).__name__}: {excerpt(str(exc))} "
                "(run again with BLOSSOM_EDGE_DEBUG=1 for the traceback and report it)",
                file=sys.stderr,
            )
            return 70
        message, code = known
        if message:
            print(f"blossom-edge: error: {message}", file=sys.stderr)
        return code
    # Without standalone mode typer returns typer.Exit's code, or the command's value (None).
    return code if isinstance(code, int) else 0


def _usage_error(exc: BaseException) -> tuple[str, int] | None:
    """Typer's own usage errors as (one line, exit code), or None for anything else.

    They are click's exceptions, which typer vendors privately; the public `typer.TyperException`
    is their root, and `format_message` and `exit_code` are what each of them has.
    """
    if not isinstance(exc, typer.TyperException) or not hasattr(exc, "format_message"):
        return None
    if type(exc).__name__ == "NoArgsIsHelpError":  # its message is the help, already shown
        return "", exc.exit_code
    ctx = getattr(exc, "ctx", None)
    hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
    return " ".join(exc.format_message().split()) + hint, exc.exit_code
