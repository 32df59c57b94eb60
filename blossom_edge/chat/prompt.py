"""A conversation as the text the model reads: its own Jinja chat template, else the catalog's format.

The template is rendered by `ollama.chat_template.render`, the renderer Modelfiles are proved
with (transformers' `apply_chat_template` rules), so `chat` prompts a model exactly as its
Modelfile and its checkpoint do. A GGUF without a template falls back to the catalog's
`ChatFormat` for the release its name says it is, written out turn by turn the way
`ChatFormat.prompt` writes one turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from blossom_edge.base.errors import BlossomError, UnsupportedError

if TYPE_CHECKING:
    from blossom_edge.model.catalog import ChatFormat, ModelInfo
    from blossom_edge.ollama.chat_template import ChatTemplate

Message = dict[str, str]


@dataclass(frozen=True)
class PromptFormat:
    """How to prompt one model: either a Jinja template or a catalog format, and where it came from."""

    origin: str
    stops: tuple[str, ...]
    template: ChatTemplate | None = None
    chat_format: ChatFormat | None = None

    def render(self, messages: Sequence[Message]) -> str:
        """The prompt for `messages` (system first if any, ending with the user), asking for a reply."""
        if self.template is not None:
            from blossom_edge.ollama.chat_template import render

            return render(self.template, messages, add_generation_prompt=True, continue_final_message=False)
        assert self.chat_format is not None
        return render_format(self.chat_format, messages)


def render_format(fmt: ChatFormat, messages: Sequence[Message]) -> str:
    """A multi-turn prompt in a catalog format; for one user turn it is `fmt.prompt(user, system)`."""
    system = fmt.system
    if messages and messages[0]["role"] == "system":
        system, messages = messages[0]["content"], messages[1:]
    chatml = fmt.name == "chatml"
    parts = [f"<|im_start|>system\n{system}<|im_end|>\n" if chatml and system else system]
    close_user, close_bot = ("<|im_end|>\n", "<|im_end|>\n") if chatml else ("", fmt.eos_token)
    for message in messages:
        if message["role"] == "user":
            parts.append(f"{fmt.user_prefix}{message['content']}{close_user}")
        elif message["role"] == "assistant":
            parts.append(f"{fmt.assistant_prefix}{message['content']}{close_bot}")
    parts.append(fmt.assistant_prefix)
    return "".join(parts)


def prompt_format(path: Path, model: ModelInfo | None) -> PromptFormat:
    """The GGUF's own `tokenizer.chat_template`, else the catalog's format for `model`, else an error."""
    from blossom_edge.ollama.chat_template import from_gguf

    template = from_gguf(path)
    if template is not None:
        return PromptFormat("its own chat template", _template_stops(template), template=template)
    if model is not None and model.chat is not None:
        return PromptFormat(f"the catalog's {model.chat.name} format for {model.alias}",
                            tuple(model.chat.stop_sequences()), chat_format=model.chat)
    raise UnsupportedError(f"{path.name} carries no chat template and its name is not a catalog model's: "
                           "nothing says how to prompt it")


def _template_stops(template: ChatTemplate) -> tuple[str, ...]:
    """Where an answer ends besides the end-of-generation token: the stops the proved Modelfile gets
    (end of turn, start of the next user turn), or the EOS text when no Modelfile can be proved for it."""
    from blossom_edge.ollama.chat_template import derive

    try:
        return derive(template).stops
    except BlossomError:
        eos = template.special_tokens.get("eos_token")
        return (eos,) if eos else ()
