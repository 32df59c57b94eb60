"""Ollama Modelfiles for Blossom: rendered from the catalog, read back exactly as Ollama reads them.

Ollama's Modelfile grammar has no escape character. Its parser (`parser/parser.go`) drops
every character Go's `strconv.IsPrint` rejects (zero-width joiners, U+3000 ideographic
space, NBSP), and ends a quoted value at the first line break where the text so far merely
*looks* closed. A Modelfile that Ollama reads differently from what we wrote ships a broken
chat template without any error message, so:

- `parse` reproduces Ollama's reader: the same commands, case rules, comments, quoting, the
  same silently dropped characters and the same error texts and line numbers;
- `check` adds what `ollama create` rejects after parsing (parameter names and value types);
- `render` writes each value in a form `parse` reads back unchanged, refuses a value that
  has no such form, and parses the whole file back before returning it.
"""

from __future__ import annotations

import math
import os
import re
import struct
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blossom_edge.base.errors import CorruptFileError, UnsupportedError, UsageError

if TYPE_CHECKING:
    from blossom_edge.model.catalog import ChatFormat, ModelInfo
    from blossom_edge.ollama.chat_template import OllamaChat

COMMANDS = ("from", "license", "template", "system", "adapter", "draft", "renderer", "parser",
            "parameter", "message", "requires")
MESSAGE_ROLES = ("system", "user", "assistant")

# api.Options / api.Runner JSON names and the Go kind `ollama create` converts each value to.
INT_PARAMETERS = frozenset({"num_keep", "seed", "num_predict", "top_k", "repeat_last_n", "num_ctx",
                            "num_batch", "num_gpu", "main_gpu", "num_thread"})
FLOAT_PARAMETERS = frozenset({"top_p", "min_p", "typical_p", "temperature", "repeat_penalty",
                              "presence_penalty", "frequency_penalty"})
BOOL_PARAMETERS = frozenset({"use_mmap"})
LIST_PARAMETERS = frozenset({"stop"})
# Accepted with a warning and then dropped by `ollama create`.
DEPRECATED_PARAMETERS = frozenset({"penalize_newline", "low_vram", "f16_kv", "logits_all", "vocab_only",
                                   "use_mlock", "mirostat", "mirostat_tau", "mirostat_eta"})

# The sampling defaults of the published azure99/blossom models.
BLOSSOM_PARAMETERS: tuple[tuple[str, float | int], ...] = (
    ("temperature", 0.5), ("top_p", 0.85), ("top_k", 50), ("repeat_penalty", 1.05))
# Community convention for "offload every layer": Ollama passes num_gpu on as a layer count.
ALL_GPU_LAYERS = 999

ERR_INVALID_COMMAND = ("command must be one of " + ", ".join(f'"{c}"' for c in COMMANDS[:-1])
                       + f', or "{COMMANDS[-1]}"')
ERR_INVALID_ROLE = 'message role must be one of "system", "user", or "assistant"'
ERR_MISSING_FROM = "no FROM line"
ERR_EOF = "unexpected EOF"

# The largest file `read` accepts: Ollama's Modelfiles are a few kB, so anything bigger is some
# other file, and /dev/zero or a FIFO would otherwise be read forever.
MAX_MODELFILE_BYTES = 4 << 20

_KEYWORD = {"model": "FROM", "license": "LICENSE", "template": "TEMPLATE", "system": "SYSTEM",
            "adapter": "ADAPTER", "draft": "DRAFT", "renderer": "RENDERER", "parser": "PARSER",
            "requires": "REQUIRES", "message": "MESSAGE"}


@dataclass(frozen=True)
class Command:
    """One command as Ollama stores it: FROM is `model`, PARAMETER is the parameter's own name,
    MESSAGE args are `role: content`. `line` is where it starts (not part of equality)."""

    name: str
    args: str
    line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Problem:
    """One finding of `check`; `line` 0 means Ollama names no line for it."""

    line: int
    message: str
    warning: bool = False

    def __str__(self) -> str:
        kind = "warning" if self.warning else "error"
        return f"line {self.line}: {kind}: {self.message}" if self.line else f"{kind}: {self.message}"


