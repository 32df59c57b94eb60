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
import re
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
        ("qwen3_tools", "{{- if or .System .Tools }}<|im_start|>system\n{{- if .System }}\n{{ .System }}{{- end }}"
                        "{{- if .Tools }}\n\n# Tools\n<tools>{{- range .Tools }}\n{\"type\": \"function\", \"function\": "
                        "{{ json .Function }}}{{- end }}\n</tools>{{- end }}<|im_end|>\n{{ end }}"
                        "{{- range $i, $_ := .Messages }}{{- $last := eq (len (slice $.Messages $i)) 1 -}}"
                        "{{- if eq .Role \"user\" }}<|im_start|>user\n{{ .Content }}<|im_end|>\n"
                        "{{ else if eq .Role \"assistant\" }}<|im_start|>assistant\n"
                        "{{ if and $.IsThinkSet .Thinking }}<think>{{ .Thinking }}</think>\n{{ end }}{{ .Content }}"
                        "{{- range .ToolCalls }}<tool_call>\n{\"name\": \"{{ .Function.Name }}\", \"arguments\": "
                        "{{ json .Function.Arguments }}}\n</tool_call>{{ end }}{{ if not $last }}<|im_end|>\n{{ end }}"
                        "{{ else if eq .Role \"tool\" }}<|im_start|>user\n<tool_response>\n{{ .Content }}\n"
                        "</tool_response><|im_end|>\n{{ end }}{{- if and (ne .Role \"assistant\") $last }}"
                        "<|im_start|>assistant\n{{ if and $.IsThinkSet (not $.Think) }}<think>\n\n</think>\n\n{{ end }}"
                        "{{ end }}{{- end }}"),
        ("think_levels", '{{ if eq .ThinkLevel "high" "max" }}深度{{ else if eq .ThinkLevel "medium" }}中{{ end }}'
                         '{{ with .ThinkLevel }}[{{ . }}]{{ end }}'),
        ("trim_variants", "a \r\n {{- 3 -}} \r\n b {{-3}} c {{3 -}}\n d {{- /* c */}} e"),
        ("trim_minus_without_space", "{{3-}}"),
        ("chained_parens", "{{ (index .Messages 1).Role }} {{ (.Nested).Inner.Deep }} {{ (.Missing).X }}"),
        ("dollar_in_define", '{{ define "d" }}{{ $ }}|{{ $.Role }}{{ end }}{{ template "d" index .Messages 0 }}'
                             '{{ template "d" }}'),
        ("variable_shadow_and_assign", "{{ $x := 1 }}{{ range .List }}{{ $x := . }}{{ $x }}{{ end }}{{ $x }}"
                                       "{{ range $i, $v := .List }}{{ $x = $i }}{{ end }}{{ $x }}"),
        ("with_and_if_decl", "{{ with $m := index .Messages 1 }}{{ $m.Role }}{{ .Content }}{{ end }}"
                             "{{ if $n := len .List }}{{ $n }}{{ end }}"),
        ("nil_comparisons", "{{ eq .Nil nil }} {{ eq .Missing .Nil }} {{ eq (index .Mixed 3) nil }} {{ not nil }}"
                            " {{ and nil 1 }} {{ or nil 0 }} {{ eq .List nil }} {{ ne .Name nil }}"),
        ("nil_in_containers", "{{ range .Mixed }}[{{ . }}]{{ end }} {{ range $k, $v := .Map }}{{ $k }}={{ $v }},{{ end }}"),
        ("len_nil_error", "{{ len nil }}"),
        ("index_map_nil_value", '{{ index .Map "c" }}|{{ index .Map "zz" }}|{{ print (index .Map "c") }}'),
        ("escapers_edge", r'{{ html "\x00<>" }} {{ js "\x01\n\u2028é" }} {{ urlquery "中 文/?&=" }}'
                          ' {{ json "\u2028<tag>&" }}'),
        ("printf_quote_invalid", r'{{ printf "%q" "\xff你" }} {{ printf "%q" 97 }} {{ printf "%x" "你" }}'),
        ("pipeline_final_arg", '{{ "a" | printf "%s-%s" "b" }} {{ 3 | printf "%d" }} {{ .Name | len }}'
                               ' {{ .List | index 0 }}'),
        ("define_twice_error", '{{ define "x" }}a{{ end }}{{ define "x" }}b{{ end }}'),
        ("define_empty_then_full", '{{ define "x" }}{{ end }}{{ define "x" }}b{{ end }}{{ template "x" }}'),
        ("block_then_define", '{{ block "x" . }}block{{ end }}{{ define "x" }}defined{{ end }}'),
        ("break_outside_range", "{{ break }}"),
        ("else_at_top", "{{ else }}"),
        ("extra_end", "{{ end }}"),
        ("unclosed_action", "{{ .Name "),
        ("unicode_identifier", "{{ .名字 }}|{{ $名 := 1 }}{{ $名 }}"),
        ("unicode_map_keys", "{{ .Unicode }}"),
        ("negative_zero", "{{ -0.0 }} {{ .NegZero }} {{ 0.0 }}"),
        ("number_forms", "{{ -1 }} {{ +1 }} {{ 0x10 }} {{ 1_000 }} {{ 017 }} {{ 0b11 }} {{ 1e3 }} {{ .5 }}"),
        ("char_forms", r"{{ '\x41' }} {{ '\u4f60' }} {{ '\'' }} {{ '\\' }}"),
        ("single_quote_escape_in_string", '{{ "\\\'" }}'),
        ("recursion_bounded", '{{ define "r" }}{{ if . }}{{ len . }}{{ template "r" slice . 1 }}{{ end }}{{ end }}'
                              '{{ template "r" .List }}'),
        ("else_with_refused_1_19_error", "{{ with .Missing }}a{{ else with .Name }}{{ . }}{{ end }}"),
        ("range_over_int", "{{ range 3 }}x{{ end }}"),
        ("trim_with_tab_newline", "a \n{{-\t.Name\t-}}\n b {{-\n.Name\n-}} c {{-\r\n.Name\r\n-}} d"),
        ("delims_inside_literals", '{{ "{{" }}|{{ "}}" }}|{{ `}}{{` }}|{{/* }} */}}|{{ print "-}}" }}'),
        ("parenthesized_constants", '{{ (1) }} {{ ("a") | print }} {{ print (1) (2) }} {{ (.Name) }}'),
        ("printf_containers", '{{ printf "%d" .Nums }} {{ printf "%s" .Mixed }} {{ printf "%q" .List }}'
                              ' {{ printf "%x" .List }} {{ printf "%v" .Map }} {{ printf "%X" -255 }}'),
        ("printf_bad_verbs", '{{ printf "%6.2f|%t|%c|%d" true "x" 1.5 "s" }} {{ printf "%-10q|" "引" }}'),
        ("printf_missing_extra", '{{ printf "%s %d" "a" }} {{ printf "%s" "a" 1 nil .List }}'),
        ("ollama_date_funcs", '{{ if eq (len currentDate) 10 }}ok{{ end }}{{ if ne currentDate yesterdayDate }}'
                              ' differ{{ end }}'),
    ]
    data = json.loads(full)
    data["Messages"][2]["ToolCalls"] = [{"Function": {"Name": "get_weather", "Arguments": {"city": "北京"}}}]
    data["Unicode"] = {"中": 1, "a": 2, "Z": 3, "é": 4}
    data["NegZero"] = -0.0
    return [Case(name, template, json.dumps(data, ensure_ascii=False)) for name, template in raw]


