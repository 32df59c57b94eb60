"""What Ollama hands llama-server when it renders a chat with the GGUF's own Jinja template.

Read from Ollama's source at `OLLAMA_COMMIT` (`blossom_edge.ollama.go`):

- `server/images.go` chatTemplateCapabilities: a GGUF chat template advertises `tools` (the words
  `tools` or `tool_call`) and `thinking` (`<think>` and `</think>`, or Qwen/DeepSeek's
  `content.split('</think>')` without `reasoning_content`). A Modelfile with no TEMPLATE gives the
  model no Go template (`HasGoTemplate` false, unless `ollama create` autodetects one of its
  built-in templates within Levenshtein distance 100 of the GGUF's, server/model.go
  detectChatTemplate), so `shouldUseGoTemplate` is false, `chatModeForModel` is native and
  llama-server renders the GGUF's template with `--jinja` (llm/llama_server.go appendJinjaArgs).
- `server/routes.go` ChatHandler: a model with the thinking capability gets `think: true` when the
  request leaves it unset, and a model without it refuses `think: true`; the Modelfile SYSTEM is
  prepended unless the chat starts with a system message; `filterThinkTags` strips
  `<think>…</think>` from assistant turns before the last user turn (qwen3 family only).
- `llm/llama_server.go` llamaServerChatRequest / llamaServerChatMessage: each message goes as
  role, content, `tool_call_id`, `name` (the tool name) and `tool_calls` with arguments encoded as
  a JSON string (top-level keys in the caller's order, nested objects' keys sorted, as Go
  re-encodes a value decoded into `any`); a message's `thinking` is *not* sent. Tools go as
  `api.Tool` re-encodes them (its own field order, unknown fields dropped). `think` becomes `chat_template_kwargs`
  `{"enable_thinking": bool}` plus `reasoning_effort` when it was a level string.

`llama_server_request` builds that request; `chat_template.native_render` renders it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

# api.ThinkValue levels a request may give (api/types.go UnmarshalJSON).
THINK_LEVELS = ("high", "medium", "low", "max")
# server/routes.go filterThinkTags: families whose earlier answers lose their think block.
THINK_FILTER_FAMILIES = frozenset({"qwen3"})


class ThinkRefused(ValueError):
    """The request Ollama answers with 400 ("does not support thinking")."""


def chat_template_capabilities(chat_template: str | None) -> list[str]:
    """images.go chatTemplateCapabilities: what a GGUF chat template advertises."""
    if not chat_template:
        return []
    caps = []
    if "tools" in chat_template or "tool_call" in chat_template:
        caps.append("tools")
    split = "content.split('</think>')" in chat_template or 'content.split("</think>")' in chat_template
    if ("<think>" in chat_template and "</think>" in chat_template) or (
            split and "reasoning_content" not in chat_template and "<SPECIAL_12>" not in chat_template):
        caps.append("thinking")
    return caps


def effective_think(think: bool | str | None, capabilities: Sequence[str]) -> bool | str | None:
    """ChatHandler: unset becomes true for a thinking model; true on a model without it is refused."""
    if think is not None and not isinstance(think, bool) and think not in THINK_LEVELS:
        raise ValueError(f"invalid think value: {think!r}")
    if "thinking" in capabilities:
        return True if think is None else think
    if think not in (None, False):
        raise ThinkRefused("the model does not support thinking")
    return think


def template_kwargs(think: bool | str | None) -> dict[str, Any] | None:
    """llamaServerChatTemplateKwargs."""
    if think is None:
        return None
    kwargs: dict[str, Any] = {"enable_thinking": think is True or think in THINK_LEVELS}
    if isinstance(think, str):
        kwargs["reasoning_effort"] = think
    return kwargs


def strip_think(text: str) -> str:
    """thinking.Parser with <think>/</think>: the content once a leading think block is removed."""
    stripped = text.lstrip()
    if not stripped.startswith("<think>"):
        return text
    end = stripped.find("</think>")
    return "" if end < 0 else stripped[end + len("</think>"):].lstrip()


def _ordered(value: dict[str, Any], keys: Sequence[tuple[str, bool]]) -> dict[str, Any]:
    """A Go struct's JSON: its fields in declaration order, `omitempty` ones left out when empty."""
    out: dict[str, Any] = {}
    for key, omitempty in keys:
        item = value.get(key)
        if omitempty and item in (None, "", [], {}):
            continue
        out[key] = item
    return out