class ModelfileError(CorruptFileError):
    """A Modelfile Ollama's parser rejects. `problem` holds Ollama's own text and line (0 where
    Ollama names none); `start` is the line of the command left unfinished, for the reader."""

    def __init__(self, line: int, message: str, start: int = 0) -> None:
        self.problem = Problem(line, message)
        self.start = start
        where = f" (the command that starts on line {start})" if start and not line else ""
        super().__init__(f"Modelfile line {line}: {message}" if line else f"Modelfile: {message}{where}")


# ---------------------------------------------------------------------------------------------
# Reading


def decode(data: bytes) -> str:
    """Bytes to text the way Ollama decodes a Modelfile: a UTF-8 or UTF-16 byte-order mark
    decides the encoding, otherwise UTF-8 with invalid bytes replaced."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith(b"\xff\xfe"):
        return data[2:].decode("utf-16-le", errors="replace")
    if data.startswith(b"\xfe\xff"):
        return data[2:].decode("utf-16-be", errors="replace")
    return data.decode("utf-8", errors="replace")


def read(path: Path) -> list[Command]:
    """Parse a Modelfile on disk: a regular file of at most MAX_MODELFILE_BYTES."""
    from blossom_edge.base.bounded_read import read_small_file

    return parse(decode(read_small_file(Path(path), MAX_MODELFILE_BYTES, what="a Modelfile")))


def _printable(ch: str) -> bool:
    # Go's strconv.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space.
    return ch.isprintable()


def _is_alpha(ch: str) -> bool:
    return ("a" <= ch <= "z") or ("A" <= ch <= "Z")


def _unquote(text: str) -> tuple[str, bool]:
    """Ollama's test for "this value is complete": (value, closed)."""
    if text.startswith('"""'):
        if len(text) >= 6 and text.endswith('"""'):
            return text[3:-3], True
        return "", False
    if text.startswith('"'):
        if len(text) >= 2 and text.endswith('"'):
            return text[1:-1], True
        return "", False
    return text, True


_TRIPLE = ['"', '"', '"']


def _closed(buf: list[str], first: int, last: int) -> bool:
    """`_unquote(text)[1]` for text = the stripped value, told by where its ends are in `buf`.

    `first` and `last` index the first and last character that `strip` keeps (-1 when none
    is), so deciding at every line break costs constant time instead of re-joining the
    whole value, which made a value of many lines quadratic.
    """
    if first < 0:
        return True
    length = last - first + 1
    if buf[first:first + 3] == _TRIPLE:
        return length >= 6 and buf[last - 2:last + 1] == _TRIPLE
    if buf[first] == '"':
        return length >= 2 and buf[last] == '"'
    return True


# Parser states, named after what is being read.
_IDLE, _KEYWORD_STATE, _VALUE, _PARAM_NAME, _ROLE, _COMMENT = range(6)
_SPACE = " \t"
_NEWLINE = "\r\n"