# --------------------------------------------------------------------------------------- generator

_TEXTS = ["Hello", "你好，世界", "🌸", "\n", "  ", "\t", "<|im_start|>", "|Human|: ", "“引号”", "a}b", " x ", "\n\n",
          "思考：", "&<>", "end", "", "$", "\\n", "}"]
_STRINGS = ['"你好"', '"Blossom"', '""', r'"\u4f60\t\x41"', r'"\n"', r'"\"q\""', r'"\\"', '"a b"', r'"\U0001F338"',
            r'"\101\102"', r'"\xe4\xbd"', "`原始\\n`", "``", "`a\"b`", '"%"', '"=&<>"', '"user"', '"assistant"',
            '"system"', '"high"', '"Role"', '"Inner"', '"a"', '"k"', "`多行\n文本`", r'"\x41\x42"', '"🌸 emoji"',
            r'"\u00a0\u200b\u00ad"', '"🧑\u200d💻"', r'"\x7f\x1b[0m"', '"Ωé\u3000全角"']
_STRING_FIELDS = [".Name", ".Greeting", ".Emoji", ".Empty", ".Quote", ".System", ".ThinkLevel", ".Prompt",
                  ".Nested.Inner.Deep", ".Map.a", ".Response"]
_FLOATS = ["1.0", "2.5", "-2.5", "0.0", "1e6", "1e21", "1.5e-7", "1e3", ".5", "1.", "3.14159", "100.0"]
_FLOAT_FIELDS = [".One", ".Pi", ".Zero", ".Neg", ".Big", ".Small", ".Million", ".Map.b", ".Two", ".Tiny", ".Large",
                 ".Cents", ".Mid", ".Nested.Inner.N"]
