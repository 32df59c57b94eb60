"""Enough of Go's text/template to execute Ollama chat templates, so a TEMPLATE can be proved
against the checkpoint's own Jinja template before it is written. `template/template.go` runs
TEMPLATEs with the text/template of the Go its `go.mod` names (at `OLLAMA_COMMIT`, `blossom_edge.ollama.go`).

It covers what Ollama chat templates use: text, actions with `{{-`/`-}}` trimming, if / else if /
else / end, range with `$i, $m :=` (and else), `:=` variables, fields, `$`, string and number
literals, parentheses, and the functions eq, ne, not, and, or, len, slice, index. Anything else
is an error rather than a guess: a template we cannot execute is one we cannot prove.
"""

from __future__ import annotations

import re
from typing import Any

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)
_TOKEN = re.compile(r'\s*(\(|\)|:=|,|"(?:[^"\\]|\\.)*"|-?\d+|\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*'
                    r"|(?:\.[A-Za-z0-9_]+)+|\.|[A-Za-z_][A-Za-z0-9_]*)")


class TemplateError(ValueError):
    """A construct outside the supported subset, or a template that does not parse."""


def truth(value: Any) -> bool:
    """Go's notion of a true value: not the zero value of its type, not an empty collection."""
    return value not in (None, False, 0, "") and not (isinstance(value, (list, dict, tuple)) and not value)


def _index(value: Any, keys: tuple) -> Any:
    for key in keys:
        value = value[key]
    return value


_FUNCS = {
    "eq": lambda a, *bs: any(a == b for b in bs),
    "ne": lambda a, b: a != b,
    "not": lambda a: not truth(a),
    "and": lambda *xs: next((x for x in xs if not truth(x)), xs[-1]),
    "or": lambda *xs: next((x for x in xs if truth(x)), xs[-1]),
    "len": len,
    "slice": lambda x, i=0, j=None: x[i:j],
    "index": lambda x, *keys: _index(x, keys),
}


class _Func(str):
    pass


_DECLARED = object()