def parse(text: str) -> list[Command]:
    """Read Modelfile text into commands exactly as Ollama's parser does, or raise ModelfileError.

    Quirks kept on purpose because Ollama has them: `#` starts a comment only where a command
    could start; a quoted value ends at the first line break where the trimmed text so far is
    closed (`"..."` or `\"\"\"...\"\"\"`), so nothing may follow a closing quote on its line;
    characters that are not printable are dropped outside the whitespace Ollama keeps; `\\r`
    and `\\n` each count as a line, so CRLF files report doubled line numbers, as Ollama does.
    Time is linear in the text: each character is looked at once, and a value is joined once.
    """
    commands: list[Command] = []
    state = _IDLE
    buf: list[str] = []
    line = 1
    start = 1
    name = role = ""
    # Where the value's stripped text begins and ends in `buf` (-1: only whitespace so far).
    first = last = -1

    def finish_value() -> None:
        value, _ = _unquote("".join(buf).strip(_SPACE + _NEWLINE))
        commands.append(Command(name, f"{role}: {value}" if role else value, start))

    for ch in text:
        if ch in _NEWLINE:
            line += 1
        if state == _IDLE:
            if ch == "#":
                state = _COMMENT
            elif ch not in _SPACE + _NEWLINE:
                state, start, role = _KEYWORD_STATE, line, ""
                buf = [ch] if _printable(ch) else []
        elif state == _COMMENT:
            if ch in _NEWLINE:
                state = _IDLE
        elif state == _KEYWORD_STATE:
            if _is_alpha(ch):
                buf.append(ch)
            elif ch in _SPACE and "".join(buf).lower() in COMMANDS:
                word = "".join(buf).lower()
                buf = []
                if word == "parameter":
                    state = _PARAM_NAME
                elif word == "message":
                    name, state = "message", _ROLE
                else:
                    name, state = ("model" if word == "from" else word), _VALUE
            else:
                raise ModelfileError(line, ERR_INVALID_COMMAND)
        elif state == _PARAM_NAME:
            if _is_alpha(ch) or (ch.isascii() and ch.isdigit()) or ch == "_":
                buf.append(ch)
            elif ch in _SPACE:
                name, buf, state = "".join(buf), [], _VALUE
            else:
                raise ModelfileError(0, f"{ERR_EOF}: {''.join(buf)}", start)
        elif state == _ROLE:
            if _is_alpha(ch):
                buf.append(ch)
            elif ch in _SPACE:
                if "".join(buf) not in MESSAGE_ROLES:
                    raise ModelfileError(line, ERR_INVALID_ROLE)
                role, buf, state = "".join(buf), [], _VALUE
            else:
                raise ModelfileError(0, f"{ERR_EOF}: {''.join(buf)}", start)
        elif ch in _SPACE:
            buf.append(ch)
        elif ch in _NEWLINE:
            if _closed(buf, first, last):
                finish_value()
                buf, state, first, last = [], _IDLE, -1, -1
            else:
                buf.append(ch)
        elif _printable(ch):
            first = len(buf) if first < 0 else first
            last = len(buf)
            buf.append(ch)

    if state == _VALUE:
        if not _closed(buf, first, last):
            raise ModelfileError(0, ERR_EOF, start)
        finish_value()
    elif state in (_KEYWORD_STATE, _PARAM_NAME, _ROLE):
        raise ModelfileError(0, ERR_EOF, start)
    if not any(c.name == "model" for c in commands):
        raise ModelfileError(0, ERR_MISSING_FROM)
    return commands


# ---------------------------------------------------------------------------------------------
# What `ollama create` checks after parsing


_GO_INT = re.compile(r"[+-]?[0-9]+\Z")
_GO_DEC_FLOAT = re.compile(r"[+-]?(?:[0-9](?:_?[0-9])*(?:\.(?:[0-9](?:_?[0-9])*)?)?|\.[0-9](?:_?[0-9])*)"
                           r"(?:[eE][+-]?[0-9](?:_?[0-9])*)?\Z")
_GO_HEX_FLOAT = re.compile(r"[+-]?0[xX](?:[0-9a-fA-F]+(?:\.[0-9a-fA-F]*)?|\.[0-9a-fA-F]+)[pP][+-]?[0-9]+\Z")
_GO_SPECIAL_FLOATS = {"inf": math.inf, "+inf": math.inf, "-inf": -math.inf, "infinity": math.inf,
                      "+infinity": math.inf, "-infinity": -math.inf, "nan": math.nan}
_GO_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
             "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}


def _go_float32(text: str) -> float:
    """strconv.ParseFloat(text, 32), raising ValueError where Go returns an error (bad syntax or
    a value beyond float32's range)."""
    if text.lower() in _GO_SPECIAL_FLOATS:
        return _GO_SPECIAL_FLOATS[text.lower()]
    if _GO_DEC_FLOAT.match(text):
        value = float(text.replace("_", ""))
    elif _GO_HEX_FLOAT.match(text):
        try:
            value = float.fromhex(text)
        except OverflowError:
            value = math.inf
    else:
        raise ValueError(text)
    if math.isinf(value):  # a finite spelling past float64 ("1e999"): Go's ErrRange
        raise ValueError(text)
    try:
        return struct.unpack("<f", struct.pack("<f", value))[0]
    except OverflowError:
        raise ValueError(text) from None


