"""Blossom's Ollama Modelfiles: rendered from the model's chat template or the catalog, written
so Ollama reads them back exactly, and checked as a Modelfile on disk.

How Ollama reads a Modelfile is `go.modelfile_parser` and `go.create_request`; this module holds
what Blossom decides: the TEMPLATE, SYSTEM, sampling defaults and context size it writes, the
writer that picks for each value a spelling Ollama's parser reads back unchanged (refusing a
value that has none, and parsing the whole file back before returning it), and the size limit
and template proof applied to a Modelfile someone hands in.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from blossom_edge.base.errors import UnsupportedError, UsageError
from blossom_edge.ollama.go.create_request import check
from blossom_edge.ollama.go.modelfile_parser import (
    KEYWORDS,
    MESSAGE_ROLES,
    NEWLINE,
    SPACE,
    Command,
    ModelfileError,
    Problem,
    decode,
    parse,
)
from blossom_edge.ollama.go.strconv import is_print

if TYPE_CHECKING:
    from blossom_edge.model.catalog import ChatFormat, ModelInfo
    from blossom_edge.ollama.chat_template import OllamaChat

# The sampling defaults of the published azure99/blossom models.
BLOSSOM_PARAMETERS: tuple[tuple[str, float | int], ...] = (
    ("temperature", 0.5), ("top_p", 0.85), ("top_k", 50), ("repeat_penalty", 1.05))
# Community convention for "offload every layer": Ollama passes num_gpu on as a layer count.
ALL_GPU_LAYERS = 999


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
            if not is_print(ch) and ch not in SPACE:
                label = unicodedata.name(ch, "a control character")
                return (f"{what} line {number} contains U+{ord(ch):04X} ({label}), which Ollama's Modelfile "
                        "parser silently drops; remove or replace it")
    for number, text in enumerate(lines[:-1], 1):
        if text.rstrip(SPACE).endswith('"""'):
            return (f'{what} line {number} ends with """, which Ollama reads as the end of the value '
                    "(Modelfiles have no escape character); reword that line")
    return f"{what} cannot be written so that Ollama reads it back unchanged"


def quote(value: str, what: str = "value") -> str:
    """The Modelfile spelling of `value` that Ollama reads back unchanged.

    Tries, in order: the bare text (one line), `\"\"\"...\"\"\"` for text with line breaks, then
    `"..."`; each candidate is parsed back. Raises UnsupportedError naming the offending line
    of the value when no spelling works.
    """
    multi_line = any(c in value for c in NEWLINE)
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
    if cmd.name in KEYWORDS:
        keyword = KEYWORDS[cmd.name]
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


# Ollama (docs/modelfile.mdx, server/routes.go modelOptions) drafts with a GGUF's embedded MTP
# tensors only when draft_num_predict is set (llm/llama_server.go passes it on as
# --spec-draft-n-max); 4 is the value its docs show and its default for a separate draft model.
MTP_DRAFT_TOKENS = 4

# Ollama reserves the KV cache for the whole num_ctx up front: Qwen1.5-4B's 32k context
# would take over 10 GB, more than most phones have. Published tags default to this
# (what Ollama itself uses) and `--ctx` raises it up to the model's own limit, never past it.
DEFAULT_NUM_CTX = 4096


def capped_num_ctx(model: ModelInfo, num_ctx: int | None) -> int:
    """The context a Modelfile asks for: `--ctx`, else DEFAULT_NUM_CTX, never past the model's own
    context (positions past it were never trained, and Ollama would reserve a cache for them). A model
    outside the catalog whose context is not known (0) is capped by DEFAULT_NUM_CTX alone."""
    wanted = num_ctx or DEFAULT_NUM_CTX
    return min(wanted, model.context_length) if model.context_length else wanted


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
                     system: str | None = None, chat: OllamaChat | None = None, mtp_layers: int = 0,
                     projector: str | None = None) -> list[Command]:
    """The commands of a Blossom Modelfile: GGUF (and a multimodal model's vision projector as a
    second FROM, which Ollama stores as a projector layer), template, system prompt, published
    sampling defaults, stop sequences, context size, (for `gpu`) full offload and (for a GGUF
    with `mtp_layers` MTP/nextn layers) speculative drafting with them. `chat` is the prompt
    layout (derived from the checkpoint's template); without it the catalog's format is used."""
    if num_ctx is not None and num_ctx < 1:
        raise UsageError(f"--ctx must be a positive number of tokens, not {num_ctx}")
    chat = chat or catalog_chat(model)
    if system is not None and chat.ignores_system:
        raise UsageError(f"the chat template of {model.alias} ({chat.origin}) ignores system messages, "
                         "so --system would change nothing; leave it out")
    system_text = chat.system if system is None else system
    commands = [Command("model", from_path)]
    if projector is not None:
        commands.append(Command("model", projector))
    if chat.template is not None:
        commands.append(Command("template", chat.template))
    if system_text or system is not None:
        commands.append(Command("system", system_text))
    commands += [Command(name, _number(value)) for name, value in BLOSSOM_PARAMETERS]
    commands += [Command("stop", stop) for stop in chat.stops]
    commands.append(Command("num_ctx", str(capped_num_ctx(model, num_ctx))))
    if gpu:
        commands.append(Command("num_gpu", str(ALL_GPU_LAYERS)))
    if mtp_layers:
        commands.append(Command("draft_num_predict", str(MTP_DRAFT_TOKENS)))
    return commands


