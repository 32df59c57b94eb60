"""Go's text/template, as Ollama runs a Modelfile TEMPLATE, so a TEMPLATE can be proved against the
checkpoint's own Jinja template before it is written.

Read from Go's `text/template` (lex.go, parse/parse.go, exec.go, funcs.go) and from Ollama's
`template/template.go` at `OLLAMA_COMMIT` (`blossom_edge.ollama.go`), which parses with option
`missingkey=zero` and registers the functions json, currentDate, yesterdayDate and toTypeScriptType.
Data is what JSON decodes to (dict, list, str, int, float, bool, None), standing for Go's
map[string]any, []any, string, int, float64, bool and nil; Go strings are bytes, so a str here may
carry bytes that are not UTF-8 as `surrogateescape` surrogates (`go.strconv.go_bytes`).

Two errors: `TemplateError` where Go fails too (a parse error, an execution error), and its subclass
`TemplateRefused` for a construct this port does not match byte for byte: a refused template is one
we cannot prove, never one we render differently from Ollama. Refused are complex, imaginary and
hexadecimal-float constants; `{{else with}}` and `{{else if}}` after with/range; range with `=`;
ranging over an integer; printf's %T %p %U %b %o, `%[n]`, `*`, `#` and flags on lists and maps;
slicing a list past its length (Go reads into the capacity its JSON decoder happened to leave);
toTypeScriptType (it converts Ollama's tool structs, which dict data is not); and the spots where
Ollama's newer Go differs from Go 1.19: js of a backquote, json of \b or \f, printf's 0 flag on text.
tests/ollama/test_go_template_differential.py compares all of it with Go's own text/template.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from blossom_edge.ollama.go.strconv import (
    format_float,
    go_bytes,
    go_string,
    is_print,
    json_float,
    quote,
    quote_rune,
    unquote,
    unquote_char,
)


class TemplateError(ValueError):
    """A template Go's text/template refuses to parse or fails to execute."""


class TemplateRefused(TemplateError):
    """A template using a construct this port does not reproduce exactly: it is refused, not guessed."""

    def __init__(self, construct: str) -> None:
        super().__init__(f"Go's text/template is not reproduced exactly for {construct}, so the template is refused")
        self.construct = construct


class _Invalid:
    """Go's invalid reflect.Value: what a pipeline gives for nil, printed as `<no value>`."""

    def __repr__(self) -> str:
        return "<invalid>"


INVALID = _Invalid()
_MAX_DEPTH = 100
_SPACE = " \t\r\n"

# ----------------------------------------------------------------------------------------- lexer

_KEYWORDS = {"block", "break", "continue", "define", "else", "end", "if", "range", "nil", "template", "with"}


@dataclass(frozen=True)
class _Item:
    kind: str  # text, left, right, space, ident, field, var, string, raw, char, number, bool, nil,
    # dot, lparen, rparen, pipe, declare, assign, punct, eof, or a keyword
    value: str


def _alnum(ch: str) -> bool:
    return ch == "_" or ch.isalpha() or unicodedata.category(ch) == "Nd"


def _lex(text: str) -> list[_Item]:
    items: list[_Item] = []
    pos = 0
    while True:
        start = text.find("{{", pos)
        if start < 0:
            if pos < len(text):
                items.append(_Item("text", text[pos:]))
            items.append(_Item("eof", ""))
            return items
        after = start + 2
        trim_left = text[after:after + 1] == "-" and text[after + 1:after + 2] in tuple(_SPACE)
        chunk = text[pos:start].rstrip(_SPACE) if trim_left else text[pos:start]
        if chunk:
            items.append(_Item("text", chunk))
        if trim_left:
            after += 2
        if text.startswith("/*", after):
            end = text.find("*/", after + 2)
            if end < 0:
                raise TemplateError("unclosed comment")
            pos = end + 2
            trim_right = _at_right_trim(text, pos)
            if text.startswith("}}", pos):
                pos += 2
            elif trim_right:
                pos += 4
            else:
                raise TemplateError("comment ends before closing delimiter")
            if trim_right:
                pos = _skip_space(text, pos)
            continue
        items.append(_Item("left", ""))
        pos = _lex_action(text, after, items)


def _at_right_trim(text: str, pos: int) -> bool:
    return text[pos:pos + 1] in tuple(_SPACE) and text.startswith("-}}", pos + 1)


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _SPACE:
        pos += 1
    return pos


def _lex_action(text: str, pos: int, items: list[_Item]) -> int:
    """Items of one action from `pos`; returns the position after its right delimiter."""
    depth = 0
    while True:
        if text.startswith("}}", pos) or _at_right_trim(text, pos):
            if depth:
                raise TemplateError("unclosed left paren")
            trimmed = _at_right_trim(text, pos)
            pos += 4 if trimmed else 2
            items.append(_Item("right", ""))
            return _skip_space(text, pos) if trimmed else pos
        if pos >= len(text):
            raise TemplateError("unclosed action")
        ch = text[pos]
        if ch in _SPACE:
            end = _skip_space(text, pos)
            if _at_right_trim(text, end - 1):
                end -= 1
            if end > pos:
                items.append(_Item("space", text[pos:end]))
            pos = end
            if _at_right_trim(text, pos):
                continue
        elif ch == "=":
            items.append(_Item("assign", "="))
            pos += 1
        elif ch == ":":
            if text[pos + 1:pos + 2] != "=":
                raise TemplateError("expected :=")
            items.append(_Item("declare", ":="))
            pos += 2
        elif ch == "|":
            items.append(_Item("pipe", "|"))
            pos += 1
        elif ch in "\"`'":
            pos = _lex_quote(text, pos, items)
        elif ch == "$":
            end = pos + 1
            while end < len(text) and _alnum(text[end]):
                end += 1
            items.append(_Item("var", text[pos:end]))
            pos = _check_terminator(text, end)
        elif ch == "." and not text[pos + 1:pos + 2].isdigit():
            end = pos + 1
            while end < len(text) and _alnum(text[end]):
                end += 1
            items.append(_Item("dot", ".") if end == pos + 1 else _Item("field", text[pos:end]))
            pos = _check_terminator(text, end)
        elif ch in "+-." or ch.isdigit() and ch.isascii():
            pos = _lex_number(text, pos, items)
        elif _alnum(ch):
            end = pos
            while end < len(text) and _alnum(text[end]):
                end += 1
            word = text[pos:end]
            kind = word if word in _KEYWORDS else "bool" if word in ("true", "false") else "ident"
            items.append(_Item(kind, word))
            pos = _check_terminator(text, end)
        elif ch == "(":
            depth += 1
            items.append(_Item("lparen", "("))
            pos += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise TemplateError("unexpected right paren")
            items.append(_Item("rparen", ")"))
            pos += 1
        elif ch.isascii() and ch.isprintable():
            items.append(_Item("punct", ch))
            pos += 1
        else:
            raise TemplateError(f"unrecognized character in action: {ch!r}")


