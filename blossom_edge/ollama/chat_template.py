"""A checkpoint's own chat template as the truth: rendered like transformers, turned into an Ollama
TEMPLATE and SYSTEM, and proved equal on probe conversations before anything is written.

The Jinja template is rendered the way `apply_chat_template` renders it (a sandboxed environment
with trim_blocks and lstrip_blocks, loop controls, `raise_exception`, `strftime_now`, the
tokenizer's special tokens, `add_generation_prompt`, and `continue_final_message` for a chat
that ends in an assistant message). Its turn layout is read off renderings of marker
conversations: what comes before and after a system, user and assistant message, the
generation prompt, and the text that stands in when no system message is given. Those pieces
make a `.Messages` TEMPLATE; `prove` then renders both on the probe conversations, the Ollama
side through `go.server.chat_prompt`, and refuses at the first probe that differs, so a
Modelfile never prompts the model differently from its own template.

Ollama merges consecutive messages of one role before any template sees them, which no TEMPLATE
can undo, so the probes alternate roles.

A template with tool calls or thinking takes the other path. Ollama (server/images.go
shouldPreferChatTemplate) uses the GGUF's own template instead of any TEMPLATE with fewer
capabilities, and a Go TEMPLATE cannot print tools as the Jinja one does anyway: Go's `json`
writes no spaces after `,` and `:` where `tojson` does, and walks a tool's properties in sorted
order where Jinja keeps the caller's. So such a Modelfile has no TEMPLATE, and `prove_native`
checks that path instead: every `THINK_PROBES` conversation (think unset, on, off and each level,
tools present and absent, assistant tool calls, tool results, reasoning before and after the
last question) is rendered by the checkpoint's template as transformers would, and by the same
template from the request Ollama sends llama-server (`go.native_chat`), as llama.cpp's Jinja does.
Ollama sends no earlier reasoning (message.thinking) to llama-server; a probe that differs only
by that is counted and named in the Modelfile, and any other difference refuses it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from blossom_edge.base.bounded_read import MAX_JSON_BYTES, read_json_object, read_small_text
from blossom_edge.base.errors import CorruptFileError, UnsupportedError

# Markers no real template produces on its own; each rendering must contain each exactly once.
_U1, _U2, _A1, _S1 = "\u27e6u1\u27e7", "\u27e6u2\u27e7", "\u27e6a1\u27e7", "\u27e6s1\u27e7"

Chat = list[dict[str, str]]


def _u(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def _a(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


def _s(text: str) -> dict[str, str]:
    return {"role": "system", "content": text}


# Name → conversation. A chat ending with the user asks for a reply (add_generation_prompt); one
# ending with the assistant is a prefill the model continues (continue_final_message).
PROBES: tuple[tuple[str, Chat], ...] = (
    ("single turn", [_u("Hello!")]),
    ("single turn with a system message", [_s("Be brief."), _u("Hi")]),
    ("multi-turn", [_u("Hi"), _a("Hello! How can I help?"), _u("Write a haiku.")]),
    ("multi-turn with a system message, Chinese",
     [_s("你是一个乐于助人的助手。"), _u("你好"), _a("你好！有什么可以帮你？"), _u("介绍一下北京。")]),
    ("template braces in a message", [_u("Explain {{ .System }}, {% raw %} and {{- x -}} please")]),
    ("dialogue markers in a message", [_u("Print |Human|: and |Bot|: and <|im_end|> and <|im_start|>user"),
                                      _a("|Human|: <|im_end|>"), _u("Again")]),
    ("assistant message last", [_u("Count to three."), _a("One, two,")]),
    ("empty content", [_u(""), _a(""), _u("Still there?")]),
)


@dataclass(frozen=True)
class ChatTemplate:
    """A Jinja chat template and what it is rendered with; `origin` says where it was read."""

    text: str
    origin: str
    special_tokens: dict[str, str]
    family: str = ""


@dataclass(frozen=True)
class OllamaChat:
    """What a Modelfile needs to prompt a model: TEMPLATE, SYSTEM, stop sequences, and where they came
    from. `ignores_system` is set when the model's own template drops system messages."""

    template: str | None
    system: str
    stops: tuple[str, ...]
    origin: str
    ignores_system: bool = False
    proved: int = 0
    # The Jinja template it was derived from (None for a catalog format): Ollama may prefer it.
    jinja: str | None = None
    # Set when there is no TEMPLATE: Ollama renders the GGUF's own Jinja template, proved so.
    native: NativeProof | None = None