def blossom_comment(model: ModelInfo, name: str, gpu: bool, chat: OllamaChat | None = None,
                    mtp_layers: int = 0) -> str:
    """The header of a generated Modelfile: what it is for, where its template came from, and which
    template Ollama will actually render chats with."""
    from blossom_edge.ollama.go.server import THINK_FILTER_FAMILIES, template_path

    chat = chat or catalog_chat(model)
    offload = "every layer on the GPU (num_gpu 999)" if gpu else "GPU offload left to Ollama"
    lines = [f"{name}: {model.repo_id} (base {model.base_model}), {offload}"]
    if chat.native is not None:
        lines += _native_lines(chat)
    else:
        proof = f", proved equal on {chat.proved} probe conversations" if chat.proved else ""
        lines += [f"TEMPLATE from {chat.origin}{proof}.", template_path(chat.jinja) + "."]
    family = model.architecture.removesuffix("ForCausalLM").lower()
    if family in THINK_FILTER_FAMILIES:
        lines.append("For the qwen3 family Ollama also drops <think>...</think> from earlier assistant turns "
                     "(server/routes.go filterThinkTags).")
    if mtp_layers:
        lines.append(f"The GGUF carries {mtp_layers} MTP (nextn) layer(s): draft_num_predict {MTP_DRAFT_TOKENS} "
                     "makes Ollama draft with them (docs/modelfile.mdx; unset, it does not).")
    lines.append("Generated by blossom-edge: regenerate it rather than edit it.")
    return "\n".join(lines)


def _native_lines(chat: OllamaChat) -> list[str]:
    """The header of a Modelfile without TEMPLATE: which template Ollama renders and what was proved."""
    proof = chat.native
    assert proof is not None
    lines = [f"No TEMPLATE: the chat template of {chat.origin} has {' and '.join(proof.capabilities)}, so Ollama",
             "renders chats with the GGUF's own tokenizer.chat_template through llama-server's Jinja (no Go",
             "template: server/routes.go shouldUseGoTemplate; keep TEMPLATE, RENDERER and PARSER out of this file).",
             f"Proved equal to the model's template on {proof.probes} probe conversations (think unset, on, off and",
             "each level; tools; tool calls and results; earlier reasoning), as Ollama sends them to llama-server."]
    if proof.without_reasoning:
        lines.append(f"Ollama sends no earlier reasoning (message.thinking) to llama-server: on {len(proof.without_reasoning)} "
                     f"of them ({'; '.join(proof.without_reasoning)})")
        lines.append("the model's template would show reasoning the prompt leaves out.")
    if proof.refused:
        lines.append("Answered with an error, not a prompt (Ollama refuses think on a model without thinking; a "
                     f"template refuses a level it does not know): {'; '.join(proof.refused)}.")
    return lines


def blossom_modelfile(model: ModelInfo, from_path: str, *, name: str, gpu: bool = False,
                      num_ctx: int | None = None, system: str | None = None, chat: OllamaChat | None = None,
                      mtp_layers: int = 0, projector: str | None = None) -> str:
    """A complete, round-trip-checked Blossom Modelfile for the Ollama model `name`."""
    commands = blossom_commands(model, from_path, gpu=gpu, num_ctx=num_ctx, system=system, chat=chat,
                                mtp_layers=mtp_layers, projector=projector)
    return render(commands, blossom_comment(model, name, gpu, chat, mtp_layers))


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