def _check_terminator(text: str, pos: int) -> int:
    if pos >= len(text) or text[pos] in _SPACE or text[pos] in ".,|:()" or text.startswith("}}", pos):
        return pos
    raise TemplateError(f"bad character {text[pos]!r}")


def _lex_quote(text: str, pos: int, items: list[_Item]) -> int:
    quote_char = text[pos]
    end = pos + 1
    while True:
        if end >= len(text):
            raise TemplateError("unterminated quoted string")
        ch = text[end]
        if quote_char == "`":
            if ch == "`":
                break
            end += 1
            continue
        if ch == "\\":
            if end + 1 >= len(text) or text[end + 1] == "\n":
                raise TemplateError("unterminated quoted string")
            end += 2
            continue
        if ch == "\n":
            raise TemplateError("unterminated quoted string")
        if ch == quote_char:
            break
        end += 1
    kind = {"\"": "string", "`": "raw", "'": "char"}[quote_char]
    items.append(_Item(kind, text[pos:end + 1]))
    return end + 1


def _scan_number(text: str, pos: int) -> int:
    def accept(chars: str) -> bool:
        nonlocal pos
        if pos < len(text) and text[pos] in chars:
            pos += 1
            return True
        return False

    def accept_run(chars: str) -> None:
        while accept(chars):
            pass

    accept("+-")
    digits = "0123456789_"
    if accept("0"):
        if accept("xX"):
            digits = "0123456789abcdefABCDEF_"
        elif accept("oO"):
            digits = "01234567_"
        elif accept("bB"):
            digits = "01_"
    accept_run(digits)
    if accept("."):
        accept_run(digits)
    if len(digits) == 11 and accept("eE"):
        accept("+-")
        accept_run("0123456789_")
    if len(digits) == 23 and accept("pP"):
        accept("+-")
        accept_run("0123456789_")
    accept("i")
    if pos < len(text) and _alnum(text[pos]):
        raise TemplateError(f"bad number syntax: {text[:pos + 1]!r}")
    return pos


def _lex_number(text: str, pos: int, items: list[_Item]) -> int:
    end = _scan_number(text, pos)
    if text[end:end + 1] in ("+", "-"):  # lex.go reads on for a complex constant such as 1+2i
        after = _scan_number(text, end)
        if text[after - 1] != "i":
            raise TemplateError(f"bad number syntax: {text[pos:after]!r}")
        raise TemplateRefused("complex number constants")
    items.append(_Item("number", text[pos:end]))
    return end


# ---------------------------------------------------------------------------------------- nodes

@dataclass
class _Number:
    text: str
    int_value: int | None
    float_value: float | None
    is_char: bool = False


@dataclass
class _Field:
    idents: list[str]


@dataclass
class _Variable:
    idents: list[str]


@dataclass
class _Chain:
    node: Any
    fields: list[str]


@dataclass
class _Identifier:
    name: str


@dataclass
class _Literal:
    """A bool or string constant."""
    value: Any


class _Dot:
    pass


class _Nil:
    pass


@dataclass
class _Pipe:
    decl: list[str]
    is_assign: bool
    cmds: list[list[Any]]


@dataclass
class _Text:
    text: str


@dataclass
class _Action:
    pipe: _Pipe


@dataclass
class _Control:
    kind: str  # if, with, range
    pipe: _Pipe
    body: list
    other: list | None


@dataclass
class _TemplateCall:
    name: str
    pipe: _Pipe | None


class _Break:
    pass


class _Continue:
    pass


# --------------------------------------------------------------------------------------- parser

_INT = re.compile(r"[+-]?(0[xX](_?[0-9a-fA-F])+|0[bB](_?[01])+|0[oO](_?[0-7])+|0(_?[0-7])*|[1-9](_?[0-9])*)\Z")
_FLOAT = re.compile(r"[+-]?(([0-9](_?[0-9])*)?\.?([0-9](_?[0-9])*)?([eE][+-]?[0-9](_?[0-9])*)?)\Z")


def _parse_int(text: str) -> int | None:
    """strconv.ParseInt(text, 0, 64)."""
    if not _INT.match(text):
        return None
    value = _parse_int_body(text.lstrip("+-"))
    value = -value if text.startswith("-") else value
    return value if -(2 ** 63) <= value < 2 ** 63 else None


def _parse_int_body(text: str) -> int:
    body = text.replace("_", "")
    if len(body) > 1 and body[0] == "0" and body[1] in "xXbBoO":
        return int(body[2:], {"x": 16, "b": 2, "o": 8}[body[1].lower()])
    if len(body) > 1 and body[0] == "0":
        return int(body, 8)
    return int(body)


def _new_number(text: str) -> _Number:
    """parse.newNumber: a constant's int and float readings; a huge integer is an error."""
    if text.startswith("'"):
        try:
            rune = unquote_char(text)
        except ValueError:
            raise TemplateError(f"malformed character constant: {text}") from None
        return _Number(text, rune, float(rune), is_char=True)
    if text.endswith("i"):
        raise TemplateRefused("imaginary number constants")
    if re.match(r"[+-]?0[xX]", text) and re.search(r"[.pP]", text):
        raise TemplateRefused("hexadecimal floating-point constants")
    as_int = _parse_int(text)
    if as_int is not None:
        return _Number(text, as_int, float(as_int))
    as_uint = _parse_uint(text)
    if as_uint is not None:
        return _Number(text, None, float(as_uint))
    if not _FLOAT.match(text) or not re.search(r"[0-9]", text) or "_" in text:
        if "_" in text and _FLOAT.match(text):
            raise TemplateRefused("underscores in floating-point constants")
        raise TemplateError(f"illegal number syntax: {text!r}")
    if not re.search(r"[.eE]", text):
        raise TemplateError(f"integer overflow: {text!r}")
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise TemplateError(f"illegal number syntax: {text!r}")
    int_value = int(value) if value == int(value) and -(2 ** 63) <= value < 2 ** 63 else None
    return _Number(text, int_value, value)


