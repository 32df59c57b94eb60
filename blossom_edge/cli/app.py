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

from blossom_edge import __version__
from blossom_edge.cli.commands import register_all

app = typer.Typer(
    name="blossom-edge",
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

    Typer handles usage errors itself (message and exit code 2); everything a command
    raises comes here and is looked up in the error table.
    """
    from blossom_edge.base.errors import excerpt, one_line
    from blossom_edge.base.signals import signals_as_interrupts

    try:
        with signals_as_interrupts():
            app(args=argv, prog_name="blossom-edge", standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException as exc:  # the one place that decides how failures look
        known = one_line(exc)
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
        print(f"blossom-edge: error: {message}", file=sys.stderr)
        return code
    return 0