@dataclass(frozen=True)
class NativeProof:
    """How the GGUF's own template, rendered by Ollama's llama-server path, compares with the
    checkpoint's: `capabilities` as Ollama reads them, `probes` proved, `without_reasoning` the
    probes whose earlier reasoning Ollama leaves out (equal once it is left out on both sides),
    `refused` the probes Ollama or the template answer with an error (think on a model without
    thinking, an effort level the template does not know)."""

    capabilities: tuple[str, ...]
    probes: int
    without_reasoning: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()
    # The model's own template the proof holds the GGUF's to, for re-proving against a written GGUF.
    truth: ChatTemplate | None = field(default=None, compare=False, repr=False)


# ---------------------------------------------------------------------------------------------
# Reading a template


def _token_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return value["content"]
    return None


def _pick(template: Any, where: str) -> str | None:
    """tokenizer_config's chat_template: a string, or a list of {name, template} (the `default` one)."""
    if template is None or isinstance(template, str):
        return template or None
    if isinstance(template, list):
        named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
        chosen = named.get("default")
        if isinstance(chosen, str):
            return chosen
    raise CorruptFileError(f"{where}: chat_template is neither a string nor a list with a 'default' entry")


def from_checkpoint(directory: Path) -> ChatTemplate | None:
    """The checkpoint's chat template (`chat_template.jinja` first, as transformers reads it, then
    tokenizer_config.json's `chat_template`), or None when it carries none."""
    directory = Path(directory)
    config = directory / "tokenizer_config.json"
    tok = read_json_object(config, required=False)
    specials = {k: t for k in ("bos_token", "eos_token", "unk_token", "pad_token")
                if (t := _token_text(tok.get(k))) is not None}
    family = str(read_json_object(directory / "config.json", required=False).get("model_type") or "")
    jinja_file = directory / "chat_template.jinja"
    text = read_small_text(jinja_file, MAX_JSON_BYTES, what="a chat template")
    if text is not None:
        return ChatTemplate(text, str(jinja_file), specials, family)
    text = _pick(tok.get("chat_template"), str(config))
    return ChatTemplate(text, f"{config} chat_template", specials, family) if text else None


def from_gguf(path: Path) -> ChatTemplate | None:
    """A GGUF's `tokenizer.chat_template` with the special tokens it may print (`bos_token`, …, read
    from the file's vocabulary), or None when it has none."""
    from blossom_edge.inputs.gguf_info import read_gguf_info
    from blossom_edge.ollama.gguf_tokens import template_tokens

    info = read_gguf_info(Path(path))
    text = info.chat_template
    if not text:
        return None
    specials = template_tokens(Path(path), info.special_tokens())
    return ChatTemplate(text, f"{path} tokenizer.chat_template", specials, info.architecture or "")


def from_source(source: Path) -> ChatTemplate | None:
    """The template of a checkpoint directory or a GGUF file."""
    return from_checkpoint(source) if Path(source).is_dir() else from_gguf(source)