def _any(value: Any) -> Any:
    """A value Go decodes into `any`: its objects become map[string]any, which marshal in sorted key order."""
    if isinstance(value, dict):
        return {k: _any(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_any(v) for v in value]
    return value


def _property(prop: Any) -> Any:
    """api.ToolProperty: anyOf, type, items, description, enum, properties, required."""
    if not isinstance(prop, dict):
        return prop
    out = _ordered(prop, [("anyOf", True), ("type", True), ("items", True), ("description", True),
                          ("enum", True), ("properties", True), ("required", True)])
    for key in ("items", "enum"):
        if key in out:
            out[key] = _any(out[key])
    if "anyOf" in out:
        out["anyOf"] = [_property(p) for p in out["anyOf"]]
    if "properties" in out:
        out["properties"] = {k: _property(v) for k, v in out["properties"].items()}
    return out


def encode_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """A tool as api.Tool decodes and re-encodes it (Tool, ToolFunction, ToolFunctionParameters)."""
    function = tool.get("function") or {}
    params = function.get("parameters") or {}
    encoded_params = _ordered(params, [("type", False), ("$defs", True), ("items", True), ("required", True),
                                       ("properties", False)])
    for key in ("$defs", "items"):
        if key in encoded_params:
            encoded_params[key] = _any(encoded_params[key])
    properties = encoded_params.get("properties")
    encoded_params["properties"] = None if properties is None else {k: _property(v) for k, v in properties.items()}
    encoded_function = _ordered(function, [("name", False), ("description", True)])
    encoded_function.setdefault("name", "")
    encoded_function["parameters"] = encoded_params
    out = _ordered(tool, [("type", False), ("items", True)])
    out.setdefault("type", "")
    if "items" in out:
        out["items"] = _any(out["items"])
    out["function"] = encoded_function
    return json.loads(json.dumps(out))


def api_messages(messages: Sequence[dict[str, Any]], system: str, family: str = "") -> list[dict[str, Any]]:
    """The api.Message list ChatHandler renders: roles lower-cased (Message.UnmarshalJSON), SYSTEM
    prepended unless the chat starts with its own, earlier think blocks dropped for qwen3."""
    msgs = [dict(m, role=str(m["role"]).lower()) for m in messages]
    if msgs and msgs[0]["role"] != "system" and system:
        msgs.insert(0, {"role": "system", "content": system})
    if family in THINK_FILTER_FAMILIES:
        last_user = max((i for i, m in enumerate(msgs) if m["role"] == "user"), default=-1)
        for i, m in enumerate(msgs):
            if m["role"] == "assistant" and i < last_user:
                m["content"] = strip_think(m.get("content", ""))
    return msgs


def go_json(value: Any) -> str:
    """encoding/json.Marshal: compact, UTF-8 kept, `<`, `>`, `&`, U+2028 and U+2029 escaped."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for ch, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                        ("\u2029", "\\u2029")):
        text = text.replace(ch, escaped)
    return text


def llama_server_message(msg: dict[str, Any]) -> dict[str, Any]:
    """llamaServerChatMessage: what one message becomes on the wire (no `thinking`)."""
    converted: dict[str, Any] = {"role": msg["role"]}
    if msg.get("tool_call_id"):
        converted["tool_call_id"] = msg["tool_call_id"]
    if msg.get("tool_name"):
        converted["name"] = msg["tool_name"]
    if msg.get("tool_calls"):
        converted["tool_calls"] = [
            {**({"id": call["id"]} if call.get("id") else {}), "index": call["function"].get("index", 0),
             "type": "function",
             "function": {"name": call["function"]["name"],
                          "arguments": go_json({k: _any(v) for k, v in
                                                (call["function"].get("arguments") or {}).items()})}}
            for call in msg["tool_calls"]]
    converted["content"] = msg.get("content", "")
    return converted


def llama_server_request(messages: Sequence[dict[str, Any]], *, system: str, tools: Sequence[dict[str, Any]] | None,
                         think: bool | str | None, capabilities: Sequence[str], family: str = "") -> dict[str, Any]:
    """The body of the /v1/chat/completions request Ollama sends llama-server for an /api/chat
    request (`messages` in Ollama's API form: `thinking`, `tool_calls`, `tool_name`)."""
    body: dict[str, Any] = {"messages": [llama_server_message(m) for m in api_messages(messages, system, family)]}
    if tools:
        body["tools"] = [encode_tool(t) for t in tools]
    kwargs = template_kwargs(effective_think(think, capabilities))
    if kwargs is not None:
        body["chat_template_kwargs"] = kwargs
    return body
