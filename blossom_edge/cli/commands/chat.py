"""`blossom-edge chat`: talk to a GGUF in the terminal, prompted by its own chat template.

Examples:
    blossom-edge chat blossom-v5-4b-Q4_K_M.gguf
    blossom-edge chat 4b --system "Answer in one sentence."
    blossom-edge chat 4b --prompt "你好" --json
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from blossom_edge.cli.options import InferenceThreadsOpt, JsonOpt


def chat(
    model: Annotated[str, typer.Argument(help="A GGUF file, or a catalog alias whose file `quantize` wrote here.",
                                         metavar="MODEL.gguf|ALIAS", show_default=False)],
    system: Annotated[str | None, typer.Option("--system", help="System message (default: the template's own).")] = None,
    prompt: Annotated[str | None, typer.Option("--prompt", "-p", help="Answer this once and exit (for scripts).")] = None,
    json_output: JsonOpt = False,
    temperature: Annotated[float | None, typer.Option("--temperature", min=0.0, help="Sampling temperature.")] = None,
    top_p: Annotated[float | None, typer.Option("--top-p", min=0.0, max=1.0, help="Nucleus sampling mass.")] = None,
    top_k: Annotated[int | None, typer.Option("--top-k", min=0, help="Sample from the k likeliest tokens (0: all).")] = None,
    repeat_penalty: Annotated[float | None, typer.Option("--repeat-penalty", min=0.0,
                                                          help="Penalty for repeated tokens (1: none).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", min=0, help="Sampling seed (default: random).")] = None,
    ctx: Annotated[int | None, typer.Option("--ctx", min=16, help="Context size in tokens (default: the published "
                                                                   "num_ctx, else the model's, at most 4096).")] = None,
    threads: InferenceThreadsOpt = None,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", min=1,
                                                   help="Most tokens per answer (default: until the model stops).")] = None,
    debug_prompt: Annotated[Path | None, typer.Option("--debug-prompt", hidden=True,
                                                      help="Append each prompt's text and tokens as JSON lines.")] = None,
) -> None:
    """Chat with a model in the terminal: streamed answers, history trimmed to the context, tokens/s.

    /reset clears the history, /exit or Ctrl-D ends the chat. Sampling: flags, else the publisher's PARAMETERs, else llama.cpp's.

    Example: blossom-edge chat blossom-v5-4b-Q4_K_M.gguf --system "Be brief."
    """
    from rich.markup import escape

    from blossom_edge.base.errors import UsageError
    from blossom_edge.chat.session import COMMANDS_HELP, run_loop, start_chat
    from blossom_edge.chat.target import resolve_target
    from blossom_edge.cli.output import Output

    if json_output and prompt is None:
        raise UsageError("--json needs --prompt: an interactive chat is not a JSON document")
    out = Output(json_output)
    target = resolve_target(model)
    backend, session = start_chat(target, system=system, ctx=ctx, threads=threads,
                                  on_prompt=_prompt_log(debug_prompt) if debug_prompt else None,
                                  temperature=temperature, top_p=top_p, top_k=top_k, repeat_penalty=repeat_penalty,
                                  seed=seed, max_tokens=max_tokens)
    view = _View(out)
    with backend:
        if prompt is not None:
            turn = session.ask(prompt, view.text, lambda dropped: None)
            if json_output:
                out.data(turn.record(target.path), lambda: None)
            else:
                out.print("")
                out.note(turn.stats_line())
            return
        out.print(f"[dim]{escape(target.path.name)}: {escape(session.format.origin)}, ctx {backend.n_ctx}; "
                  f"sampling: {escape(session.sampling.origin)}[/dim]")
        out.print(f"[dim]{COMMANDS_HELP}[/dim]")
        status = run_loop(session, _reader(), view)
    raise typer.Exit(status)


class _View:
    """The loop's output: answer text exactly as streamed (no markup, no wrapping), dim figures and notes."""

    def __init__(self, out) -> None:
        self._out = out

    def text(self, piece: str) -> None:
        import sys

        if self._out.mode != "json":  # written as it comes: rich would expand tabs and wrap words
            sys.stdout.write(piece)
            sys.stdout.flush()

    def answered(self, turn) -> None:
        self._out.print("")
        self.note(turn.stats_line())

    def note(self, message: str) -> None:
        from rich.markup import escape

        self._out.print(f"[dim]{escape(message)}[/dim]" if message else "")


def _reader():
    """Plain line input, edited and recalled by readline where Python has it (Termux and ssh included)."""
    import sys

    if sys.stdin.isatty():
        try:
            import readline  # noqa: F401  (importing it is what gives input() line editing)
        except ImportError:
            pass
    return lambda: input("> ")


def _prompt_log(path: Path):
    import json

    def write(text: str, tokens: list[int]) -> None:
        with path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({"text": text, "tokens": tokens}, ensure_ascii=False) + "\n")

    return write


def register(app: typer.Typer) -> None:
    app.command("chat")(chat)