def _parse_uint(text: str) -> int | None:
    """strconv.ParseUint(text, 0, 64): no sign allowed."""
    if text[:1] in ("+", "-") or not _INT.match(text):
        return None
    value = _parse_int_body(text)
    return value if value < 2 ** 64 else None


class _Parser:
    """parse.Tree over the lexed items, one instance per template body (main, define, block)."""

    def __init__(self, items: list[_Item], pos: int, funcs: frozenset[str], trees: dict[str, list]) -> None:
        self.items = items
        self.pos = pos
        self.funcs = funcs
        self.trees = trees
        self.vars = ["$"]
        self.range_depth = 0

    def next(self) -> _Item:
        item = self.items[self.pos]
        self.pos += 1
        return item

    def peek(self) -> _Item:
        return self.items[self.pos]

    def next_non_space(self) -> _Item:
        item = self.next()
        while item.kind == "space":
            item = self.next()
        return item

    def peek_non_space(self) -> _Item:
        item = self.next_non_space()
        self.pos -= 1
        return item

    def expect(self, kind: str, context: str) -> _Item:
        item = self.next_non_space()
        if item.kind != kind:
            raise TemplateError(f"unexpected {item.value!r} in {context}")
        return item

    def parse_main(self) -> list:
        root: list = []
        while self.peek().kind != "eof":
            if self.peek().kind == "left":
                mark = self.pos
                self.next()
                if self.next_non_space().kind == "define":
                    self.parse_definition()
                    continue
                self.pos = mark
            node = self.text_or_action()
            if isinstance(node, str):
                raise TemplateError(f"unexpected {{{{{node}}}}}")
            root.append(node)
        return root

    def parse_definition(self) -> None:
        name = self.template_name(self.next_non_space(), "define clause")
        self.expect("right", "define clause")
        sub = _Parser(self.items, self.pos, self.funcs, self.trees)
        body, end = sub.item_list()
        if end != "end":
            raise TemplateError(f"unexpected {{{{{end}}}}} in define clause")
        self.pos = sub.pos
        self.add_tree(name, body)

    def add_tree(self, name: str, body: list) -> None:
        if name == "":
            raise TemplateRefused('a template defined with the empty name ""')
        old = self.trees.get(name)
        if old is None or _is_empty(old):
            self.trees[name] = body
        elif not _is_empty(body):
            raise TemplateError(f"template: multiple definition of template {name!r}")

    def template_name(self, item: _Item, context: str) -> str:
        if item.kind in ("string", "raw"):
            return self.unquote(item)
        raise TemplateError(f"unexpected {item.value!r} in {context}")

    @staticmethod
    def unquote(item: _Item) -> str:
        try:
            return unquote(item.value)
        except ValueError:
            raise TemplateError(f"bad string literal {item.value}") from None

    def item_list(self) -> tuple[list, str]:
        nodes: list = []
        while self.peek_non_space().kind != "eof":
            node = self.text_or_action()
            if isinstance(node, str):
                return nodes, node
            nodes.append(node)
        raise TemplateError("unexpected EOF")

    def text_or_action(self) -> Any:
        item = self.next_non_space()
        if item.kind == "text":
            return _Text(item.value)
        if item.kind == "left":
            return self.action()
        raise TemplateError(f"unexpected {item.value!r} in input")

    def action(self) -> Any:
        item = self.next_non_space()
        if item.kind == "block":
            return self.block_control()
        if item.kind in ("break", "continue"):
            self.expect("right", f"{{{{{item.kind}}}}}")
            if not self.range_depth:
                raise TemplateError(f"{{{{{item.kind}}}}} outside {{{{range}}}}")
            return _Break() if item.kind == "break" else _Continue()
        if item.kind == "else":
            if self.peek_non_space().kind in ("if", "with"):
                return "else " + self.peek_non_space().kind
            self.expect("right", "else")
            return "else"
        if item.kind == "end":
            self.expect("right", "end")
            return "end"
        if item.kind in ("if", "range", "with"):
            return self.control(item.kind)
        if item.kind == "template":
            return self.template_control()
        self.pos -= 1
        return _Action(self.pipeline("command", "right"))

    def control(self, kind: str) -> _Control:
        mark = len(self.vars)
        pipe = self.pipeline(kind, "right")
        if kind == "range":
            if pipe.is_assign:
                raise TemplateRefused("range assigning to existing variables with =")
            self.range_depth += 1
        body, end = self.item_list()
        if kind == "range":
            self.range_depth -= 1
        other = None
        if end == "else if" and kind == "if":
            self.next_non_space()
            other = [self.control("if")]
        elif end in ("else if", "else with"):
            raise TemplateRefused(f"{{{{{end}}}}} after {{{{{kind}}}}}")
        elif end == "else":
            other, end = self.item_list()
            if end != "end":
                raise TemplateError(f"expected end; found {{{{{end}}}}}")
        del self.vars[mark:]
        return _Control(kind, pipe, body, other)

    def template_control(self) -> _TemplateCall:
        name = self.template_name(self.next_non_space(), "template clause")
        if self.next_non_space().kind == "right":
            return _TemplateCall(name, None)
        self.pos -= 1
        return _TemplateCall(name, self.pipeline("template clause", "right"))

    def block_control(self) -> _TemplateCall:
        name = self.template_name(self.next_non_space(), "block clause")
        pipe = self.pipeline("block clause", "right")
        sub = _Parser(self.items, self.pos, self.funcs, self.trees)
        body, end = sub.item_list()
        if end != "end":
            raise TemplateError(f"unexpected {{{{{end}}}}} in block clause")
        self.pos = sub.pos
        self.add_tree(name, body)
        return _TemplateCall(name, pipe)

    def pipeline(self, context: str, end: str) -> _Pipe:
        pipe = _Pipe([], False, [])
        first = self.peek_non_space()
        if first.kind == "var":
            mark = self.pos
            self.next_non_space()
            after = self.peek()
            nxt = self.peek_non_space()
            if nxt.kind in ("assign", "declare"):
                self.next_non_space()
                pipe.is_assign = nxt.kind == "assign"
                pipe.decl.append(first.value)
                self.vars.append(first.value)
            elif nxt.kind == "punct" and nxt.value == ",":
                self.next_non_space()
                pipe.decl.append(first.value)
                self.vars.append(first.value)
                if context == "range" and len(pipe.decl) < 2 and self.peek_non_space().kind in ("var", "right", "rparen"):
                    second = self.next_non_space()
                    if second.kind != "var":
                        raise TemplateError("range can only initialize variables")
                    op = self.next_non_space()
                    if op.kind not in ("assign", "declare"):
                        raise TemplateError(f"too many declarations in {context}")
                    pipe.is_assign = op.kind == "assign"
                    pipe.decl.append(second.value)
                    self.vars.append(second.value)
                elif context == "range":
                    raise TemplateError("range can only initialize variables")
                else:
                    raise TemplateError(f"too many declarations in {context}")
            elif after.kind == "space":
                self.pos = mark
            else:
                self.pos = mark
        while True:
            item = self.next_non_space()
            if item.kind == end:
                if not pipe.cmds:
                    raise TemplateError(f"missing value for {context}")
                for i, cmd in enumerate(pipe.cmds[1:]):
                    if isinstance(cmd[0], (_Literal, _Dot, _Nil, _Number)):
                        raise TemplateError(f"non executable command in pipeline stage {i + 2}")
                return pipe
            if item.kind in ("bool", "char", "dot", "field", "ident", "number", "nil", "raw", "string", "var", "lparen"):
                self.pos -= 1
                pipe.cmds.append(self.command())
            else:
                raise TemplateError(f"unexpected {item.value!r} in {context}")

    def command(self) -> list:
        args: list = []
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                args.append(operand)
            item = self.next()
            if item.kind == "space":
                continue
            if item.kind in ("right", "rparen"):
                self.pos -= 1
            elif item.kind != "pipe":
                raise TemplateError(f"unexpected {item.value!r} in operand")
            break
        if not args:
            raise TemplateError("empty command")
        return args

    def operand(self) -> Any:
        node = self.term()
        if node is None or self.peek().kind != "field":
            return node
        fields = []
        while self.peek().kind == "field":
            fields.append(self.next().value[1:])
        if isinstance(node, _Field):
            return _Field(node.idents + fields)
        if isinstance(node, _Variable):
            return _Variable(node.idents + fields)
        if isinstance(node, (_Literal, _Number, _Nil, _Dot)):
            raise TemplateError("unexpected . after term")
        return _Chain(node, fields)

    def term(self) -> Any:
        item = self.next_non_space()
        if item.kind == "ident":
            if item.value not in self.funcs:
                raise TemplateError(f"function {item.value!r} not defined")
            return _Identifier(item.value)
        if item.kind == "dot":
            return _Dot()
        if item.kind == "nil":
            return _Nil()
        if item.kind == "var":
            if item.value not in self.vars:
                raise TemplateError(f"undefined variable {item.value!r}")
            return _Variable([item.value])
        if item.kind == "field":
            return _Field([item.value[1:]])
        if item.kind == "bool":
            return _Literal(item.value == "true")
        if item.kind in ("char", "number"):
            return _new_number(item.value)
        if item.kind == "lparen":
            return self.pipeline("parenthesized pipeline", "rparen")
        if item.kind in ("string", "raw"):
            return _Literal(self.unquote(item))
        self.pos -= 1
        return None