def cached_checkpoint(repo_id: str, revision: str | None = None) -> Path | None:
    """The snapshot directory huggingface-hub's cache holds for `repo_id`, or None: an alias whose
    checkpoint was downloaded before has its own template at hand without any network."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, "config.json", revision=revision)
    return Path(found).parent if isinstance(found, str) else None


# ---------------------------------------------------------------------------------------------
# Rendering like transformers


def _environment():
    import jinja2
    from jinja2 import ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise jinja2.exceptions.TemplateError(message)

    def tojson(value: Any, ensure_ascii: bool = False, indent: int | None = None, separators=None,
               sort_keys: bool = False) -> str:
        return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt: str) -> str:
        from datetime import datetime

        return datetime.now().strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def render(template: ChatTemplate, messages: Sequence[dict[str, Any]], *, add_generation_prompt: bool | None = None,
           continue_final_message: bool | None = None, tools: Sequence[dict[str, Any]] | None = None,
           **kwargs: Any) -> str:
    """`apply_chat_template(messages, tools=tools, tokenize=False, **kwargs)`: by default a chat ending
    with the user gets the generation prompt and one ending with the assistant is continued from its
    last character."""
    last_is_assistant = bool(messages) and messages[-1]["role"] == "assistant"
    if add_generation_prompt is None:
        add_generation_prompt = not last_is_assistant
    if continue_final_message is None:
        continue_final_message = last_is_assistant
    context = {**template.special_tokens, **kwargs, "messages": [dict(m) for m in messages],
               "tools": list(tools) if tools else None, "documents": None,
               "add_generation_prompt": add_generation_prompt}
    text = _run(template, context)
    if continue_final_message:
        final = messages[-1]["content"]
        if final.strip() not in text:
            raise UnsupportedError(f"the chat template in {template.origin} does not render the last message")
        at = text.rindex(final.strip())
        if text[at:at + len(final.lstrip())] == final.lstrip():
            text = text[:at + len(final.lstrip())]
        else:
            text = text[:at + len(final.strip())]
    return text


@lru_cache(maxsize=8)
def _compiled(text: str) -> Any:
    """A template compiled once: a proof renders the same one dozens of times."""
    return _environment().from_string(text)


def _run(template: ChatTemplate, context: dict[str, Any]) -> str:
    import jinja2

    try:
        return _compiled(template.text).render(**context)
    except jinja2.exceptions.TemplateError as exc:
        raise UnsupportedError(f"the chat template in {template.origin} cannot be rendered: {exc}") from None
    except (ArithmeticError, LookupError, TypeError, ValueError, RecursionError) as exc:
        # The template's own code failed (`1/0`, `'a' + 1`, endless recursion): its fault, not ours.
        raise UnsupportedError(f"the chat template in {template.origin} cannot be rendered: "
                               f"{type(exc).__name__}: {exc}") from None


# ---------------------------------------------------------------------------------------------
# Deriving the Ollama TEMPLATE


class _Unlike(Exception):
    """The template's output does not follow a turn layout; the message says where."""


def _split(text: str, marker: str) -> tuple[str, str]:
    if text.count(marker) != 1:
        raise _Unlike("a message's text does not appear exactly once where it belongs")
    before, _, after = text.partition(marker)
    return before, after


def _after(text: str, prefix: str, what: str) -> str:
    if not text.startswith(prefix):
        raise _Unlike(what)
    return text[len(prefix):]


def _literal(text: str) -> str:
    """Text for a Go template: `{{` would open an action, so it is written as a string action."""
    return text.replace("{{", '{{ "{{" }}')


@dataclass(frozen=True)
class _Layout:
    preamble: str
    system_prefix: str | None
    system_suffix: str
    default_system: str
    user_prefix: str
    user_suffix: str
    generation: str
    assistant_prefix: str
    assistant_suffix: str

    def go_template(self) -> str:
        aware = self.system_prefix is not None
        head = ("{{ if not .System }}" + _literal(self.preamble) + "{{ end }}") if aware else _literal(self.preamble)
        system = ('{{ if eq $m.Role "system" }}' + _literal(self.system_prefix) + "{{ $m.Content }}"
                  + _literal(self.system_suffix) + "{{ else if") if aware else "{{ if"
        return (head + "{{ range $i, $m := .Messages }}{{ $last := eq (len (slice $.Messages $i)) 1 }}" + system
                + ' eq $m.Role "user" }}' + _literal(self.user_prefix) + "{{ $m.Content }}" + _literal(self.user_suffix)
                + ("{{ if $last }}" + _literal(self.generation) + "{{ end }}" if self.generation else "")
                + '{{ else if eq $m.Role "assistant" }}' + _literal(self.assistant_prefix) + "{{ $m.Content }}"
                + "{{ if not $last }}" + _literal(self.assistant_suffix) + "{{ end }}{{ end }}{{ end }}")