def _go_int64(text: str) -> int | None:
    """strconv.ParseInt(text, 10, 64), or None where Go returns an error.

    Leading zeros go before int() sees the digits: Go accepts any number of them, and int()
    refuses strings past Python's 4300-digit limit with an error of its own.
    """
    if not _GO_INT.match(text):
        return None
    digits = text.lstrip("+-").lstrip("0") or "0"
    if len(digits) > 19:
        return None
    value = -int(digits) if text.startswith("-") else int(digits)
    return value if -(2**63) <= value < 2**63 else None


def parameter_value(name: str, raw: str) -> Any:
    """The typed value `ollama create` sends for `PARAMETER name raw`, or ValueError with
    Ollama's message."""
    if name in INT_PARAMETERS:
        value = _go_int64(raw)
        if value is None:
            raise ValueError(f"invalid int value [{raw}]")
        return value
    if name in FLOAT_PARAMETERS:
        try:
            return _go_float32(raw)
        except ValueError:
            raise ValueError(f"invalid float value [{raw}]") from None
    if name in BOOL_PARAMETERS:
        if raw not in _GO_BOOLS:
            raise ValueError(f"invalid bool value [{raw}]")
        return _GO_BOOLS[raw]
    if name in LIST_PARAMETERS:
        return raw
    raise ValueError(f"unknown parameter '{name}'")


