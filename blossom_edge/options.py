"""Argument and option types declared once and shared by every command.

Each is an `Annotated` alias, the way huggingface_hub's CLI does it, so that `--json`
or `--threads` reads and behaves the same in every command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout, nothing else.")]
OutputFileOpt = Annotated[
    Path | None, typer.Option("--output", "-o", help="Output file (default: named after the model).")
]
OutputDirOpt = Annotated[
    Path | None, typer.Option("--output-dir", "-o", help="Directory for the outputs (default: current).")
]
ThreadsOpt = Annotated[
    int | None, typer.Option("--threads", "-t", min=1, help="CPU threads (default: the performance cores).")
]
SourceArg = Annotated[
    str,
    typer.Argument(
        help="A catalog alias (4b, 9b, 14b, 34b, …), a Hugging Face repo id (org/name[@revision]) "
        "or a local checkpoint directory.",
        show_default=False,
    ),
]