def _layout(template: ChatTemplate) -> _Layout:
    def r(*msgs: dict[str, str], gen: bool) -> str:
        return render(template, list(msgs), add_generation_prompt=gen, continue_final_message=False)

    head, tail = _split(r(_u(_U1), gen=True), _U1)
    closed = _after(r(_u(_U1), gen=False), head + _U1, "the user turn renders differently with and without a generation prompt")
    generation = _after(tail, closed, "the generation prompt is not added after the user's turn")
    user_suffix = closed
    first, rest = _split(r(_u(_U1), _a(_A1), _u(_U2), gen=True), _A1)
    mid1 = _after(first, head + _U1, "an earlier user turn renders differently from a single one")
    assistant_prefix = _after(mid1, user_suffix, "the assistant's turn does not follow the user's turn")
    mid2, end = _split(rest, _U2)
    if end != tail:
        raise _Unlike("the last user turn renders differently after history")
    answered = _after(r(_u(_U1), _a(_A1), gen=False), first + _A1, "an answered chat renders differently")
    assistant_suffix = answered
    user_prefix = _after(mid2, assistant_suffix, "the next user turn does not follow a closed assistant turn")
    if not head.endswith(user_prefix):
        raise _Unlike("the first user turn starts differently from later ones")
    preamble = head[:len(head) - len(user_prefix)]
    with_system = r(_s(_S1), _u(_U1), gen=True)
    if _S1 not in with_system:
        if with_system != head + _U1 + tail:
            raise _Unlike("a system message changes the prompt without appearing in it")
        return _Layout(preamble, None, "", "", user_prefix, user_suffix, generation, assistant_prefix,
                       assistant_suffix)
    system_prefix, after = _split(with_system, _S1)
    system_tail, end = _split(after, _U1)
    if end != tail or not system_tail.endswith(user_prefix):
        raise _Unlike("the user turn after a system message renders differently")
    system_suffix = system_tail[:len(system_tail) - len(user_prefix)]
    default = ""
    if (preamble.startswith(system_prefix) and preamble.endswith(system_suffix)
            and len(preamble) > len(system_prefix) + len(system_suffix)):
        default = preamble[len(system_prefix):len(preamble) - len(system_suffix)]
    return _Layout(preamble, system_prefix, system_suffix, default, user_prefix, user_suffix, generation,
                   assistant_prefix, assistant_suffix)


def derive(template: ChatTemplate) -> OllamaChat:
    """The TEMPLATE, SYSTEM and stops that prompt as `template` does, proved on PROBES, or
    UnsupportedError naming what cannot be expressed or the first probe that differs. A template
    with tools or thinking gets no TEMPLATE: Ollama's use of it as it is is proved instead."""
    from blossom_edge.ollama.go.native_chat import chat_template_capabilities

    if chat_template_capabilities(template.text):
        return derive_native(template)
    try:
        layout = _layout(template)
    except _Unlike as exc:
        raise UnsupportedError(f"the chat template in {template.origin} cannot be expressed as an Ollama "
                               f"TEMPLATE: {exc}") from None
    eos = template.special_tokens.get("eos_token", "")
    stops = tuple(dict.fromkeys(s for s in (layout.assistant_suffix.strip(), eos, layout.user_prefix.strip()) if s))
    go_template = layout.go_template()
    return OllamaChat(go_template, layout.default_system, stops, template.origin,
                      ignores_system=layout.system_prefix is None,
                      proved=prove(go_template, layout.default_system, template), jinja=template.text)


