"""What `ollama create` makes of a parsed Modelfile (at `OLLAMA_COMMIT`, `blossom_edge.ollama.go`).

`CreateRequest` in `parser/parser.go` turns the commands into an /api/create request, and
`api.FormatParams` (`api/types.go`) types each PARAMETER by the Go kind of its `api.Options`
field. Both refuse what the parser accepted, so `check` reports those refusals before a server
does, and `create_fields` builds the same request for the client to send.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from blossom_edge.ollama.go.modelfile_parser import KEYWORDS, Command, ModelfileError, Problem
from blossom_edge.ollama.go.strconv import parse_bool, parse_float32, parse_int64

# api.Options / api.Runner JSON names and the Go kind `ollama create` converts each value to.
INT_PARAMETERS = frozenset({"num_keep", "seed", "num_predict", "top_k", "repeat_last_n", "num_ctx",
                            "num_batch", "num_gpu", "main_gpu", "num_thread", "draft_num_predict"})
FLOAT_PARAMETERS = frozenset({"top_p", "min_p", "typical_p", "temperature", "repeat_penalty",
                              "presence_penalty", "frequency_penalty"})
BOOL_PARAMETERS = frozenset({"use_mmap"})
LIST_PARAMETERS = frozenset({"stop"})
# Accepted with a warning and then dropped by `ollama create`.
DEPRECATED_PARAMETERS = frozenset({"penalize_newline", "low_vram", "f16_kv", "logits_all", "vocab_only",
                                   "use_mlock", "mirostat", "mirostat_tau", "mirostat_eta"})


def parameter_value(name: str, raw: str) -> Any:
    """The typed value `ollama create` sends for `PARAMETER name raw`, or ValueError with
    Ollama's message."""
    if name in INT_PARAMETERS:
        try:
            return parse_int64(raw)
        except ValueError:
            raise ValueError(f"invalid int value [{raw}]") from None
    if name in FLOAT_PARAMETERS:
        try:
            return parse_float32(raw)
        except ValueError:
            raise ValueError(f"invalid float value [{raw}]") from None
    if name in BOOL_PARAMETERS:
        try:
            return parse_bool(raw)
        except ValueError:
            raise ValueError(f"invalid bool value [{raw}]") from None
    if name in LIST_PARAMETERS:
        return raw
    raise ValueError(f"unknown parameter '{name}'")


# golang.org/x/mod/semver IsValid, which parser.go applies to REQUIRES.
_SEMVER_NUM = r"(?:0|[1-9][0-9]*)"
_SEMVER_ID = r"(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_SEMVER = re.compile(rf"v{_SEMVER_NUM}(?:\.{_SEMVER_NUM}(?:\.{_SEMVER_NUM}"
                     rf"(?:-{_SEMVER_ID}(?:\.{_SEMVER_ID})*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?)?)?\Z")
# Every parsed command that is not a PARAMETER carries one of the keyword names.
_NOT_PARAMETERS = frozenset(KEYWORDS)


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
