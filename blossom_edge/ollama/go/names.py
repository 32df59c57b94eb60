"""Ollama model names, split and checked by `types/model/name.go` (at `OLLAMA_COMMIT`, `blossom_edge.ollama.go`).

Names are checked before anything is sent or quantized, with Ollama's own rules, so a bad
name costs one line, not a twenty-minute quantize.
"""

from __future__ import annotations

from dataclasses import dataclass

from blossom_edge.base.errors import UsageError

# Defaults and the characters each part may hold.
DEFAULT_HOST, DEFAULT_NAMESPACE, DEFAULT_TAG = "registry.ollama.ai", "library", "latest"
_MISSING = "!MISSING!"
# The `kind` part (host/namespace/kind/model) is not in the pinned commit's name.go: it follows
# the five-part names of an unmerged Ollama branch (agents), so it is the one rule here to re-check.
_KINDS = ("skill", "agent", "mcp")
_PART_RULES = {
    "host": (350, "-_.:", "letters, digits, '_', '-', '.' and ':'"),
    "namespace": (80, "-_", "letters, digits, '_' and '-'"),
    "model": (80, "-_.", "letters, digits, '_', '-' and '.'"),
    "tag": (80, "-_.", "letters, digits, '_', '-' and '.'"),
}


@dataclass(frozen=True)
class ModelName:
    """A model name split as Ollama splits it, with Ollama's defaults filled in."""

    host: str
    namespace: str
    model: str
    tag: str
    kind: str = ""

    def __str__(self) -> str:
        """The shortest form Ollama displays: `azure99/blossom:4b`, `llama3:latest`."""
        prefix = f"{self.host}/{self.namespace}/" if self.host != DEFAULT_HOST else (
            f"{self.namespace}/" if self.namespace != DEFAULT_NAMESPACE else "")
        kind = f"{self.kind}/" if self.kind else ""
        return f"{prefix}{kind}{self.model}:{self.tag}"


def _cut_last(text: str, sep: str) -> tuple[str, str, bool]:
    before, found, after = text.rpartition(sep)
    if not found:
        return text, "", False
    return before or _MISSING, after or _MISSING, True


def _bare_parts(text: str) -> dict[str, str]:
    parts = {"host": "", "namespace": "", "kind": "", "model": "", "tag": ""}
    if text.rfind(":") > text.rfind("/"):
        text, parts["tag"], _ = _cut_last(text, ":")
    text, parts["model"], promised = _cut_last(text, "/")
    if not promised:
        parts["model"] = text
        return parts
    text, second, promised = _cut_last(text, "/")
    if not promised:
        parts["namespace"] = text
        return parts
    if second not in _KINDS:
        parts["namespace"] = second
        parts["host"] = text.split("://", 1)[-1]
        return parts
    parts["kind"] = second
    text, parts["namespace"], promised = _cut_last(text, "/")
    if not promised:
        parts["namespace"] = text
        return parts
    parts["host"] = text.split("://", 1)[-1]
    return parts


def _part_problem(kind: str, value: str) -> str | None:
    limit, extra, allowed = _PART_RULES[kind]
    if value == _MISSING or not value:
        return f"the {kind} is empty"
    if len(value) > limit:
        return f"the {kind} is longer than {limit} characters"
    if not (value[0].isascii() and (value[0].isalnum() or value[0] == "_")):
        return f"the {kind} '{value}' must start with a letter, digit or '_'"
    bad = [c for c in value[1:] if not (c.isascii() and c.isalnum()) and c not in extra]
    if bad:
        return f"the {kind} '{value}' has '{bad[0]}'; it may only hold {allowed}"
    return None


def parse_model_name(text: str) -> ModelName:
    """Split and check a model name by Ollama's rules, or raise UsageError saying which part is wrong."""
    parts = _bare_parts(text)
    for key, default in (("host", DEFAULT_HOST), ("namespace", DEFAULT_NAMESPACE), ("tag", DEFAULT_TAG)):
        parts[key] = parts[key] or default
    for kind in ("host", "namespace", "model", "tag"):
        problem = _part_problem(kind, parts[kind])
        if problem:
            raise UsageError(f"invalid Ollama model name '{text}': {problem}")
    return ModelName(parts["host"], parts["namespace"], parts["model"], parts["tag"], parts["kind"])


def check_tag(tag: str) -> str:
    """A tag on its own, checked by the same rules."""
    problem = _part_problem("tag", tag)
    if problem:
        raise UsageError(f"invalid Ollama tag '{tag}': {problem}")
    return tag