@dataclass(frozen=True)
class Difference:
    """The first probe on which Ollama's rendering and the checkpoint's differ, and where."""

    probe: str
    expected: str
    got: str

    def __str__(self) -> str:
        at = next((i for i, (a, b) in enumerate(zip(self.expected, self.got)) if a != b),
                  min(len(self.expected), len(self.got)))
        start = max(0, at - 20)
        return (f"probe '{self.probe}' differs at character {at}: the model's template gives "
                f"{self.expected[start:at + 30]!r}, Ollama would send {self.got[start:at + 30]!r}")


def first_difference(go_template: str, system: str, template: ChatTemplate) -> Difference | None:
    """Render every probe both ways; the first that differs, or None when all agree."""
    from blossom_edge.ollama.go.server import chat_prompt
    from blossom_edge.ollama.go.template import TemplateError

    for name, messages in PROBES:
        expected = render(template, messages)
        try:
            got = chat_prompt(go_template, system, messages, template.family)
        except (TemplateError, KeyError, IndexError, TypeError, AttributeError) as exc:
            return Difference(name, expected, f"<TEMPLATE cannot be executed: {exc}>")
        if got != expected:
            return Difference(name, expected, got)
    return None


def prove(go_template: str, system: str, template: ChatTemplate) -> int:
    """The number of probes proved, or UnsupportedError with the first that differs."""
    difference = first_difference(go_template, system, template)
    if difference is not None:
        raise UnsupportedError(f"refusing to write a TEMPLATE that prompts differently from {template.origin}: "
                               f"{difference}")
    return len(PROBES)


# ---------------------------------------------------------------------------------------------
# Templates with tools or thinking: no TEMPLATE, Ollama renders the GGUF's own template


@dataclass(frozen=True)
class Turn:
    """One message of a probe, said once and written both as transformers and as Ollama's API take it:
    `reasoning` is transformers' `reasoning_content` and Ollama's `thinking`; `calls` are
    (function, arguments) pairs; `tool` names the function a tool result answers."""

    role: str
    content: str = ""
    reasoning: str = ""
    calls: tuple[tuple[str, dict[str, Any]], ...] = ()
    tool: str = ""

    def hf(self, with_reasoning: bool = True) -> dict[str, Any]:
        message: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.reasoning and with_reasoning:
            message["reasoning_content"] = self.reasoning
        if self.calls:
            message["tool_calls"] = [{"type": "function", "function": {"name": n, "arguments": dict(a)}}
                                     for n, a in self.calls]
        if self.tool:
            message["name"] = self.tool
        return message

    def ollama(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.reasoning:
            message["thinking"] = self.reasoning
        if self.calls:
            message["tool_calls"] = [{"function": {"index": i, "name": n, "arguments": dict(a)}}
                                     for i, (n, a) in enumerate(self.calls)]
        if self.tool:
            message["tool_name"] = self.tool
        return message


@dataclass(frozen=True)
class ThinkProbe:
    """A conversation, the tools offered and the request's `think` (None: left unset)."""

    name: str
    turns: tuple[Turn, ...]
    tools: tuple[dict[str, Any], ...] = ()
    think: bool | str | None = None


# Written in api.Tool's field order (type, function: name, description, parameters: type, required,
# properties), which Ollama re-encodes every tool into, so the probes test the template's layout;
# `go.native_chat.encode_tool` is what a tool given in another order becomes.
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city",
    "parameters": {"type": "object", "required": ["city"], "properties": {
        "city": {"type": "string", "description": "City name, e.g. 北京"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}}}}
CLOCK = {"type": "function", "function": {
    "name": "get_time", "description": "Local time in a time zone",
    "parameters": {"type": "object", "required": ["zone"], "properties": {"zone": {"type": "string"}}}}}

