"""The cases the Go differential test renders: named cases for every bug found by hand, then a seeded
generator of templates over what Ollama TEMPLATEs use (text with CJK and emoji, literals of every kind,
fields, variables, pipelines, control structures, define/template/block, trim markers, comments,
every builtin function and Ollama's own), each paired with one of a few data sets.

The tests here check the generator itself: same seed, same cases; enough of them; every construct
present. tests/ollama/test_go_template_differential.py runs them through Go and through ours.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

SEED = 21
GENERATED = 6000


@dataclass(frozen=True)
class Case:
    name: str
    template: str
    data: str  # JSON text, decoded by Go into map[string]any (numbers float64) and by us alike


_FULL = {
    "Name": "Blossom", "Greeting": "你好，世界", "Emoji": "🌸✨", "Empty": "", "Quote": "<b>\"A&B\"</b> 'x' = y",
    "Zero": 0, "One": 1, "Two": 2, "Pi": 3.14159, "Neg": -2.5, "Big": 1e21, "Large": 1e20, "Small": 1e-05,
    "Tiny": 1.5e-7, "Million": 1000000, "Mid": 123456, "Cents": 0.1,
    "T": True, "F": False, "Nil": None,
    "List": ["a", "b", "你"], "Nums": [1, 2.5, 1e6, -3], "EmptyList": [],
    "Mixed": ["x", 1, True, None, [1, 2], {"k": "v"}],
    "Map": {"b": 2, "a": "一", "c": None, "B": [1]}, "EmptyMap": {},
    "Nested": {"Inner": {"Deep": "深", "N": 7, "L": ["p", "q"]}, "List": [{"Role": "user"}, {"Role": "bot"}]},
    "System": "你是小花，一个乐于助人的助手。\nBe brief.",
    "Messages": [
        {"Role": "system", "Content": "You are 小花."},
        {"Role": "user", "Content": "你好！\n<b>&'\"</b> 🌸"},
        {"Role": "assistant", "Content": "Hi there", "Thinking": "想一想……"},
        {"Role": "tool", "Content": "{\"ok\": true}", "ToolName": "get_weather"},
        {"Role": "user", "Content": "Tab\there, url a+b=c&d"},
    ],
    "Tools": [{"Type": "function", "Function": {"Name": "get_weather", "Description": "查询天气",
                                               "Parameters": {"type": "object", "required": ["city"],
                                                              "properties": {"city": {"type": "string"}}}}}],
    "Think": True, "ThinkLevel": "high", "IsThinkSet": True, "Response": "", "Prompt": "写一首诗",
}

DATA_SETS = [
    json.dumps(_FULL, ensure_ascii=False),
    json.dumps({k: v for k, v in _FULL.items() if k not in ("Messages", "Map", "Name", "T")}, ensure_ascii=False),
    json.dumps({"Messages": [], "System": "", "Tools": None, "Response": "", "Think": False}),
    json.dumps({}),
    "null",
    json.dumps(["x", "y"]),
]


def named_cases() -> list[Case]:
    """One case per bug the hand-written evaluator had, and the neighbours of each."""
    full = DATA_SETS[0]
    raw = [
        ("cjk_string_literal", '{{ "你好" }}'),
        ("cjk_emoji_text", "前{{ .Greeting }}后 {{ .Emoji }} 🌸"),
        ("escapes_u_x_octal", r'{{ "\u4f60\u597d \x41\101\t|\n|\\|\"" }}'),
        ("escape_U", r'{{ "\U0001F338" }}'),
        ("escape_utf8_bytes", r'{{ "\xe4\xbd\xa0" }}'),
        ("escape_invalid_utf8", r'{{ "\xff\xfe" }}'),
        ("raw_string", "{{ `原始 \\n 文本` }}"),
        ("raw_string_newline", "{{ `line1\nline2` }}"),
        ("bad_escape", r'{{ "\q" }}'),
        ("char_constant", "{{ 'a' }} {{ '你' }} {{ '\\n' }}"),
        ("list_print", "{{ .List }}"),
        ("list_nested_print", "{{ .Mixed }}"),
        ("list_numbers_print", "{{ .Nums }}"),
        ("map_print_sorted", "{{ .Map }}"),
        ("map_nested_print", "{{ .Nested }}"),
        ("empty_list_map", "{{ .EmptyList }} {{ .EmptyMap }}"),
        ("float_whole", "{{ .One }} {{ .Zero }} {{ 2.0 }} {{ .Two }}"),
        ("float_exponents", "{{ .Big }} {{ .Large }} {{ .Small }} {{ .Tiny }} {{ .Million }} {{ .Mid }} {{ 1e6 }} {{ 1e-5 }}"),
        ("float_plain", "{{ .Pi }} {{ .Neg }} {{ .Cents }} {{ 1.5 }}"),
        ("bool_print", "{{ .T }} {{ .F }} {{ true }} {{ not .T }}"),
        ("nil_print", "{{ print nil }} {{ print .Nil }} {{ .Nil }} {{ printf \"%v\" nil }}"),
        ("missing_key", "[{{ .Missing }}]"),
        ("missing_key_print", "[{{ print .Missing }}] [{{ html .Missing }}] [{{ len .Map }}]"),
        ("missing_nested", "{{ .Nested.Missing }}"),
        ("missing_chain_error", "{{ .Missing.Field }}"),
        ("comment", "a{{/* a comment */}}b"),
        ("comment_trim", "a  {{- /* x */ -}}  b"),
        ("comment_multiline", "a{{/* line1\nline2 */}}b"),
        ("comment_unclosed", "a{{/* x }}b"),
        ("comment_space_before_close", "a{{/* x */ }}b"),
        ("json_func", "{{ json .Tools }} {{ json .Map }} {{ json .Quote }} {{ json .Nums }}"),
        ("print_spacing", '{{ print 1 2 "a" 3 "b" "c" }}|{{ println 1 "a" 2 }}|'),
        ("printf_common", '{{ printf "%s=%d %q %v %5.2f|%-4s|%x" "k" 3 "引号" .List 3.14159 "ab" "hi" }}'),
        ("printf_float_arg_d", '{{ printf "%d" .One }}'),
        ("eq_multi", '{{ eq .Name "x" "Blossom" }} {{ eq .One 1.0 }}'),
        ("eq_int_float_error", "{{ eq .One 1 }}"),
        ("range_map_sorted", "{{ range $k, $v := .Map }}{{ $k }}={{ $v }};{{ end }}"),
        ("range_break_continue", "{{ range $i, $m := .Messages }}{{ if eq $i 1 }}{{ continue }}{{ end }}"
                                 "{{ if eq $m.Role \"tool\" }}{{ break }}{{ end }}{{ $m.Role }},{{ end }}"),
        ("define_template", '{{ define "msg" }}<{{ .Role }}>{{ end }}{{ range .Messages }}{{ template "msg" . }}{{ end }}'),
        ("block", '{{ block "b" .Name }}[{{ . }}]{{ end }}'),
        ("with_else", "{{ with .Missing }}yes{{ else }}no{{ end }} {{ with .Nested.Inner }}{{ .Deep }}{{ end }}"),
        ("assign", "{{ $x := 1 }}{{ range .List }}{{ $x = . }}{{ end }}{{ $x }}"),
        ("html_js_urlquery", "{{ html .Quote }}|{{ js .Quote }}|{{ urlquery .Quote }}|{{ js .Greeting }}"),
        ("qwen_like", "{{- if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}"
                      "{{- range $i, $_ := .Messages }}{{- $last := eq (len (slice $.Messages $i)) 1 -}}"
                      "<|im_start|>{{ .Role }}\n{{ .Content }}{{ if not $last }}<|im_end|>\n{{ end }}"
                      "{{- if and $last (ne .Role \"assistant\") }}<|im_end|>\n<|im_start|>assistant\n{{ end }}{{- end }}"),
    ]
    return [Case(name, template, full) for name, template in raw]


# --------------------------------------------------------------------------------------- generator

_TEXTS = ["Hello", "你好，世界", "🌸", "\n", "  ", "\t", "<|im_start|>", "|Human|: ", "“引号”", "a}b", "{", " x ",
          "\n\n", "思考：", "&<>", "end", "", "$", "\\n"]
_STRINGS = ['"你好"', '"Blossom"', '""', r'"\u4f60\t\x41"', r'"\n"', r'"\"q\""', r'"\\"', '"a b"', r'"\U0001F338"',
            r'"\101\102"', r'"\xe4\xbd"', "`原始\\n`", "``", "`a\"b`", '"%"', '"=&<>"', '"user"', '"assistant"',
            '"system"', '"high"', '"Role"', '"Inner"', '"a"', '"k"']
_NUMBERS = ["0", "1", "2", "-1", "42", "1.5", "-2.5", "2.0", "1e3", "1e6", "1e21", "1.5e-7", "0x1F", "0o17", "017",
            "0b101", "1_000", "'a'", "'你'", "+3", ".5", "1.", "9223372036854775807", "9223372036854775808",
            "1e400", "08", "0x1p4", "3i"]
_FIELDS = [".Name", ".Greeting", ".Emoji", ".Empty", ".Quote", ".Zero", ".One", ".Two", ".Pi", ".Neg", ".Big",
           ".Small", ".Million", ".T", ".F", ".Nil", ".List", ".Nums", ".EmptyList", ".Mixed", ".Map", ".EmptyMap",
           ".Nested", ".Nested.Inner", ".Nested.Inner.Deep", ".Nested.Inner.L", ".Nested.List", ".Missing",
           ".Missing.X", ".Nested.Nope", ".Map.a", ".Map.c", ".Name.X", ".System", ".Messages", ".Tools",
           ".Think", ".ThinkLevel", ".IsThinkSet", ".Response", ".Prompt", ".Tiny", ".Large", ".Cents", ".Mid"]
_INNER_FIELDS = [".Role", ".Content", ".Thinking", ".ToolName", ".Missing", ".Deep", ".N", ".L", ".Function.Name",
                 ".Type", ".k"]
_FORMATS = ['"%s"', '"%v"', '"%d"', '"%q"', '"%5s|"', '"%-5s|"', '"%x"', '"%X"', '"%t"', '"%c"', '"%.2f"', '"%e"',
            '"%g"', '"%8.3f"', '"%05d"', '"%+d"', '"%%"', '"%s %s"', '"%d items"', '"%v and %v"', '"%6.2v"',
            '"[%3d]"', '"%.1s"', '"%T"', '"%[1]s"', '"%"', '"%s=%v;"', '"%.0f"', '"% d"', '"%-8v|"', '"%.3g"',
            '"%E"', '"%G"', '"%010.4f"', '"%x %X"']
_UNARY = ["len", "not", "html", "js", "urlquery", "print", "println", "json"]
_COMPARE = ["eq", "ne", "lt", "le", "gt", "ge"]


class _Gen:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.vars: list[list[str]] = [["$"]]
        self.range_depth = 0
        self.defined: list[str] = []
        self.counter = 0

    def pick(self, options: list[str]) -> str:
        return self.rng.choice(options)

    def var_names(self) -> list[str]:
        return [v for scope in self.vars for v in scope]

    def new_var(self) -> str:
        self.counter += 1
        return f"$v{self.counter}"

    def operand(self, depth: int) -> str:
        r = self.rng.random()
        if r < 0.30:
            return self.pick(_FIELDS)
        if r < 0.40:
            return self.pick(_STRINGS)
        if r < 0.48:
            return self.pick(_NUMBERS[:22] if self.rng.random() < 0.9 else _NUMBERS)
        if r < 0.52:
            return self.pick(["true", "false", "nil", "."])
        if r < 0.62:
            name = self.pick(self.var_names())
            return name + (self.pick(["", "", _FIELDS[self.rng.randrange(len(_FIELDS))], ".Role"]) if name != "$" else
                           self.pick(["", ".Name", ".List", ".Messages", ".Missing"]))
        if r < 0.70:
            return self.pick(_INNER_FIELDS)
        if depth > 0:
            return "(" + self.call(depth - 1) + ")"
        return self.pick(_FIELDS)

    def call(self, depth: int) -> str:
        r = self.rng.random()
        if r < 0.2:
            return f"{self.pick(_UNARY)} {self.operand(depth)}"
        if r < 0.35:
            op = self.pick(_COMPARE)
            n = 3 if op == "eq" and self.rng.random() < 0.3 else 2
            return " ".join([op] + [self.operand(depth) for _ in range(n)])
        if r < 0.45:
            return " ".join([self.pick(["and", "or"])] + [self.operand(depth) for _ in range(self.rng.randint(1, 3))])
        if r < 0.55:
            target = self.pick([".List", ".Nums", ".Map", ".Messages", ".Nested", ".Mixed", ".Greeting", ".Name",
                                ".Nested.Inner.L", ".Missing", ".Tools"])
            keys = self.pick(['0', '1', '2', '5', '-1', '"a"', '"c"', '"Inner" "Deep"', '0 "Role"', '1.0', '.One',
                              '"b"', '"zz"', '', 'nil'])
            return f"index {target} {keys}".rstrip()
        if r < 0.62:
            target = self.pick([".List", ".Nums", ".Messages", ".Greeting", ".Name", ".Map", ".EmptyList", ".Missing"])
            idx = self.pick(["", "1", "0 1", "1 2", "0 3", "2 1", "1 1", "0 5", "0 1 2", "3", "10", ".One"])
            return f"slice {target} {idx}".rstrip()
        if r < 0.75:
            args = " ".join(self.operand(depth) for _ in range(self.rng.randint(0, 3)))
            return f"printf {self.pick(_FORMATS)} {args}".rstrip()
        if r < 0.82:
            return " ".join([self.pick(["print", "println", "html", "js", "urlquery"])]
                            + [self.operand(depth) for _ in range(self.rng.randint(0, 3))])
        if r < 0.85:
            return self.pick(["currentDate", "yesterdayDate", 'currentDate "2006"', "currentDate 1",
                              "json .Messages", "json .Missing", "json .Quote", "toTypeScriptType .Tools",
                              "call .Name", "call .Missing", "len", "not 1 2", "eq", "lt 1"])
        return self.operand(depth)

    def pipeline(self, depth: int = 2) -> str:
        first = self.call(depth)
        stages = [first]
        while self.rng.random() < 0.15:
            stages.append(self.pick(["len", "print", "printf \"%v|\"", "html", "not", "json", "urlquery", "js",
                                     "eq 1.0", "and 1", "or 0", "index .Map", "slice .List 0", "println",
                                     ".Name", "1"]))
        return " | ".join(stages)

    def action(self, body: str) -> str:
        left = "{{- " if self.rng.random() < 0.2 else "{{ " if self.rng.random() < 0.8 else "{{"
        right = " -}}" if self.rng.random() < 0.2 else " }}" if self.rng.random() < 0.8 else "}}"
        return left + body + right

    def text(self) -> str:
        return "".join(self.pick(_TEXTS) for _ in range(self.rng.randint(0, 2)))

    def statements(self, depth: int, count: int) -> str:
        return "".join(self.statement(depth) for _ in range(count))

    def scoped(self, decl: list[str], build) -> str:
        self.vars.append(list(decl))
        try:
            return build()
        finally:
            self.vars.pop()

    def statement(self, depth: int) -> str:
        r = self.rng.random()
        if r < 0.22 or depth <= 0:
            return self.text() + self.action(self.pipeline())
        if r < 0.30:
            return self.text()
        if r < 0.36:
            name = self.new_var()
            self.vars[-1].append(name)
            return self.action(f"{name} := {self.pipeline()}")
        if r < 0.40 and len(self.var_names()) > 1:
            name = self.pick(self.var_names()[1:])
            return self.action(f"{name} = {self.pipeline()}")
        if r < 0.52:
            return self.if_statement(depth)
        if r < 0.64:
            return self.range_statement(depth)
        if r < 0.70:
            decl = self.new_var() if self.rng.random() < 0.3 else ""
            head = f"with {decl} := {self.pipeline()}" if decl else f"with {self.pipeline()}"
            body = self.scoped([decl] if decl else [], lambda: self.statements(depth - 1, 2))
            other = self.action("else") + self.statements(depth - 1, 1) if self.rng.random() < 0.4 else ""
            return self.action(head) + body + other + self.action("end")
        if r < 0.74:
            return self.pick(["{{/* note */}}", "{{- /* trimmed */ -}}", "{{/* 注释 */ -}}", "{{- /* x */}}",
                              "{{/*\nmulti\n*/}}", "{{ /* bad */ }}", "{{/* a */}}{{/* b */}}"])
        if r < 0.80 and self.range_depth:
            return self.action(self.pick(["break", "continue"]))
        if r < 0.86:
            name = self.pick(self.defined or ["undefined"])
            arg = self.pick(["", " .", " .Name", " $", " .Messages", " .Missing", " (index .List 0)"])
            return self.action(f'template "{name}"{arg}')
        if r < 0.90:
            name = f"blk{self.counter}"
            self.counter += 1
            saved, self.vars, saved_depth, self.range_depth = self.vars, [["$"]], self.range_depth, 0
            body = self.statements(depth - 1, 2)
            self.vars, self.range_depth = saved, saved_depth
            return self.action(f'block "{name}" {self.pick([".", ".Name", "$", ".Nested.Inner", ".List"])}') + body + \
                self.action("end")
        return self.text() + self.action(self.pipeline(1))

    def if_statement(self, depth: int) -> str:
        decl = self.new_var() if self.rng.random() < 0.15 else ""
        head = f"if {decl} := {self.pipeline()}" if decl else f"if {self.pipeline()}"

        def build() -> str:
            out = self.action(head) + self.statements(depth - 1, 2)
            for _ in range(self.rng.choice([0, 0, 1, 2])):
                out += self.action(f"else if {self.pipeline()}") + self.statements(depth - 1, 1)
            if self.rng.random() < 0.5:
                out += self.action("else") + self.statements(depth - 1, 1)
            return out
        return self.scoped([decl] if decl else [], build) + self.action("end")

    def range_statement(self, depth: int) -> str:
        over = self.pick([".List", ".Nums", ".Map", ".Messages", ".EmptyList", ".EmptyMap", ".Mixed", ".Missing",
                          ".Nested.List", ".Nested.Inner.L", ".Tools", ".", ".Name", ".One", "$.Messages",
                          "(slice .List 1)", ".Nested"])
        style = self.rng.random()
        if style < 0.35:
            decl: list[str] = []
            head = f"range {over}"
        elif style < 0.6:
            decl = [self.new_var()]
            head = f"range {decl[0]} := {over}"
        else:
            decl = [self.new_var(), self.new_var()]
            head = f"range {decl[0]}, {decl[1]} := {over}"

        def build() -> str:
            self.range_depth += 1
            body = self.statements(depth - 1, self.rng.randint(1, 3))
            self.range_depth -= 1
            return body
        body = self.scoped(decl, build)
        other = self.action("else") + self.statements(depth - 1, 1) if self.rng.random() < 0.3 else ""
        return self.action(head) + body + other + self.action("end")

    def template(self) -> str:
        out = ""
        if self.rng.random() < 0.25:
            name = self.pick(["msg", "sys", "tool", "空"])
            saved = self.vars
            self.vars = [["$"]]
            body = self.statements(1, 2)
            self.vars = saved
            self.defined.append(name)
            out += self.action(f'define "{name}"') + body + self.action("end") + self.text()
        out += self.statements(3, self.rng.randint(1, 4))
        return out


def generated_cases(count: int = GENERATED, seed: int = SEED) -> list[Case]:
    """`count` random templates, each over one of DATA_SETS; the same seed gives the same cases."""
    rng = random.Random(seed)
    cases = []
    for i in range(count):
        gen = _Gen(rng)
        data = DATA_SETS[0] if rng.random() < 0.6 else rng.choice(DATA_SETS)
        cases.append(Case(f"gen{i}", gen.template(), data))
    return cases


def all_cases() -> list[Case]:
    return named_cases() + generated_cases()


# ------------------------------------------------------------------------------ the generator's tests

def test_the_generator_is_deterministic():
    assert generated_cases(200) == generated_cases(200)
    assert generated_cases(50, seed=1) != generated_cases(50, seed=2)


def test_the_cases_cover_what_ollama_templates_use():
    cases = all_cases()
    assert len(cases) >= 5000
    assert len({c.template for c in cases}) > 0.9 * len(cases)
    text = "\n".join(c.template for c in cases)
    for construct in ["{{-", "-}}", "{{/*", "else if", "range $v", ", $v", ":= ", " = ", "with ", "{{ else }}",
                      "define ", "template ", "block ", "break", "continue", "`", '"\\u', "'a'", "nil", "true",
                      "(", " | ", "$.", "你好", "🌸", *_UNARY, *_COMPARE, "and ", "or ", "index ", "slice ",
                      "printf ", "call ", "currentDate", "yesterdayDate", "toTypeScriptType"]:
        assert construct in text, construct
