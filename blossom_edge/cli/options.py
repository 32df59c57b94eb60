"""Argument and option types declared once and shared by every command.

Each is an `Annotated` alias, the way huggingface_hub's CLI does it, so that `--json`
or `--threads` reads and behaves the same in every command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from blossom_edge.device.threads import ALL_CORES_HELP, PERFORMANCE_CORES_HELP

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout, nothing else.")]
OutputFileOpt = Annotated[
    Path | None, typer.Option("--output", "-o", help="Output file (default: named after the model).")
]
OutputDirOpt = Annotated[
    Path | None, typer.Option("--output-dir", "-o", help="Directory for the outputs (default: current).")
]
# One option per meaning of the default (see threads.py), so the help says what really happens.
InferenceThreadsOpt = Annotated[
    int | None, typer.Option("--threads", "-t", min=1, help=f"CPU threads (default: {PERFORMANCE_CORES_HELP}).")
]
QuantizeThreadsOpt = Annotated[
    int | None, typer.Option("--threads", "-t", min=1, help=f"CPU threads (default: {ALL_CORES_HELP}).")
]
SourceArg = Annotated[
    str,
    typer.Argument(
        help="A catalog alias (4b, 9b, 14b, 34b, …), a Hugging Face repo id (org/name[@revision]) "
        "or a local checkpoint directory.",
        show_default=False,
    ),
]

# The Modelfile options `modelfile` and `ollama create` share.
GpuOpt = Annotated[
    bool,
    typer.Option("--gpu", help="Keep every layer on the GPU (PARAMETER num_gpu 999); on Android this needs "
                               "Termux's Vulkan backend."),
]
CtxOpt = Annotated[
    int | None, typer.Option("--ctx", min=1, help="Context size num_ctx (default: the model's context, at most "
                                                 "4096; never past the model's context).")
]
SystemOpt = Annotated[str | None, typer.Option("--system", help="System prompt (default: Blossom's own).")]
ModelOpt = Annotated[
    str | None,
    typer.Option("--model", "-m", help="Which Blossom release a GGUF is, when its file name does not say."),
]
MmprojOpt = Annotated[
    Path | None,
    typer.Option("--mmproj", help="The vision projector GGUF of a multimodal model, written as the second FROM "
                                  "(default: the mmproj-*.gguf quantize or convert wrote beside the model)."),
]