_ASK = Turn("user", "北京今天天气怎么样？")
_CALL = Turn("assistant", "", "The user wants the weather in Beijing; call the tool.",
             (("get_weather", {"city": "北京", "unit": "celsius"}),))
_RESULT = Turn("tool", '{"temperature": 21, "sky": "sunny"}', tool="get_weather")
_PAST = (Turn("user", "What is 2+2?"), Turn("assistant", "4", "Simple arithmetic: 2+2=4."))

THINK_PROBES: tuple[ThinkProbe, ...] = (
    ThinkProbe("single turn, think unset", (Turn("user", "Hello!"),)),
    ThinkProbe("single turn, think on", (Turn("user", "Hello!"),), think=True),
    ThinkProbe("single turn, think off", (Turn("user", "Hello!"),), think=False),
    *(ThinkProbe(f"single turn, think {level}", (Turn("user", "Prove that √2 is irrational."),), think=level)
      for level in ("low", "medium", "high", "max")),
    ThinkProbe("system message, Chinese, think off",
               (Turn("system", "你是一个乐于助人的助手。"), Turn("user", "介绍一下北京。")), think=False),
    ThinkProbe("multi-turn with past reasoning", (*_PAST, Turn("user", "And 3+3?"))),
    ThinkProbe("multi-turn with past reasoning, think max", (*_PAST, Turn("user", "And 3+3?")), think="max"),
    ThinkProbe("tools offered", (_ASK,), (WEATHER, CLOCK)),
    ThinkProbe("tools offered with a system message, think off",
               (Turn("system", "Answer briefly."), _ASK), (WEATHER,), think=False),
    ThinkProbe("tool call and result", (_ASK, _CALL, _RESULT), (WEATHER,)),
    ThinkProbe("two tool calls and results, think medium",
               (Turn("user", "Weather in Beijing, and the time there?"),
                Turn("assistant", "Let me check both.", "Two lookups are needed.",
                     (("get_weather", {"city": "北京"}), ("get_time", {"zone": "Asia/Shanghai"}))),
                Turn("tool", '{"temperature": 21}', tool="get_weather"),
                Turn("tool", '{"time": "09:30"}', tool="get_time")), (WEATHER, CLOCK), think="medium"),
    ThinkProbe("tool round trip in history", (_ASK, _CALL, _RESULT, Turn("assistant", "晴，21°C。", "Report it."),
                                              Turn("user", "Thanks! And tomorrow?")), (WEATHER,)),
)


def _hf_kwargs(think: bool | str | None) -> dict[str, Any]:
    """What a transformers user passes for the same request: nothing when it is unset."""
    if think is None:
        return {}
    if isinstance(think, bool):
        return {"enable_thinking": think}
    return {"enable_thinking": True, "reasoning_effort": think}


def native_render(template: ChatTemplate, body: dict[str, Any]) -> str:
    """The prompt llama-server renders for an Ollama chat request `body` (go.native_chat), the way
    llama.cpp's common/chat.cpp feeds its Jinja engine: messages (tool-call arguments parsed back
    into objects, func_args_not_string), tools, bos/eos, `enable_thinking` (true unless the
    kwargs say otherwise), the kwargs, `reasoning_effort` also as `reasoning_strength`, and the
    generation prompt. The date keys llama.cpp adds are left out: the probes render no dates. The
    tests hold this to llama.cpp's own common_chat_templates_apply on every probe."""
    messages = []
    for message in body["messages"]:
        message = dict(message)
        if "tool_calls" in message:
            message["tool_calls"] = [{**call, "function": {**call["function"],
                                                           "arguments": json.loads(call["function"]["arguments"])}}
                                     for call in message["tool_calls"]]
        messages.append(message)
    context: dict[str, Any] = {"bos_token": template.special_tokens.get("bos_token", ""),
                               "eos_token": template.special_tokens.get("eos_token", ""),
                               "enable_thinking": True, "messages": messages, "add_generation_prompt": True}
    if body.get("tools"):
        context["tools"] = body["tools"]
    context.update(body.get("chat_template_kwargs") or {})
    if isinstance(context.get("reasoning_effort"), str) and context["reasoning_effort"]:
        context["reasoning_strength"] = context["reasoning_effort"]
    return _run(template, context)


