"""The Blossom TEMPLATE, rendered the way Ollama renders it, must give the model card's dialogue.

Ollama templates are Go text/template. `GoTemplate` below interprets the template text for the
constructs Ollama chat templates use (text, actions with `{{-`/`-}}` trimming, if / else if /
else / end, range with `$i, $m :=`, `:=` variables, fields, `$`, string and number literals, and
the functions eq, ne, not, and, or, len, slice, index); it knows nothing about Blossom. `ollama_prompt`
mirrors what Ollama does before executing a `.Messages` template: the Modelfile SYSTEM becomes a
leading system message unless the chat brings its own, system messages are joined into `.System`,
consecutive messages of one role are merged with a blank line, and `.Response` is empty.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from blossom_edge.catalog import BLOSSOM_V5_SYSTEM, BLOSSOM_V6_SYSTEM, resolve
from blossom_edge.ollama import modelfile as mf

# ------------------------------------------------------------------------------------- evaluator

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)
_TOKEN = re.compile(r'\s*(\(|\)|:=|,|"(?:[^"\\]|\\.)*"|-?\d+|\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*'
                    r"|(?:\.[A-Za-z0-9_]+)+|\.|[A-Za-z_][A-Za-z0-9_]*)")


def _truth(value: Any) -> bool:
    return value not in (None, False, 0, "") and not (isinstance(value, (list, dict)) and not value)


_FUNCS = {
    "eq": lambda a, *bs: any(a == b for b in bs),
    "ne": lambda a, b: a != b,
    "not": lambda a: not _truth(a),
    "and": lambda *xs: next((x for x in xs if not _truth(x)), xs[-1]),
    "or": lambda *xs: next((x for x in xs if _truth(x)), xs[-1]),
    "len": len,
    "slice": lambda x, i=0, j=None: x[i:j],
    "index": lambda x, *keys: _index(x, keys),
}


def _index(value: Any, keys: tuple) -> Any:
    for key in keys:
        value = value[key]
    return value


class GoTemplate:
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
        assert end == len(self.items), "unbalanced {{ end }}"

    def _parse(self, i: int, stop: tuple[str, ...] = ()) -> tuple[list, int]:
        nodes: list = []
        while i < len(self.items):
            kind, body = self.items[i]
            word = body.split(" ", 1)[0] if kind == "action" else ""
            if kind == "action" and (word in stop or body.startswith("else")):
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
                if self.items[i][1] == "else":
                    other, i = self._parse(i + 1, ("end",))
                nodes.append(("range", names, header.strip(), inner, other))
                i += 1
            else:
                nodes.append(("action", body))
                i += 1
        return nodes, i

    def _parse_if(self, cond: str, i: int) -> tuple[tuple, int]:
        branches = []
        while True:
            body, i = self._parse(i, ("end",))
            branches.append((cond, body))
            action = self.items[i][1]
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
                    if _truth(self._pipeline(cond, dot, scopes)):
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
        assert "".join(tokens) == re.sub(r"\s+", "", text), f"cannot tokenize {text!r}"
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
        if isinstance(args[0], _Func):
            return _FUNCS[args[0]](*args[1:])
        assert len(args) == 1, f"not a function: {tokens[0]}"
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
            value = next(s[name] for s in reversed(scopes) if name in s)
        else:
            value, fields = dot, token.split(".")[1:]
        for key in fields:
            value = value.get(key) if isinstance(value, dict) else getattr(value, key)
        return value


class _Func(str):
    pass


_DECLARED = object()


def ollama_prompt(template: str, model_system: str, messages: list[dict[str, str]]) -> str:
    if model_system and (not messages or messages[0]["role"] != "system"):
        messages = [{"role": "system", "content": model_system}, *messages]
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    collated: list[dict[str, str]] = []
    for m in messages:
        if collated and collated[-1]["Role"] == m["role"]:
            collated[-1]["Content"] += "\n\n" + m["content"]
        else:
            collated.append({"Role": m["role"], "Content": m["content"]})
    return GoTemplate(template).execute({"System": system, "Messages": collated, "Tools": None, "Response": ""})


# ------------------------------------------------------------------------------- the evaluator itself


@pytest.mark.parametrize("template, data, expected", [
    ("{{ if .A }}yes{{ else }}no{{ end }}", {"A": ""}, "no"),
    ("{{ if .A }}a{{ else if .B }}b{{ else }}c{{ end }}", {"A": 0, "B": "x"}, "b"),
    ("{{ range $i, $x := .L }}{{ $i }}={{ $x }};{{ end }}", {"L": ["p", "q"]}, "0=p;1=q;"),
    ("{{ range .L }}[{{ . }}]{{ else }}empty{{ end }}", {"L": []}, "empty"),
    ("a  {{- .X -}}  b\n", {"X": 1}, "a1b\n"),
    ("{{ len .L }} {{ index .L 1 }} {{ len (slice .L 1) }}", {"L": [5, 6, 7]}, "3 6 2"),
    ('{{ eq .A "x" "y" }} {{ and 1 0 }} {{ or 0 "" 3 }} {{ not .A }}', {"A": "y"}, "true 0 3 false"),
    ("{{ range $i, $m := .M }}{{ $last := eq (len (slice $.M $i)) 1 }}{{ if $last }}last:{{ $m.C }}{{ end }}{{ end }}",
     {"M": [{"C": "a"}, {"C": "b"}]}, "last:b"),
])
def test_evaluator_follows_go_text_template(template, data, expected):
    assert GoTemplate(template).execute(data) == expected


# ------------------------------------------------------------------------------- Blossom dialogues

def blossom(size: str) -> tuple[str, str]:
    model = resolve(size)
    return mf.blossom_template(model.chat), model.chat.system


@pytest.mark.parametrize("size, eos", [("4b", "<|endoftext|>"), ("9b", "<|endoftext|>"), ("14b", "<|endoftext|>"),
                                       ("34b", "<|endoftext|>"), ("v5-mistral-7b", "</s>")])
def test_multi_turn_history_is_the_model_cards_dialogue(size, eos):
    template, system = blossom(size)
    messages = [{"role": "user", "content": "你好"}, {"role": "assistant", "content": "你好！有什么可以帮你？"},
                {"role": "user", "content": "Write a haiku."}, {"role": "assistant", "content": "Petals fall."},
                {"role": "user", "content": "Another."}]
    expected = (BLOSSOM_V5_SYSTEM + "\n|Human|: 你好\n|Bot|: 你好！有什么可以帮你？" + eos
                + "\n|Human|: Write a haiku.\n|Bot|: Petals fall." + eos + "\n|Human|: Another.\n|Bot|: ")
    assert ollama_prompt(template, system, messages) == expected


def test_single_turn_equals_the_catalog_prompt_with_and_without_system():
    template, system = blossom("4b")
    chat = resolve("4b").chat
    user = [{"role": "user", "content": "hi"}]
    assert ollama_prompt(template, system, user) == chat.prompt("hi") == BLOSSOM_V5_SYSTEM + "\n|Human|: hi\n|Bot|: "
    assert ollama_prompt(template, "", user) == chat.prompt("hi", system="") == "\n|Human|: hi\n|Bot|: "


def test_a_chat_system_message_replaces_the_modelfile_system():
    template, system = blossom("9b")
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    assert ollama_prompt(template, system, messages) == "Be brief.\n|Human|: hi\n|Bot|: "


def test_trailing_answer_is_left_open_and_repeated_users_merge():
    template, system = blossom("4b")
    messages = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"},
                {"role": "assistant", "content": "Sure, "}]
    assert ollama_prompt(template, system, messages) == BLOSSOM_V5_SYSTEM + "\n|Human|: a\n\nb\n|Bot|: Sure, "


def test_v6_chatml_dialogue():
    template, system = blossom("v6-7b")
    messages = [{"role": "user", "content": "u1"}, {"role": "assistant", "content": "a1"},
                {"role": "user", "content": "u2"}]
    assert ollama_prompt(template, system, messages) == (
        f"<|im_start|>system\n{BLOSSOM_V6_SYSTEM}<|im_end|>\n<|im_start|>user\nu1<|im_end|>\n"
        "<|im_start|>assistant\na1<|im_end|>\n<|im_start|>user\nu2<|im_end|>\n<|im_start|>assistant\n")
    assert ollama_prompt(template, system, messages[:1]) == resolve("v6-7b").chat.prompt("u1")


def test_the_published_file_renders_the_dialogue():
    commands = mf.read(Path(__file__).resolve().parent.parent / "modelfiles" / "4b-gpu.Modelfile")
    fields = {c.name: c.args for c in commands}
    prompt = ollama_prompt(fields["template"], fields["system"], [{"role": "user", "content": "q"},
                                                                  {"role": "assistant", "content": "a"},
                                                                  {"role": "user", "content": "q2"}])
    assert prompt == BLOSSOM_V5_SYSTEM + "\n|Human|: q\n|Bot|: a<|endoftext|>\n|Human|: q2\n|Bot|: "
    # The stop sequences end the turn where the dialogue would continue.
    stops = [c.args for c in commands if c.name == "stop"]
    assert stops == ["<|endoftext|>", "|Human|:"]