def from_path(gguf: Path, modelfile_dir: Path) -> str:
    """FROM as Ollama resolves it: relative to the Modelfile's directory."""
    try:
        rel = os.path.relpath(gguf.resolve(), modelfile_dir.resolve())
    except ValueError:
        return str(gguf.resolve())
    return rel if rel.startswith(("./", "../")) else f"./{rel}"


def save(path: Path, text: str, source: str) -> None:
    """Write a rendered Modelfile at `path`: never over the file it was rendered from, and never
    half-written, since Ollama would read a truncated TEMPLATE without complaint."""
    from blossom_edge.base.atomic import atomic_write_text, refuse_overwriting

    refuse_overwriting(path, [Path(source)])
    atomic_write_text(path, text)


# ---------------------------------------------------------------------------------------------
# Checking a Modelfile someone hands in


# The largest file `read` accepts: Ollama's Modelfiles are a few kB, so anything bigger is some
# other file, and /dev/zero or a FIFO would otherwise be read forever.
MAX_MODELFILE_BYTES = 4 << 20


def read(path: Path) -> list[Command]:
    """Parse a Modelfile on disk: a regular file of at most MAX_MODELFILE_BYTES."""
    from blossom_edge.base.bounded_read import read_small_file

    return parse(decode(read_small_file(Path(path), MAX_MODELFILE_BYTES, what="a Modelfile")))


@dataclass(frozen=True)
class TemplateMatch:
    """Whether a Modelfile's TEMPLATE and SYSTEM prompt as a model's own chat template does: Ollama
    renders any TEMPLATE it can parse, so a wrong one shows only in the model's answers."""

    against: str
    difference: str | None

    @property
    def matches(self) -> bool:
        return self.difference is None


def template_match(commands: Sequence[Command], against: Path) -> TemplateMatch:
    """Compare the TEMPLATE and SYSTEM of `commands` with the chat template of the checkpoint
    directory or GGUF `against`, on the same probe conversations a written TEMPLATE is proved on."""
    from blossom_edge.base.errors import NotFoundError
    from blossom_edge.ollama import chat_template

    if not against.exists():
        raise NotFoundError(f"no such checkpoint directory or GGUF file: {against}")
    template = chat_template.from_source(against)
    if template is None:
        raise UnsupportedError(f"{against} carries no chat template to compare the TEMPLATE with")
    from blossom_edge.ollama.go.native_chat import chat_template_capabilities

    fields = {c.name: c.args for c in commands if c.name in ("template", "system")}
    if "template" not in fields and chat_template_capabilities(template.text):
        # No TEMPLATE over a template with tools or thinking: Ollama renders the GGUF's own, which the
        # converter copies from this checkpoint (or which this GGUF is).
        try:
            chat_template.prove_native(template, template, fields.get("system", ""))
        except UnsupportedError as exc:
            return TemplateMatch(template.origin, str(exc))
        return TemplateMatch(template.origin, None)
    if "template" not in fields:
        return TemplateMatch(template.origin, "the Modelfile has no TEMPLATE")
    difference = chat_template.first_difference(fields["template"], fields.get("system", ""), template)
    return TemplateMatch(template.origin, None if difference is None else str(difference))


@dataclass(frozen=True)
class FileCheck:
    """A Modelfile on disk as Ollama sees it. `start` is the line of a command the parser found
    unfinished (0 when none), which Ollama's own message leaves out; `template` is set only when
    a chat template to match was given and the file has no errors."""

    path: Path
    commands: list[Command]
    problems: list[Problem]
    start: int
    template: TemplateMatch | None

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if not p.warning]

    @property
    def ok(self) -> bool:
        return not self.errors and (self.template is None or self.template.matches)

    @property
    def refusal(self) -> str | None:
        """Why the file fails, in one line: the first error Ollama would stop at, else the first
        probe the TEMPLATE prompts differently on."""
        if self.errors:
            return f"{self.path}: Ollama would refuse this Modelfile: {self.errors[0].message}"
        if self.template is not None and not self.template.matches:
            return f"{self.path}: TEMPLATE does not prompt as {self.template.against}: {self.template.difference}"
        return None


def check_file(path: Path, against: Path | None = None) -> FileCheck:
    """Read `path` as Ollama does, list what `ollama create` would refuse or warn about, and, when the
    file is otherwise sound and `against` is given, compare its TEMPLATE with that model's own."""
    try:
        commands = read(path)
    except ModelfileError as exc:
        return FileCheck(path, [], [exc.problem], exc.start, None)
    problems = check(commands)
    sound = all(p.warning for p in problems)
    match = template_match(commands, against) if against is not None and sound else None
    return FileCheck(path, commands, problems, 0, match)