_SEMVER_NUM = r"(?:0|[1-9][0-9]*)"
_SEMVER_ID = r"(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_SEMVER = re.compile(rf"v{_SEMVER_NUM}(?:\.{_SEMVER_NUM}(?:\.{_SEMVER_NUM}"
                     rf"(?:-{_SEMVER_ID}(?:\.{_SEMVER_ID})*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?)?)?\Z")
# Every parsed command that is not a PARAMETER carries one of the keyword names.
_NOT_PARAMETERS = frozenset(_KEYWORD)


def check(commands: Sequence[Command]) -> list[Problem]:
    """What `ollama create` rejects (errors) or warns about after a successful parse, in file order.

    Ollama stops at the first error; every one is listed here, the first is the one Ollama prints.
    """
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for cmd in commands:
        if cmd.name == "requires":
            version = cmd.args if cmd.args.startswith("v") else f"v{cmd.args}"
            if not _SEMVER.match(version):
                problems.append(Problem(cmd.line, "requires must be a valid semver (e.g. 0.14.0)"))
            continue
        if cmd.name in _NOT_PARAMETERS:
            continue
        if cmd.name in DEPRECATED_PARAMETERS:
            problems.append(Problem(cmd.line, f"parameter {cmd.name} is deprecated", warning=True))
            continue
        try:
            parameter_value(cmd.name, cmd.args)
        except ValueError as exc:
            problems.append(Problem(cmd.line, str(exc)))
            continue
        if cmd.name not in LIST_PARAMETERS and cmd.name in seen:
            problems.append(Problem(cmd.line, f"parameter {cmd.name} was already set on line {seen[cmd.name]}; "
                                              "Ollama keeps this later value", warning=True))
        seen[cmd.name] = cmd.line
    return problems


def create_fields(commands: Sequence[Command]) -> dict[str, Any]:
    """The /api/create fields the Modelfile stands for (FROM/ADAPTER/DRAFT paths left as written).

    Raises ModelfileError on the first problem Ollama would reject, as `ollama create` does.
    """
    errors = [p for p in check(commands) if not p.warning]
    if errors:
        raise ModelfileError(errors[0].line, errors[0].message)
    fields: dict[str, Any] = {}
    params: dict[str, Any] = {}
    for cmd in commands:
        if cmd.name in ("model", "adapter", "draft"):
            fields.setdefault(cmd.name, []).append(cmd.args)
        elif cmd.name in ("template", "system", "renderer", "parser", "requires"):
            fields[cmd.name] = cmd.args.removeprefix("v") if cmd.name == "requires" else cmd.args
        elif cmd.name == "license":
            fields.setdefault("license", []).append(cmd.args)
        elif cmd.name == "message":
            role, _, content = cmd.args.partition(": ")
            fields.setdefault("messages", []).append({"role": role, "content": content})
        elif cmd.name in LIST_PARAMETERS:
            params.setdefault(cmd.name, []).append(cmd.args)
        elif cmd.name not in DEPRECATED_PARAMETERS:
            params[cmd.name] = parameter_value(cmd.name, cmd.args)
    if params:
        fields["parameters"] = params
    return fields


# ---------------------------------------------------------------------------------------------
# Writing


def _reads_back(form: str, value: str) -> bool:
    try:
        return parse(f"FROM x\nSYSTEM {form}\n") == [Command("model", "x"), Command("system", value)]
    except ModelfileError:
        return False


def _why_unwritable(value: str, what: str) -> str:
    lines = value.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for number, text in enumerate(lines, 1):
        for ch in text:
            if not _printable(ch) and ch not in _SPACE:
                label = unicodedata.name(ch, "a control character")
                return (f"{what} line {number} contains U+{ord(ch):04X} ({label}), which Ollama's Modelfile "
                        "parser silently drops; remove or replace it")
    for number, text in enumerate(lines[:-1], 1):
        if text.rstrip(_SPACE).endswith('"""'):
            return (f'{what} line {number} ends with """, which Ollama reads as the end of the value '
                    "(Modelfiles have no escape character); reword that line")
    return f"{what} cannot be written so that Ollama reads it back unchanged"


def quote(value: str, what: str = "value") -> str:
    """The Modelfile spelling of `value` that Ollama reads back unchanged.

    Tries, in order: the bare text (one line), `\"\"\"...\"\"\"` for text with line breaks, then
    `"..."`; each candidate is parsed back. Raises UnsupportedError naming the offending line
    of the value when no spelling works.
    """
    multi_line = any(c in value for c in _NEWLINE)
    candidates = [f'"""{value}"""', f'"{value}"'] if multi_line else [value, f'"{value}"', f'"""{value}"""']
    for form in candidates:
        if form and _reads_back(form, value):
            return form
    raise UnsupportedError(_why_unwritable(value, what))


def _render_command(cmd: Command) -> str:
    if cmd.name == "message":
        role, _, content = cmd.args.partition(": ")
        if role not in MESSAGE_ROLES:
            raise UsageError(f"MESSAGE role must be one of {', '.join(MESSAGE_ROLES)}, not '{role}'")
        return f"MESSAGE {role} {quote(content, f'MESSAGE {role} text')}"
    if cmd.name in _KEYWORD:
        keyword = _KEYWORD[cmd.name]
        return f"{keyword} {quote(cmd.args, f'{keyword} text')}"
    if not re.fullmatch(r"[A-Za-z0-9_]+", cmd.name):
        raise UsageError(f"'{cmd.name}' cannot be a PARAMETER name (letters, digits and '_' only)")
    return f"PARAMETER {cmd.name} {quote(cmd.args, f'PARAMETER {cmd.name} value')}"


def render(commands: Sequence[Command], comment: str = "") -> str:
    """Modelfile text for `commands`, headed by `comment` lines; parsed back before it is returned."""
    lines = [f"# {text}".rstrip() for text in comment.splitlines()]
    lines += [_render_command(cmd) for cmd in commands]
    text = "\n".join(lines) + "\n"
    if parse(text) != list(commands):
        raise AssertionError("rendered Modelfile does not parse back to the same commands")
    return text


# ---------------------------------------------------------------------------------------------
# Blossom


def blossom_template(chat: ChatFormat) -> str:
    """The Ollama TEMPLATE for a Blossom chat format, in Ollama's `.Messages` form.

    Built from `ChatFormat.prompt()` itself, so a single turn renders to exactly the catalog's
    prompt; history repeats the user turn, and every answer but a trailing one (a prefill the
    model continues) is closed the way the format closes a turn: the end-of-text token for the
    Blossom dialogue, `<|im_end|>` and a newline for ChatML.
    """
    sys_mark, user_mark = "\x00S\x00", "\x00U\x00"
    with_system = chat.prompt(user_mark, system=sys_mark)
    turn = chat.prompt(user_mark, system="")
    if not with_system.endswith(turn) or not turn.endswith(chat.assistant_prefix):
        raise ValueError(f"chat format {chat.name} does not fit the Ollama template layout")
    system_block = with_system[: len(with_system) - len(turn)]
    user_suffix = turn.split(user_mark, 1)[1][: -len(chat.assistant_prefix) or None]
    answer_end = user_suffix if user_suffix.startswith(chat.eos_token) else chat.eos_token
    for piece in (system_block, turn, answer_end):
        if "{{" in piece or "}}" in piece:
            raise ValueError(f"chat format {chat.name} has template braces in its text")
    system_t = system_block.replace(sys_mark, "{{ .System }}")
    turn_t = turn.replace(user_mark, "{{ $m.Content }}")
    return ("{{ if .System }}" + system_t + "{{ end }}"
            "{{ range $i, $m := .Messages }}"
            "{{ $last := eq (len (slice $.Messages $i)) 1 }}"
            '{{ if eq $m.Role "user" }}' + turn_t +
            '{{ else if eq $m.Role "assistant" }}{{ $m.Content }}{{ if not $last }}' + answer_end + "{{ end }}"
            "{{ end }}{{ end }}")


def _number(value: float) -> str:
    return repr(value) if isinstance(value, float) else str(value)


# Ollama reserves the KV cache for the whole num_ctx up front: Qwen1.5-4B's 32k context
# would take over 10 GB, more than most phones have. Published tags default to this
# (what Ollama itself uses) and `--ctx` raises it up to the model's own limit.
DEFAULT_NUM_CTX = 4096


def catalog_chat(model: ModelInfo) -> OllamaChat:
    """The TEMPLATE, SYSTEM and stops of the catalog's dialogue format for `model`: the fallback for
    a model whose checkpoint is not at hand. A release with no sourced format has none to offer."""
    from blossom_edge.model.catalog import SOURCES
    from blossom_edge.ollama.chat_template import OllamaChat

    chat = model.chat
    if chat is None:
        raise UnsupportedError(f"no sourced chat format for {model.alias}: give its checkpoint directory, "
                               "whose own chat template is then used and proved")
    source = model.sources.get("chat_format")
    origin = (f"the model card's dialogue format ({SOURCES[source]})" if source
              else "the Blossom dialogue format (unverified for this release)")
    return OllamaChat(blossom_template(chat), chat.system, tuple(chat.stop_sequences()), origin)


def blossom_commands(model: ModelInfo, from_path: str, *, gpu: bool = False, num_ctx: int | None = None,
                     system: str | None = None, chat: OllamaChat | None = None) -> list[Command]:
    """The commands of a Blossom Modelfile: GGUF, template, system prompt, published sampling
    defaults, stop sequences, context size and (for `gpu`) full offload. `chat` is the prompt
    layout (derived from the checkpoint's template); without it the catalog's format is used."""
    if num_ctx is not None and num_ctx < 1:
        raise UsageError(f"--ctx must be a positive number of tokens, not {num_ctx}")
    chat = chat or catalog_chat(model)
    if system is not None and chat.ignores_system:
        raise UsageError(f"the chat template of {model.alias} ({chat.origin}) ignores system messages, "
                         "so --system would change nothing; leave it out")
    system_text = chat.system if system is None else system
    commands = [Command("model", from_path), Command("template", chat.template)]
    if system_text or system is not None:
        commands.append(Command("system", system_text))
    commands += [Command(name, _number(value)) for name, value in BLOSSOM_PARAMETERS]
    commands += [Command("stop", stop) for stop in chat.stops]
    commands.append(Command("num_ctx", str(num_ctx or min(model.context_length, DEFAULT_NUM_CTX))))
    if gpu:
        commands.append(Command("num_gpu", str(ALL_GPU_LAYERS)))
    return commands


def blossom_comment(model: ModelInfo, name: str, gpu: bool, chat: OllamaChat | None = None) -> str:
    """The header of a generated Modelfile: what it is for, where its template came from, and which
    template Ollama will actually render chats with."""
    from blossom_edge.ollama.server_rules import THINK_FILTER_FAMILIES, template_path

    chat = chat or catalog_chat(model)
    offload = "every layer on the GPU (num_gpu 999)" if gpu else "GPU offload left to Ollama"
    proof = f", proved equal on {chat.proved} probe conversations" if chat.proved else ""
    lines = [f"{name}: {model.repo_id} (base {model.base_model}), {offload}",
             f"TEMPLATE from {chat.origin}{proof}.",
             template_path(chat.jinja) + "."]
    family = model.architecture.removesuffix("ForCausalLM").lower()
    if family in THINK_FILTER_FAMILIES:
        lines.append("For the qwen3 family Ollama also drops <think>...</think> from earlier assistant turns "
                     "(server/routes.go filterThinkTags).")
    lines.append("Generated by blossom-edge: regenerate it rather than edit it.")
    return "\n".join(lines)


def blossom_modelfile(model: ModelInfo, from_path: str, *, name: str, gpu: bool = False,
                      num_ctx: int | None = None, system: str | None = None, chat: OllamaChat | None = None) -> str:
    """A complete, round-trip-checked Blossom Modelfile for the Ollama model `name`."""
    commands = blossom_commands(model, from_path, gpu=gpu, num_ctx=num_ctx, system=system, chat=chat)
    return render(commands, blossom_comment(model, name, gpu, chat))


def published_set(qtype: str) -> dict[str, str]:
    """File name → text of the published `azure99/blossom` Modelfiles: every size as cpu and
    gpu tag, plus `latest` and `gpu` for the default size, each FROM the `quantize` output name."""
    from blossom_edge.model.catalog import DEFAULT_SIZE, OLLAMA_NAMESPACE, published, resolve
    from blossom_edge.ollama.names import default_tag

    files: dict[str, str] = {}
    variants = [(m, default_tag(m, gpu), gpu) for m in published() for gpu in (False, True)]
    default = resolve(DEFAULT_SIZE)
    variants += [(default, "latest", False), (default, "gpu", True)]
    for model, tag, gpu in variants:
        text = blossom_modelfile(model, f"./{model.gguf_filename(qtype)}", name=f"{OLLAMA_NAMESPACE}:{tag}",
                                 gpu=gpu)
        files[f"{tag}.Modelfile"] = text
    return files


def write_published_set(directory: Path, qtype: str) -> tuple[list[str], list[str]]:
    """Write the published set into `directory`: (file names written, stale `*.Modelfile`s left alone)."""
    from blossom_edge.base.atomic import atomic_write_text

    directory.mkdir(parents=True, exist_ok=True)
    files = published_set(qtype)
    for name, text in files.items():
        atomic_write_text(directory / name, text)
    stale = sorted(p.name for p in directory.glob("*.Modelfile") if p.name not in files)
    return sorted(files), stale


def check_file(path: Path) -> tuple[list[Command], list[Problem], int]:
    """(commands, problems, start line of an unfinished command) for a Modelfile on disk, as Ollama sees it."""
    try:
        commands = read(path)
    except ModelfileError as exc:
        return [], [exc.problem], exc.start
    return commands, check(commands), 0


def from_path(gguf: Path, modelfile_dir: Path) -> str:
    """FROM as Ollama resolves it: relative to the Modelfile's directory."""
    try:
        rel = os.path.relpath(gguf.resolve(), modelfile_dir.resolve())
    except ValueError:
        return str(gguf.resolve())
    return rel if rel.startswith(("./", "../")) else f"./{rel}"