class GoTemplate:
    """A parsed template; `execute(data)` renders it with `data` as dot."""

    def __init__(self, text: str) -> None:
        self.items: list[tuple[str, str]] = []
        pos = 0
        for match in _ACTION.finditer(text):
            literal = text[pos:match.start()]
            if match.group(1):
                literal = literal.rstrip()
            if self.items and self.items[-1][0] == "trim":
                self.items.pop()
                literal = literal.lstrip()
            self.items.append(("text", literal))
            self.items.append(("action", match.group(2).strip()))
            if match.group(3):
                self.items.append(("trim", ""))
            pos = match.end()
        tail = text[pos:]
        if self.items and self.items[-1][0] == "trim":
            self.items.pop()
            tail = tail.lstrip()
        self.items.append(("text", tail))
        self.tree, end = self._parse(0)
        if end != len(self.items):
            raise TemplateError("unbalanced {{ end }}")

    def _parse(self, i: int, stop: tuple[str, ...] = ()) -> tuple[list, int]:
        nodes: list = []
        while i < len(self.items):
            kind, body = self.items[i]
            word = body.split(" ", 1)[0] if kind == "action" else ""
            if kind == "action" and (word in stop or body.startswith("else")):
                if not stop:
                    raise TemplateError(f"unexpected {{{{ {body} }}}}")
                return nodes, i
            if kind == "text":
                nodes.append(("text", body))
                i += 1
            elif word == "if":
                node, i = self._parse_if(body[2:].strip(), i + 1)
                nodes.append(node)
            elif word == "range":
                header = body[5:].strip()
                names: list[str] = []
                if ":=" in header:
                    left, header = header.split(":=", 1)
                    names = [n.strip() for n in left.split(",")]
                inner, i = self._parse(i + 1, ("end",))
                other: list = []
                if self._at(i) == "else":
                    other, i = self._parse(i + 1, ("end",))
                nodes.append(("range", names, header.strip(), inner, other))
                i += 1
            elif word in ("with", "define", "template", "block", "break", "continue"):
                raise TemplateError(f"{{{{ {word} }}}} is outside the supported subset")
            else:
                nodes.append(("action", body))
                i += 1
        if stop:
            raise TemplateError("missing {{ end }}")
        return nodes, i

    def _at(self, i: int) -> str:
        if i >= len(self.items):
            raise TemplateError("missing {{ end }}")
        return self.items[i][1]

    def _parse_if(self, cond: str, i: int) -> tuple[tuple, int]:
        branches = []
        while True:
            body, i = self._parse(i, ("end",))
            branches.append((cond, body))
            action = self._at(i)
            if action.startswith("else if "):
                cond, i = action[len("else if "):].strip(), i + 1
                continue
            if action == "else":
                other, i = self._parse(i + 1, ("end",))
                return ("if", branches, other), i + 1
            return ("if", branches, []), i + 1

    def execute(self, data: dict[str, Any]) -> str:
        out: list[str] = []
        self._run(self.tree, data, [{"$": data}], out)
        return "".join(out)

    def _run(self, nodes: list, dot: Any, scopes: list[dict], out: list[str]) -> None:
        for node in nodes:
            if node[0] == "text":
                out.append(node[1])
            elif node[0] == "action":
                value = self._pipeline(node[1], dot, scopes)
                if isinstance(value, bool):
                    out.append("true" if value else "false")
                elif value is not _DECLARED:
                    out.append("" if value is None else str(value))
            elif node[0] == "if":
                for cond, body in node[1]:
                    if truth(self._pipeline(cond, dot, scopes)):
                        self._run(body, dot, scopes + [{}], out)
                        break
                else:
                    self._run(node[2], dot, scopes + [{}], out)
            else:
                _, names, header, body, other = node
                items = self._pipeline(header, dot, scopes) or []
                for index, item in enumerate(items):
                    scope = dict(zip(names, [index, item] if len(names) == 2 else [item]))
                    self._run(body, item, scopes + [scope], out)
                if not items:
                    self._run(other, dot, scopes + [{}], out)

    def _pipeline(self, text: str, dot: Any, scopes: list[dict]) -> Any:
        tokens = _TOKEN.findall(text)
        if "".join(tokens) != re.sub(r"\s+", "", text):
            raise TemplateError(f"cannot read the action {text!r}")
        if len(tokens) > 2 and tokens[1] == ":=":
            scopes[-1][tokens[0]] = self._command(tokens[2:], dot, scopes)
            return _DECLARED
        return self._command(tokens, dot, scopes)

    def _command(self, tokens: list[str], dot: Any, scopes: list[dict]) -> Any:
        args, i = [], 0
        while i < len(tokens):
            if tokens[i] == "(":
                depth, j = 1, i + 1
                while depth:
                    depth += {"(": 1, ")": -1}.get(tokens[j], 0)
                    j += 1
                args.append(self._command(tokens[i + 1:j - 1], dot, scopes))
                i = j
            else:
                args.append(self._operand(tokens[i], dot, scopes))
                i += 1
        if args and isinstance(args[0], _Func):
            return _FUNCS[args[0]](*args[1:])
        if len(args) != 1:
            raise TemplateError(f"not a function: {tokens[0] if tokens else '(empty)'}")
        return args[0]

    def _operand(self, token: str, dot: Any, scopes: list[dict]) -> Any:
        if token.startswith('"'):
            return token[1:-1].encode().decode("unicode_escape")
        if re.fullmatch(r"-?\d+", token):
            return int(token)
        if token in _FUNCS:
            return _Func(token)
        if token == ".":
            return dot
        if token.startswith("$"):
            name, *fields = token.split(".")
            found = [s[name] for s in reversed(scopes) if name in s]
            if not found:
                raise TemplateError(f"undefined variable {name}")
            value = found[0]
        elif token.startswith("."):
            value, fields = dot, token.split(".")[1:]
        else:
            raise TemplateError(f"function {token!r} is outside the supported subset")
        for key in fields:
            value = value.get(key) if isinstance(value, dict) else getattr(value, key)
        return value