def _is_empty(nodes: list) -> bool:
    return all(isinstance(n, _Text) and not n.text.strip(_SPACE) for n in nodes)


# ------------------------------------------------------------------------------------- printing

class _Byte(int):
    """A byte of a string, as `index` gives it: a uint8 in Go, named so in printf's %!verb(uint8=…)."""


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, _Byte):
        return "uint8"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "[]interface {}"
    if isinstance(value, dict):
        return "map[string]interface {}"
    raise TemplateRefused(f"a value of Python type {type(value).__name__}")


def _sorted_items(mapping: dict) -> list[tuple[str, Any]]:
    for key in mapping:
        if not isinstance(key, str):
            raise TemplateRefused("maps with keys that are not strings")
    return sorted(mapping.items(), key=lambda kv: go_bytes(kv[0]))


def sprint_value(value: Any) -> str:
    """fmt's %v of a value: [a b] for a list, map[k:v] for a map, 1 for 1.0, <nil> for nil."""
    return _format_value(value, _Spec("v"))


def _sprint(args: list[Any]) -> str:
    """fmt.Sprint: a space between operands when neither is a string."""
    out = []
    for i, arg in enumerate(args):
        if i and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(sprint_value(arg))
    return "".join(out)


@dataclass
class _Spec:
    verb: str
    minus: bool = False
    plus: bool = False
    space: bool = False
    zero: bool = False
    width: int | None = None
    precision: int | None = None
    flags: str = ""  # all flags as written, to refuse what is not reproduced


def _pad(text: str, spec: _Spec, zero_ok: bool = False) -> str:
    if spec.width is None:
        return text
    count = len(go_string(go_bytes(text)))  # runes, a byte that is not UTF-8 counting as one
    if count >= spec.width:
        return text
    fill = spec.width - count
    if spec.minus:
        return text + " " * fill
    if spec.zero and zero_ok:
        sign = text[0] if text[:1] in ("+", "-", " ") else ""
        return sign + "0" * fill + text[len(sign):]
    return " " * fill + text


def _bad_verb(value: Any, spec: _Spec) -> str:
    """fmt's %!verb(type=value), the value printed with %v under the same flags, width and precision."""
    if value is None:
        return f"%!{spec.verb}(<nil>)"
    inner = _Spec("v", spec.minus, spec.plus, spec.space, spec.zero, spec.width, spec.precision, spec.flags)
    return f"%!{spec.verb}({_type_name(value)}={_format_value(value, inner)})"