def prove_native(gguf_template: ChatTemplate, truth: ChatTemplate, system: str = "") -> NativeProof:
    """Render every THINK_PROBES conversation as transformers does with `truth` (the checkpoint's
    template) and as Ollama's llama-server path does with `gguf_template` (the one the GGUF
    carries); UnsupportedError at the first probe that differs other than by the earlier
    reasoning Ollama does not send."""
    from blossom_edge.ollama.go.native_chat import ThinkRefused, chat_template_capabilities, llama_server_request

    caps = tuple(chat_template_capabilities(gguf_template.text))
    proved, without_reasoning, refused = 0, [], []
    for probe in THINK_PROBES:
        try:
            body = llama_server_request([t.ollama() for t in probe.turns], system=system, tools=list(probe.tools),
                                        think=probe.think, capabilities=caps, family=gguf_template.family)
        except ThinkRefused:
            refused.append(probe.name)
            continue
        kwargs = _hf_kwargs(probe.think)
        got, expected = _either(native_render, gguf_template, body), _either(
            render, truth, [t.hf() for t in probe.turns], tools=list(probe.tools) or None,
            add_generation_prompt=True, continue_final_message=False, **kwargs)
        if isinstance(got, UnsupportedError) and isinstance(expected, UnsupportedError):
            # The template itself refuses the request (an effort level it does not know): so does
            # llama-server, with an error rather than a prompt.
            refused.append(probe.name)
            continue
        if isinstance(got, UnsupportedError) or isinstance(expected, UnsupportedError):
            problem = got if isinstance(got, UnsupportedError) else expected
            raise UnsupportedError(f"refusing a Modelfile for {truth.origin}: probe '{probe.name}' renders on one "
                                   f"side only: {problem}")
        if got == expected:
            proved += 1
            continue
        without = render(truth, [t.hf(with_reasoning=False) for t in probe.turns], tools=list(probe.tools) or None,
                         add_generation_prompt=True, continue_final_message=False, **kwargs)
        if got == without:
            proved += 1
            without_reasoning.append(probe.name)
            continue
        difference = Difference(probe.name, expected, got)
        raise UnsupportedError(f"refusing a Modelfile for {truth.origin}: Ollama would render the GGUF's own chat "
                               f"template differently from the model's template: {difference}")
    return NativeProof(caps, proved, tuple(without_reasoning), tuple(refused), truth)


def confirm_in_gguf(chat: OllamaChat, gguf: Path) -> OllamaChat:
    """For a Modelfile without TEMPLATE, prove again with the template `gguf` really carries (what
    Ollama will render) against the model's own; UnsupportedError when it carries none, since
    Ollama would then have no template at all."""
    if chat.native is None or chat.native.truth is None:
        return chat
    carried = from_gguf(gguf)
    if carried is None:
        raise UnsupportedError(f"{gguf} carries no chat template, and the Modelfile leaves TEMPLATE to it: "
                               "Ollama would prompt the model with none")
    return replace(chat, native=prove_native(carried, chat.native.truth))


def _either(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """fn's result, or the UnsupportedError it raised (a template that refuses the request)."""
    try:
        return fn(*args, **kwargs)
    except UnsupportedError as exc:
        return exc


def derive_native(template: ChatTemplate) -> OllamaChat:
    """No TEMPLATE (Ollama then renders the GGUF's own chat template), SYSTEM left to the template,
    the end-of-text token as stop, and the proof that this prompts as `template` does."""
    proof = prove_native(template, template)
    eos = template.special_tokens.get("eos_token", "")
    return OllamaChat(None, "", (eos,) if eos else (), template.origin, proved=proof.probes, jinja=template.text,
                      native=proof)