_INTS = ["0", "1", "2", "-1", "42", "0x1F", "0o17", "017", "0b101", "1_000", "'a'", "'你'", "+3",
         "9223372036854775807", "(len .List)", "(len .Greeting)", "(len .Map)", "(len .Messages)", "(index .Name 0)"]
_RARE_NUMBERS = ["9223372036854775808", "1e400", "08", "0x1p4", "3i", "1_0.5", "-0x10", "'\\n'", "'\\x41'"]
_BOOL_FIELDS = [".T", ".F", ".Think", ".IsThinkSet"]
_OTHER_FIELDS = [".List", ".Nums", ".EmptyList", ".Mixed", ".Map", ".EmptyMap", ".Nested", ".Nested.Inner",
                 ".Nested.Inner.L", ".Nested.List", ".Messages", ".Tools", ".Nil", ".Missing", ".Map.c", ".Map.B"]
_BAD_FIELDS = [".Missing.X", ".Nested.Nope", ".Name.X", ".Nil.X", ".List.X", ".Missing.X.Y"]
_FIELDS = _STRING_FIELDS + _FLOAT_FIELDS + _BOOL_FIELDS + _OTHER_FIELDS
_MESSAGE_FIELDS = [".Role", ".Content", ".Thinking", ".ToolName", ".Missing"]
_FORMATS = [('"%s"', "s"), ('"%v"', "a"), ('"%d"', "i"), ('"%q"', "s"), ('"%5s|"', "s"), ('"%-5s|"', "s"),
            ('"%x"', "s"), ('"%X"', "i"), ('"%t"', "b"), ('"%c"', "i"), ('"%.2f"', "f"), ('"%e"', "f"), ('"%g"', "f"),
            ('"%8.3f"', "f"), ('"%05d"', "i"), ('"%+d"', "i"), ('"%%"', ""), ('"%s %s"', "ss"), ('"%d items"', "i"),
            ('"%v and %v"', "aa"), ('"%6.2v"', "f"), ('"[%3d]"', "i"), ('"%.1s"', "s"), ('"%s=%v;"', "sa"),
            ('"%.0f"', "f"), ('"% d"', "i"), ('"%-8v|"', "a"), ('"%.3g"', "f"), ('"%E"', "f"), ('"%G"', "f"),
            ('"%010.4f"', "f"), ('"%x %X"', "is"), ('"%q %v"', "sa"), ('"<%s>"', "s"), ('"%.3s"', "s"),
            ('"%+.1e"', "f"), ('"%8.2e|"', "f"), ('"%-6d|"', "i"), ('"%v%v%v"', "aaa"), ('"%s: %d"', "si"),
            ('"%5t|"', "b"), ('"%-3c|"', "i"), ('"%08.3f"', "f"), ('"%+v"', "f"), ('"%6.1f%%"', "f")]