def _format_value(value: Any, spec: _Spec, depth: int = 0) -> str:
    """fmt's printArg/printValue for the verbs and flags this port reproduces."""
    verb = spec.verb
    if spec.zero and not isinstance(value, (int, float)) or spec.zero and isinstance(value, bool):
        raise TemplateRefused("printf's 0 flag on a value that is not a number (Go 1.23 stopped zero-padding text)")
    if value is None or value is INVALID:
        if verb == "v" or depth:
            return _pad("<nil>", spec)
        return _bad_verb(None, spec)
    if isinstance(value, bool):
        if verb in "tv":
            return _pad("true" if value else "false", spec)
        return _bad_verb(value, spec)
    if isinstance(value, int):
        return _format_int(value, spec)
    if isinstance(value, float):
        return _format_float(value, spec)
    if isinstance(value, str):
        return _format_str(value, spec)
    if isinstance(value, list):
        if spec.width is not None or spec.flags:
            raise TemplateRefused("printf flags or width on a list")
        return "[" + " ".join(_format_value(v, spec, depth + 1) for v in value) + "]"
    if isinstance(value, dict):
        if spec.width is not None or spec.flags:
            raise TemplateRefused("printf flags or width on a map")
        return "map[" + " ".join(f"{_format_value(k, spec, depth + 1)}:{_format_value(v, spec, depth + 1)}"
                                 for k, v in _sorted_items(value)) + "]"
    raise TemplateRefused(f"printing a value of Python type {type(value).__name__}")


def _format_int(value: int, spec: _Spec) -> str:
    verb = spec.verb
    if verb == "c":
        if spec.zero:
            raise TemplateRefused("printf %c with the 0 flag")
        return _pad(chr(value) if 0 <= value <= 0x10FFFF and not 0xD800 <= value <= 0xDFFF else "\ufffd", spec)
    if verb not in "dvxX":
        if verb == "q" and not spec.flags and spec.precision is None:
            return _pad(quote_rune(value), spec)
        if verb in "bcoOqU":
            raise TemplateRefused(f"printf %{verb} of an integer")
        return _bad_verb(value, spec)
    digits = format(abs(value), {"d": "d", "v": "d", "x": "x", "X": "X"}[verb])
    if spec.precision is not None:
        if spec.precision == 0 and value == 0:
            digits = ""
        digits = digits.rjust(spec.precision, "0")
    sign = "-" if value < 0 else "+" if spec.plus else " " if spec.space else ""
    return _pad(sign + digits, spec, zero_ok=spec.precision is None)


def _format_float(value: float, spec: _Spec) -> str:
    verb = spec.verb
    if verb not in "vfFeEgG":
        if verb in "bxX":
            raise TemplateRefused(f"printf %{verb} of a float")
        return _bad_verb(value, spec)
    if verb in "vgG" and spec.precision is None:
        text = format_float(value)
        text = text.upper() if verb == "G" else text
        if value >= 0 and (spec.plus or spec.space):
            text = ("+" if spec.plus else " ") + text
    else:
        flags = ("+" if spec.plus else " " if spec.space else "")
        text = f"%{flags}.{6 if spec.precision is None else spec.precision}{'g' if verb == 'v' else verb}" % value
    return _pad(text, spec, zero_ok=True)


def _format_str(value: str, spec: _Spec) -> str:
    verb = spec.verb
    if spec.zero or spec.plus or spec.space:
        raise TemplateRefused("printf flags 0, + or space on a string")
    if verb in "vs":
        if spec.precision is not None:
            value = go_string(go_bytes(value))[:spec.precision]
        return _pad(value, spec)
    if verb == "q":
        if spec.precision is not None:
            raise TemplateRefused("printf %q with a precision")
        return _pad(quote(value), spec)
    if verb in "xX":
        if spec.precision is not None:
            raise TemplateRefused("printf %x with a precision")
        text = go_bytes(value).hex()
        return _pad(text.upper() if verb == "X" else text, spec)
    return _bad_verb(value, spec)


_VERB = re.compile(r"%([-+ 0#]*)([0-9]+)?(?:\.([0-9]*))?(.)?", re.DOTALL)


