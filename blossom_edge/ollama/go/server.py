"""What an Ollama server does with a chat before and while it renders a Modelfile TEMPLATE.

Read from Ollama's source at `OLLAMA_COMMIT` (`blossom_edge.ollama.go`):

- `api/types.go` (Message.UnmarshalJSON) lower-cases every role as the request is decoded, so
  `User` is a user turn;
- `server/routes.go` ChatHandler prepends the Modelfile SYSTEM as a system message unless the
  request's first message is a system message, after the Modelfile's MESSAGE history;
- `filterThinkTags` (same file) strips `<think>…</think>` from every assistant message before
  the last user message, for the qwen3 family (and deepseek-r1) only;
- `template/template.go` collate joins every system message into `.System` with a blank line and
  merges consecutive messages of one role (tool messages excepted) with a blank line, then
  executes a `.Messages` template with those, `.Response` empty;
- `server/images.go` prefers the GGUF's own `tokenizer.chat_template` over the TEMPLATE when the
  GGUF's advertises more capabilities (`native_chat.chat_template_capabilities`) than the
  TEMPLATE does, and `OLLAMA_GO_TEMPLATE` decides outright when set.

`chat_prompt` applies these rules with `go.template` and is what every proof and test renders.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from blossom_edge.ollama.go.native_chat import THINK_FILTER_FAMILIES, chat_template_capabilities, strip_think
from blossom_edge.ollama.go.template import GoTemplate


@dataclass(frozen=True)
class Message:
    role: str
    content: str


def request_messages(messages: Sequence[dict[str, str]], system: str, family: str = "") -> list[Message]:
    """The messages a chat request becomes before templating: roles lower-cased, SYSTEM prepended
    unless the chat starts with its own, earlier think blocks dropped for the qwen3 family."""
    msgs = [Message(m["role"].lower(), m["content"]) for m in messages]
    if msgs and msgs[0].role != "system" and system:
        msgs.insert(0, Message("system", system))
    if family in THINK_FILTER_FAMILIES:
        last_user = max((i for i, m in enumerate(msgs) if m.role == "user"), default=-1)
        msgs = [Message(m.role, strip_think(m.content)) if m.role == "assistant" and i < last_user else m
                for i, m in enumerate(msgs)]
    return msgs


def collate(msgs: Sequence[Message]) -> tuple[str, list[dict[str, str]]]:
    """(.System, .Messages) as template.go's collate builds them."""
    system = [m.content for m in msgs if m.role == "system"]
    collated: list[dict[str, str]] = []
    for m in msgs:
        if collated and collated[-1]["Role"] == m.role and m.role != "tool":
            collated[-1]["Content"] += "\n\n" + m.content
        else:
            collated.append({"Role": m.role, "Content": m.content})
    return "\n\n".join(system), collated


def chat_prompt(template: str, system: str, messages: Sequence[dict[str, str]], family: str = "") -> str:
    """The prompt Ollama's /api/chat renders for `messages` with this TEMPLATE and SYSTEM."""
    joined, collated = collate(request_messages(messages, system, family))
    return GoTemplate(template).execute({"System": joined, "Messages": collated, "Tools": None, "Response": ""})


def template_path(gguf_chat_template: str | None) -> str:
    """One sentence: which template Ollama renders chats with for a Modelfile of ours (a TEMPLATE
    without tools, thinking tags or suffix) over a GGUF carrying `gguf_chat_template`."""
    env = os.environ.get("OLLAMA_GO_TEMPLATE")
    caps = chat_template_capabilities(gguf_chat_template)
    if env is not None:
        on = env.strip().lower() in ("1", "t", "true", "yes", "on")
        return ("OLLAMA_GO_TEMPLATE is set here: Ollama renders this TEMPLATE" if on else
                "OLLAMA_GO_TEMPLATE=0 is set here: Ollama ignores this TEMPLATE for the GGUF's own template")
    if gguf_chat_template is None:
        return ("Ollama renders chats with this TEMPLATE unless the GGUF's own chat template advertises tools "
                "or thinking (server/images.go shouldPreferChatTemplate)")
    if caps:
        return (f"Ollama prefers the GGUF's own chat template over this TEMPLATE (it advertises "
                f"{' and '.join(caps)}; server/images.go shouldPreferChatTemplate)")
    return ("Ollama renders chats with this TEMPLATE (the GGUF's chat template advertises no tools or "
            "thinking that would make Ollama prefer it; server/images.go shouldPreferChatTemplate)")