_RARE_FORMATS = ['"%T"', '"%[1]s"', '"%"', '"%z"', '"%#v"', '"%*d"', '"%U"', '"%b"', '"%o"']
_UNARY = ["len", "not", "html", "js", "urlquery", "print", "println", "json"]
_COMPARE = ["eq", "ne", "lt", "le", "gt", "ge"]
_STAGES = ["print", 'printf "%v|"', "html", "not", "json", "urlquery", "js", "println", "and 1", "or 0", "print 1",
           'printf "%s-%v" "x"', "len", "index .Map"]
_RARE_STAGES = ["1", ".Name", '"x"', "eq 1.0", "slice .List 0", "nil"]


class _Gen:
    def __init__(self, rng: random.Random, noisy: bool) -> None:
        self.rng = rng
        self.noisy = noisy
        self.vars: list[list[str]] = [["$"]]
        self.range_depth = 0
        self.defined: list[str] = []
        self.counter = 0
        self.dot = "root"  # what dot is: root (the data), message (one of .Messages) or other
        self.messages_var = ""

    def odd(self, chance: float) -> bool:
        """Whether to reach for something odd (a construct Go fails on, or we refuse): only in noisy cases."""
        return self.noisy and self.rng.random() < chance

    def pick(self, options: list[str]) -> str:
        return self.rng.choice(options)

    def var_names(self) -> list[str]:
        return [v for scope in self.vars for v in scope]

    def new_var(self) -> str:
        self.counter += 1
        return f"$v{self.counter}"

    def typed(self, kind: str, depth: int) -> str:
        """An operand that is usually of `kind` (string, float, int, bool), sometimes anything."""
        if self.odd(0.3):
            return self.operand(depth)
        if kind == "string":
            r = self.rng.random()
            if r < 0.4:
                return self.pick(_STRINGS)
            if r < 0.8 or depth <= 0:
                return self.field(_STRING_FIELDS, [".Role", ".Content"])
            return "(" + self.pick(["print", "html", "js", "urlquery", "printf \"%v\""]) + " " + \
                self.operand(depth - 1) + ")"
        if kind == "float":
            return self.pick(_FLOATS) if self.rng.random() < 0.4 else self.field(_FLOAT_FIELDS, [])
        if kind == "int":
            return self.root(self.pick(_INTS))
        return self.pick(["true", "false"]) if self.rng.random() < 0.4 else self.field(_BOOL_FIELDS, [])

    def root(self, text: str) -> str:
        """`text` with its fields of the data reached through $ where dot is something else."""
        return text if self.dot == "root" else re.sub(r"(?<![$\w)])\.(?=[A-Z])", "$.", text)

    def field(self, root: list[str], message: list[str]) -> str:
        """A field of dot where dot is the data, else through $ or a message variable."""
        if self.dot == "message" and message and self.rng.random() < 0.6:
            return self.pick(message)
        if self.dot == "message" and self.messages_var and self.rng.random() < 0.3:
            return self.messages_var + self.pick(message or _MESSAGE_FIELDS)
        prefix = "$" if self.dot != "root" or self.rng.random() < 0.1 else ""
        return prefix + self.pick(root)

    def operand(self, depth: int) -> str:
        r = self.rng.random()
        if r < 0.35:
            return self.field(_FIELDS, _MESSAGE_FIELDS)
        if r < 0.45:
            return self.pick(_STRINGS)
        if r < 0.53:
            return self.pick(_RARE_NUMBERS if self.odd(0.05) else _INTS + _FLOATS)
        if r < 0.57:
            return self.pick(["true", "false", "nil", ".", "$"])
        if r < 0.67 and len(self.var_names()) > 1:
            return self.pick(self.var_names()[1:])
        if r < 0.70 and self.odd(0.2):
            return self.pick(_BAD_FIELDS)
        if depth > 0:
            return "(" + self.call(depth - 1) + ")"
        return self.field(_FIELDS, _MESSAGE_FIELDS)

    def call(self, depth: int) -> str:
        r = self.rng.random()
        kind = self.pick(["string", "string", "float", "int", "bool"])
        if r < 0.15:
            return f"{self.pick(_UNARY)} {self.operand(depth)}"
        if r < 0.32:
            op = self.pick(_COMPARE)
            n = 3 if op == "eq" and self.rng.random() < 0.3 else 2
            return " ".join([op] + [self.typed(kind, depth) for _ in range(n)])
        if r < 0.40:
            return " ".join([self.pick(["and", "or"])] + [self.operand(depth) for _ in range(self.rng.randint(1, 3))])
        if r < 0.48:
            target, keys = self.pick([(".List", ["0", "1", "2", "3", "-1", "1.0", "(len .Map)"]),
                                      (".Nums", ["0", "3"]), (".Map", ['"a"', '"b"', '"c"', '"zz"', "1", "nil"]),
                                      (".Messages", ["0", '1 "Role"', '2 "Content"', '0 "Nope"']),
                                      (".Nested", ['"Inner" "Deep"', '"Inner" "L" 1', '"List" 0 "Role"']),
                                      (".Mixed", ["4 1", "5 \"k\"", "3", "3 0"]), (".Greeting", ["0", "3"]),
                                      (".Name", ["1", ""]), (".Missing", ["0", ""]), (".Tools", ['0 "Function" "Name"']),
                                      ("$.List", ["1"])])
            return self.root(f"index {target} {self.pick(keys)}".rstrip())
        if r < 0.54:
            target = self.pick([".List", ".Nums", ".Messages", ".Greeting", ".Name", ".Map", ".EmptyList", ".Missing",
                                ".Emoji"])
            idx = self.pick(["", "1", "0 1", "1 2", "0 3", "2 1", "1 1", "0 1 2", "3", "0 2 3", "1 3"]
                            + (["0 5", "10", ".One", "1 2 9"] if self.odd(0.5) else []))
            return self.root(f"slice {target} {idx}".rstrip())
        if r < 0.70:
            fmt, kinds = self.rng.choice(_FORMATS)
            if self.odd(0.3):
                fmt, kinds = self.pick(_RARE_FORMATS), "a" * self.rng.randint(0, 3)
            names = {"s": "string", "i": "int", "f": "float", "b": "bool"}
            args = [self.typed(names[k], depth) if k in names else self.operand(depth) for k in kinds]
            if self.odd(0.3):
                args = args[:-1] if self.rng.random() < 0.5 else args + [self.operand(depth)]
            return " ".join(["printf", fmt, *args])
        if r < 0.78:
            return " ".join([self.pick(["print", "println", "html", "js", "urlquery"])]
                            + [self.operand(depth) for _ in range(self.rng.randint(0, 3))])
        if r < 0.80:
            if self.odd(0.5):
                return self.pick(["currentDate 1", "toTypeScriptType .Tools", "call .Name", "call .Missing", "len",
                                  "not 1 2", "eq", "lt 1"])
            return self.root(self.pick(["currentDate", "yesterdayDate", 'currentDate "2006-01-02"', "json .Messages",
                                        "json .Missing", "json .Quote", "json .", "json nil", "json .Nums",
                                        "json (index .Messages 1)"]))
        if r < 0.85:
            return self.typed(kind, depth)
        return self.operand(depth)

    def pipeline(self, depth: int = 2) -> str:
        stages = [self.call(depth)]
        while self.rng.random() < 0.15:
            stages.append(self.root(self.pick(_RARE_STAGES if self.odd(0.1) else _STAGES)))
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

    def with_dot(self, dot: str, messages_var: str, build):
        saved = self.dot, self.messages_var
        self.dot, self.messages_var = dot, messages_var
        try:
            return build()
        finally:
            self.dot, self.messages_var = saved

    def statement(self, depth: int) -> str:
        r = self.rng.random()
        if r < 0.25 or depth <= 0:
            return self.text() + self.action(self.pipeline())
        if r < 0.32:
            return self.text()
        if r < 0.38:
            name = self.new_var()
            self.vars[-1].append(name)
            return self.action(f"{name} := {self.pipeline()}")
        if r < 0.42 and len(self.var_names()) > 1:
            name = self.pick(self.var_names()[1:])
            return self.action(f"{name} = {self.pipeline()}")
        if r < 0.55:
            return self.if_statement(depth)
        if r < 0.68:
            return self.range_statement(depth)
        if r < 0.74:
            decl = self.new_var() if self.rng.random() < 0.3 else ""
            over = self.pick([".Nested.Inner", ".Missing", ".Name", "index .Messages 1", ".Map", ".Empty", ".Nil",
                              ".T", ".EmptyList"]) if self.rng.random() < 0.6 else self.pipeline()
            head = f"with {decl} := {over}" if decl else f"with {over}"
            body = self.with_dot("message" if "Messages" in over else "other", "",
                                 lambda: self.scoped([decl] if decl else [], lambda: self.statements(depth - 1, 2)))
            other = self.action("else") + self.statements(depth - 1, 1) if self.rng.random() < 0.4 else ""
            return self.action(head) + body + other + self.action("end")
        if r < 0.78:
            comments = ["{{/* note */}}", "{{- /* trimmed */ -}}", "{{/* 注释 */ -}}", "{{- /* x */}}",
                        "{{/*\nmulti\n*/}}", "{{/* a */}}{{/* b */}}", "{{/**/}}"]
            return self.pick(["{{ /* bad */ }}", "{{/* bad */ }}"] if self.odd(0.1) else comments)
        if r < 0.84 and self.range_depth:
            return self.action(self.pick(["break", "continue"]))
        if r < 0.88 and (self.defined or self.odd(0.3)):
            name = self.pick(self.defined or ["undefined"])
            arg = self.pick(["", " .", " .Name", " $", " .Messages", " .Missing", " (index .Messages 0)"])
            return self.action(f'template "{name}"{arg}')
        if r < 0.92:
            name = f"blk{self.counter}"
            self.counter += 1
            over = self.pick([".", ".Name", "$", ".Nested.Inner", ".List", "index .Messages 0"])
            saved, self.vars, saved_depth, self.range_depth = self.vars, [["$"]], self.range_depth, 0
            body = self.with_dot("message" if "Messages" in over else "root" if over in (".", "$") else "other",
                                 "", lambda: self.statements(depth - 1, 2))
            self.vars, self.range_depth = saved, saved_depth
            return self.action(f'block "{name}" {over}') + body + self.action("end")
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
        over = self.pick([".List", ".Nums", ".Map", ".Messages", ".Messages", "$.Messages", ".EmptyList", ".EmptyMap",
                          ".Mixed", ".Missing", ".Nested.List", ".Nested.Inner.L", ".Tools", ".",
                          "(slice .List 1)", ".Nested", "(slice .Messages 1)", ".Nil"])
        over = self.root(self.pick(["3", ".Name", ".One", "len .List"]) if self.odd(0.1) else over)
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
        messages = "Messages" in over or over == ".Nested.List"

        def build() -> str:
            self.range_depth += 1
            body = self.statements(depth - 1, self.rng.randint(1, 2))
            self.range_depth -= 1
            return body
        body = self.with_dot("message" if messages else "other", decl[-1] if decl and messages else "",
                             lambda: self.scoped(decl, build))
        other = self.action("else") + self.statements(depth - 1, 1) if self.rng.random() < 0.3 else ""
        return self.action(head) + body + other + self.action("end")

    def template(self) -> str:
        out = ""
        if self.rng.random() < 0.25:
            name = self.pick(["msg", "sys", "tool", "空"])
            saved = self.vars
            self.vars = [["$"]]
            body = self.with_dot("message", "", lambda: self.statements(1, 2))
            self.vars = saved
            self.defined.append(name)
            out += self.action(f'define "{name}"') + body + self.action("end") + self.text()
        out += self.statements(self.rng.choice([1, 2, 2, 3]), self.rng.randint(1, 3))
        return out


def generated_cases(count: int = GENERATED, seed: int = SEED) -> list[Case]:
    """`count` random templates, each over one of DATA_SETS; the same seed gives the same cases."""
    rng = random.Random(seed)
    cases = []
    for i in range(count):
        noisy = rng.random() < 0.25
        gen = _Gen(rng, noisy)
        data = DATA_SETS[0] if rng.random() < 0.9 else rng.choice(DATA_SETS)
        cases.append(Case(f"{'noisy' if noisy else 'clean'}{i}", gen.template(), data))
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