def _sprintf(fmt: Any, args: list[Any]) -> str:
    """fmt.Sprintf for common verbs (v s d q x X c t f e g), flags - + space 0, width and precision."""
    if not isinstance(fmt, str):
        raise TemplateError(f"wrong type for value; expected string; got {_type_name(fmt)}")
    out = []
    pos = 0
    used = 0
    while True:
        percent = fmt.find("%", pos)
        if percent < 0:
            out.append(fmt[pos:])
            break
        out.append(fmt[pos:percent])
        match = _VERB.match(fmt, percent)
        assert match is not None
        flags, width, precision, verb = match.groups()
        if verb is None or verb in "*[" or "#" in flags or not verb.isalpha() and verb != "%":
            raise TemplateRefused(f"printf format {fmt[percent:percent + 4]!r}")
        pos = match.end()
        if verb == "%":
            if flags or width or precision is not None:
                raise TemplateRefused("printf %% with flags")
            out.append("%")
            continue
        spec = _Spec(verb, minus="-" in flags, plus="+" in flags and verb != "v", space=" " in flags,
                     zero="0" in flags and "-" not in flags, width=int(width) if width else None,
                     precision=int(precision or 0) if precision is not None else None, flags=flags)
        if verb in "bopOTU":  # verbs Go knows that this port does not print
            raise TemplateRefused(f"printf verb %{verb}")
        if used >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        out.append(_format_value(args[used], spec))
        used += 1
    if used < len(args):
        extra = ", ".join("<nil>" if a is None else f"{_type_name(a)}={sprint_value(a)}" for a in args[used:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


# -------------------------------------------------------------------------------------- builtins

def truth(value: Any) -> bool:
    """Go's isTrue: not the zero value of its type, not an empty collection, not nil."""
    if value is None or value is INVALID:
        return False
    if isinstance(value, (str, list, dict)):
        return len(value) > 0 if not isinstance(value, str) else len(go_bytes(value)) > 0
    if isinstance(value, (bool, int, float)):
        return value != 0
    raise TemplateRefused(f"the truth of a value of Python type {type(value).__name__}")


def _kind(value: Any) -> str:
    """funcs.go's basicKind; nil, lists and maps all share Go's invalidKind, here "other"."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"  # Go compares int with uint8 (a byte from index) by value, as Python does
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    return "other"


def _is_nil(value: Any) -> bool:
    return value is None or value is INVALID


def _eq(first: Any, *others: Any) -> bool:
    """funcs.go's eq: true if `first` equals any of `others`; values of different kinds are an
    error unless one is nil; nil equals only nil; lists and maps are not comparable."""
    if not others:
        raise TemplateError("missing argument for comparison")
    k1 = _kind(first)
    for other in others:
        k2 = _kind(other)
        if k1 != k2:
            if not _is_nil(first) and not _is_nil(other):
                raise TemplateError("incompatible types for comparison")
        elif k1 == "other":
            if not _is_nil(first) and not _is_nil(other):
                raise TemplateError("non-comparable types")
            if _is_nil(first) and _is_nil(other):
                return True
        elif k1 == "string" and go_bytes(first) == go_bytes(other) or k1 != "string" and first == other:
            return True
    return False


def _lt(a: Any, b: Any) -> bool:
    k1, k2 = _kind(a), _kind(b)
    if "other" in (k1, k2):
        raise TemplateError("invalid type for comparison")
    if k1 != k2:
        raise TemplateError("incompatible types for comparison")
    if k1 == "bool":
        raise TemplateError("invalid type for comparison")
    if k1 == "string":
        return go_bytes(a) < go_bytes(b)
    return a < b


def _le(a: Any, b: Any) -> bool:
    return _lt(a, b) or _eq(a, b)


def _len(value: Any) -> int:
    if value is None:
        raise TemplateError("len of nil pointer")
    if isinstance(value, str):
        return len(go_bytes(value))
    if isinstance(value, (list, dict)):
        return len(value)
    raise TemplateError(f"len of type {_type_name(value) if value is not INVALID else 'invalid'}")


def _index_arg(index: Any, size: int) -> int:
    if index is None or index is INVALID:
        raise TemplateError("cannot index slice/array with nil")
    if isinstance(index, bool) or not isinstance(index, int):
        raise TemplateError("cannot index slice/array with type " + _type_name(index))
    if index < 0 or index > size:
        raise TemplateError(f"index out of range: {index}")
    return index


def _index(item: Any, *indexes: Any) -> Any:
    if item is None or item is INVALID:
        raise TemplateError("index of untyped nil")
    for index in indexes:
        if item is None:
            raise TemplateError("index of nil pointer")
        if isinstance(item, (list, str)):
            data = go_bytes(item) if isinstance(item, str) else item
            x = _index_arg(index, len(data))
            if x >= len(data):
                raise TemplateError(f"index out of range: {x}")
            item = _Byte(data[x]) if isinstance(data, bytes) else data[x]
        elif isinstance(item, dict):
            if index is None or index is INVALID:
                raise TemplateError("value is nil; should be of type string")
            if not isinstance(index, str):
                raise TemplateError(f"value has type {_type_name(index)}; should be string")
            item = item.get(index)
        else:
            raise TemplateError(f"can't index item of type {_type_name(item)}")
    return item


def _slice(item: Any, *indexes: Any) -> Any:
    if item is None or item is INVALID:
        raise TemplateError("slice of untyped nil")
    if len(indexes) > 3:
        raise TemplateError(f"too many slice indexes: {len(indexes)}")
    if isinstance(item, str):
        if len(indexes) == 3:
            raise TemplateError("cannot 3-index slice a string")
        data: Any = go_bytes(item)
    elif isinstance(item, list):
        data = item
    else:
        raise TemplateError(f"can't slice item of type {_type_name(item)}")
    idx = [0, len(data), len(data)]
    for i, index in enumerate(indexes):
        if isinstance(item, list) and index is not None and isinstance(index, int) and not isinstance(index, bool) \
                and index > len(data) and i > 0:
            raise TemplateRefused("slicing a list beyond its length (Go reads into its capacity)")
        idx[i] = _index_arg(index, len(data))
    if idx[0] > idx[1]:
        raise TemplateError(f"invalid slice index: {idx[0]} > {idx[1]}")
    if len(indexes) == 3 and idx[1] > idx[2]:
        raise TemplateError(f"invalid slice index: {idx[1]} > {idx[2]}")
    result = data[idx[0]:idx[1]]
    return go_string(result) if isinstance(item, str) else result


def _html_bytes(data: bytes) -> bytes:
    table = {0: "\ufffd".encode(), 34: b"&#34;", 39: b"&#39;", 38: b"&amp;", 60: b"&lt;", 62: b"&gt;"}
    return b"".join(table.get(b, bytes([b])) for b in data)


def _js(text: str) -> str:
    """text/template's JSEscapeString; a byte that is not UTF-8 passes through, as in Go."""
    if "`" in text:
        raise TemplateRefused("js of text with a backquote (escaped differently across Go versions)")
    special = {"\\": "\\\\", "'": "\\'", '"': '\\"', "<": "\\u003C", ">": "\\u003E", "&": "\\u0026", "=": "\\u003D"}
    out = []
    for ch in text:
        code = ord(ch)
        if ch in special:
            out.append(special[ch])
        elif code < 0x20:
            out.append(f"\\u00{code:02X}")
        elif code < 0x80 or 0xDC80 <= code <= 0xDCFF or is_print(ch):
            out.append(ch)
        else:
            out.append(f"\\u{code:04X}")
    return "".join(out)


def _urlquery(text: str) -> str:
    out = []
    for byte in go_bytes(text):
        ch = chr(byte)
        if ch.isascii() and (ch.isalnum() or ch in "-_.~"):
            out.append(ch)
        elif ch == " ":
            out.append("+")
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)


def _eval_args(args: list[Any]) -> str:
    """text/template's evalArgs for html, js and urlquery: one string as is, else fmt.Sprint,
    where a nil argument has become the string <no value>."""
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    return _sprint(["<no value>" if a is None else a for a in args])


def _json(value: Any) -> str:
    """encoding/json.Marshal of a JSON-shaped value, as Ollama's `json` template function gives it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return json_float(value)
    if isinstance(value, str):
        return _json_string(value)
    if isinstance(value, list):
        return "[" + ",".join(_json(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{_json_string(k)}:{_json(v)}" for k, v in _sorted_items(value)) + "}"
    raise TemplateRefused(f"json of a value of Python type {type(value).__name__}")


def _json_string(text: str) -> str:
    if "\b" in text or "\f" in text:
        raise TemplateRefused("json of \\b or \\f (escaped differently across Go versions)")
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif 0xDC80 <= ord(ch) <= 0xDCFF:  # a byte that is not UTF-8
            out.append("\\ufffd")
        elif ord(ch) < 0x20 or ch in "<>&\u2028\u2029":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _date(days_back: int) -> Callable[..., str]:
    def date(*args: Any) -> str:
        for arg in args:
            if not isinstance(arg, str):
                raise TemplateError("wrong type for value; expected string")
        return (datetime.date.today() - datetime.timedelta(days=days_back)).isoformat()
    return date


def _to_typescript_type(value: Any) -> str:
    raise TemplateRefused("toTypeScriptType (it converts Ollama's tool structs, which JSON data is not)")


def _call(fn: Any, *args: Any) -> Any:
    if fn is None or fn is INVALID:
        raise TemplateError("call of nil")
    raise TemplateError(f"non-function of type {_type_name(fn)}")


# How each function takes its arguments, as exec.go's validateType converts them: "value" (a
# reflect.Value: nil stays invalid), "any" (an interface: invalid becomes nil), "string" (nil is an
# error); "untyped" is evalArg's nil type, for the receiver of a chain. And its arity (minimum,
# maximum or None for variadic).
@dataclass(frozen=True)
class _Func:
    fn: Callable[..., Any]
    params: str
    min_args: int
    max_args: int | None
    first: str = ""  # how the first argument is taken, when not as the rest


FUNCS: dict[str, _Func] = {
    "and": _Func(lambda *a: a[-1], "value", 1, None),
    "or": _Func(lambda *a: a[-1], "value", 1, None),
    "call": _Func(_call, "value", 1, None),
    "html": _Func(lambda *a: go_string(_html_bytes(go_bytes(_eval_args(list(a))))), "any", 0, None),
    "index": _Func(_index, "value", 1, None),
    "slice": _Func(_slice, "value", 1, None),
    "js": _Func(lambda *a: _js(_eval_args(list(a))), "any", 0, None),
    "len": _Func(_len, "value", 1, 1),
    "not": _Func(lambda a: not truth(a), "value", 1, 1),
    "print": _Func(lambda *a: _sprint(list(a)), "any", 0, None),
    "printf": _Func(lambda f, *a: _sprintf(f, list(a)), "any", 1, None, first="string"),
    "println": _Func(lambda *a: " ".join(sprint_value(x) for x in a) + "\n", "any", 0, None),
    "urlquery": _Func(lambda *a: _urlquery(_eval_args(list(a))), "any", 0, None),
    "eq": _Func(_eq, "value", 1, None),
    "ge": _Func(lambda a, b: not _lt(a, b), "value", 2, 2),
    "gt": _Func(lambda a, b: not _le(a, b), "value", 2, 2),
    "le": _Func(_le, "value", 2, 2),
    "lt": _Func(_lt, "value", 2, 2),
    "ne": _Func(lambda a, b: not _eq(a, b), "value", 2, 2),
    # Ollama's template.go FuncMap
    "json": _Func(_json, "any", 1, 1),
    "currentDate": _Func(_date(0), "string", 0, None),
    "yesterdayDate": _Func(_date(1), "string", 0, None),
    "toTypeScriptType": _Func(_to_typescript_type, "any", 1, 1),
}

_MISSING = object()  # no value from an earlier pipeline stage


class _BreakLoop(Exception):
    pass


class _ContinueLoop(Exception):
    pass


# -------------------------------------------------------------------------------------- executor

class GoTemplate:
    """A parsed template; `execute(data)` renders it with `data` as dot, as Ollama's Go would."""

    def __init__(self, text: str) -> None:
        items = _lex(text)
        self.trees: dict[str, list] = {}
        parser = _Parser(items, 0, frozenset(FUNCS), self.trees)
        try:
            self.root = parser.parse_main()
        except RecursionError:
            raise TemplateRefused("actions nested too deeply") from None

    def execute(self, data: Any) -> str:
        out: list[str] = []
        dot = INVALID if data is None else data
        try:
            _State(self.trees, out, [("$", dot)], 0).walk(dot, self.root)
        except RecursionError:
            raise TemplateRefused("templates nested too deeply") from None
        return go_string(go_bytes("".join(out)))


class _State:
    def __init__(self, trees: dict[str, list], out: list[str], variables: list[tuple[str, Any]], depth: int) -> None:
        self.trees = trees
        self.out = out
        self.vars = variables
        self.depth = depth

    def walk(self, dot: Any, nodes: list) -> None:
        for node in nodes:
            if isinstance(node, _Text):
                self.out.append(node.text)
            elif isinstance(node, _Action):
                value = self.pipeline(dot, node.pipe)
                if not node.pipe.decl:
                    self.out.append("<no value>" if value is INVALID else sprint_value(value))
            elif isinstance(node, _Control):
                if node.kind == "range":
                    self.walk_range(dot, node)
                else:
                    self.walk_if_or_with(dot, node)
            elif isinstance(node, _TemplateCall):
                self.walk_template(dot, node)
            elif isinstance(node, _Break):
                raise _BreakLoop()
            elif isinstance(node, _Continue):
                raise _ContinueLoop()

    def walk_if_or_with(self, dot: Any, node: _Control) -> None:
        mark = len(self.vars)
        try:
            value = self.pipeline(dot, node.pipe)
            if truth(value):
                self.walk(value if node.kind == "with" else dot, node.body)
            elif node.other is not None:
                self.walk(dot, node.other)
        finally:
            del self.vars[mark:]

    def walk_range(self, dot: Any, node: _Control) -> None:
        mark = len(self.vars)
        try:
            value = self.pipeline(dot, node.pipe)
            inner = len(self.vars)
            if isinstance(value, list):
                pairs: list[tuple[Any, Any]] = list(enumerate(value))
            elif isinstance(value, dict):
                pairs = _sorted_items(value)
            elif value is INVALID:
                pairs = []
            elif isinstance(value, int) and not isinstance(value, bool):
                raise TemplateRefused("range over an integer (Go 1.22 and later iterate; earlier Go fails)")
            else:
                raise TemplateError(f"range can't iterate over {sprint_value(value)}")
            for key, elem in pairs:
                if node.pipe.decl:
                    self.vars[-1] = (self.vars[-1][0], elem)
                if len(node.pipe.decl) > 1:
                    self.vars[-2] = (self.vars[-2][0], key)
                try:
                    self.walk(elem, node.body)
                except _ContinueLoop:
                    pass
                except _BreakLoop:
                    break
                finally:
                    del self.vars[inner:]
            if not pairs and node.other is not None:
                try:
                    self.walk(dot, node.other)
                except _BreakLoop:  # Go's walkRange recovers a break from its else list too
                    pass
        finally:
            del self.vars[mark:]

    def walk_template(self, dot: Any, node: _TemplateCall) -> None:
        tree = self.trees.get(node.name)
        if tree is None:
            raise TemplateError(f"no such template {node.name!r}")
        if self.depth >= _MAX_DEPTH:
            raise TemplateRefused("templates nested too deeply")
        value = self.pipeline(dot, node.pipe) if node.pipe is not None else INVALID
        _State(self.trees, self.out, [("$", value)], self.depth + 1).walk(value, tree)

    def pipeline(self, dot: Any, pipe: _Pipe) -> Any:
        value: Any = _MISSING
        for cmd in pipe.cmds:
            value = self.command(dot, cmd, value)
            if value is None:  # an interface holding nil becomes an invalid value
                value = INVALID
        for name in pipe.decl:
            if pipe.is_assign:
                self.set_var(name, value)
            else:
                self.vars.append((name, value))
        return value

    def set_var(self, name: str, value: Any) -> None:
        for i in range(len(self.vars) - 1, -1, -1):
            if self.vars[i][0] == name:
                self.vars[i] = (name, value)
                return
        raise TemplateError(f"undefined variable: {name}")

    def var_value(self, name: str) -> Any:
        for var_name, value in reversed(self.vars):
            if var_name == name:
                return value
        raise TemplateError(f"undefined variable: {name}")

    def command(self, dot: Any, args: list, final: Any) -> Any:
        first = args[0]
        if isinstance(first, _Field):
            return self.field_chain(dot, first.idents, args, final)
        if isinstance(first, _Chain):
            if isinstance(first.node, _Nil):
                raise TemplateError("indirection through explicit nil")
            receiver = self.arg(dot, first.node, "untyped")
            return self.field_chain(receiver, first.fields, args, final)
        if isinstance(first, _Identifier):
            return self.call(dot, first.name, args[1:], final)
        if isinstance(first, _Variable):
            value = self.var_value(first.idents[0])
            if len(first.idents) == 1:
                self.not_a_function(args, final)
                return value
            return self.field_chain(value, first.idents[1:], args, final)
        self.not_a_function(args, final)
        if isinstance(first, _Pipe):
            return self.pipeline(dot, first)
        if isinstance(first, _Literal):
            return first.value
        if isinstance(first, _Dot):
            return dot
        if isinstance(first, _Nil):
            raise TemplateError("nil is not a command")
        return self.constant(first)

    @staticmethod
    def not_a_function(args: list, final: Any) -> None:
        if len(args) > 1 or final is not _MISSING:
            raise TemplateError("can't give argument to non-function")

    @staticmethod
    def constant(number: _Number) -> Any:
        if not number.is_char and re.search(r"[.eEpP]", number.text) and not re.match(r"[+-]?0[xX]", number.text):
            return number.float_value
        if number.int_value is not None:
            return number.int_value
        raise TemplateError(f"{number.text} overflows int")

    def field_chain(self, receiver: Any, idents: list[str], args: list, final: Any) -> Any:
        for ident in idents[:-1]:
            receiver = self.field(receiver, ident, False)
        has_args = len(args) > 1 or final is not _MISSING
        return self.field(receiver, idents[-1], has_args)

    @staticmethod
    def field(receiver: Any, name: str, has_args: bool) -> Any:
        if receiver is INVALID:
            return INVALID
        if receiver is None:
            raise TemplateError(f"nil pointer evaluating interface {{}}.{name}")
        if isinstance(receiver, dict):
            if has_args:
                raise TemplateError(f"{name} is not a method but has arguments")
            return receiver.get(name)
        raise TemplateError(f"can't evaluate field {name} in type {_type_name(receiver)}")

    def arg(self, dot: Any, node: Any, params: str) -> Any:
        """evalArg: one argument, checked against how the function takes it."""
        if isinstance(node, _Nil):
            if params == "string":
                raise TemplateError("cannot assign nil to string")
            return INVALID if params == "value" else None
        if isinstance(node, _Dot):
            value = dot
        elif isinstance(node, _Field):
            value = self.field_chain(dot, node.idents, [node], _MISSING)
        elif isinstance(node, _Variable):
            value = self.var_value(node.idents[0])
            if len(node.idents) > 1:
                value = self.field_chain(value, node.idents[1:], [node], _MISSING)
        elif isinstance(node, _Pipe):
            value = self.pipeline(dot, node)
        elif isinstance(node, _Identifier):
            value = self.call(dot, node.name, [], _MISSING)
        elif isinstance(node, _Chain):
            value = self.command(dot, [node], _MISSING)
        elif isinstance(node, _Literal):
            value = node.value
            if params == "string" and not isinstance(value, str):
                raise TemplateError("expected string")
            return value
        else:
            if params == "string":
                raise TemplateError("expected string")
            return self.constant(node)
        return self.validate(value, params)

    @staticmethod
    def validate(value: Any, params: str) -> Any:
        if value is INVALID:
            if params == "string":
                raise TemplateError("invalid value; expected string")
            return None if params == "any" else INVALID
        if params == "string" and not isinstance(value, str):
            raise TemplateError(f"wrong type for value; expected string; got {_type_name(value)}")
        return value

    def call(self, dot: Any, name: str, arg_nodes: list, final: Any) -> Any:
        func = FUNCS[name]
        count = len(arg_nodes) + (final is not _MISSING)
        if count < func.min_args or func.max_args is not None and count > func.max_args:
            raise TemplateError(f"wrong number of args for {name}: got {count}")
        if name in ("and", "or"):
            value: Any = INVALID
            for node in arg_nodes:
                value = self.arg(dot, node, "value")
                if truth(value) == (name == "or"):
                    return value
            if final is not _MISSING:
                value = self.validate(final, "value")
            return value
        kinds = [func.first or func.params] + [func.params] * count
        args = [self.arg(dot, node, kinds[i]) for i, node in enumerate(arg_nodes)]
        if final is not _MISSING:
            args.append(self.validate(final, kinds[len(args)]))
        return func.fn(*args)
