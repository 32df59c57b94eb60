"""The Modelfile reader must accept, reject and split exactly what Ollama's parser/parser.go does.

Cases marked (ollama) restate inputs and outcomes of Ollama's own parser tests; the others
pin down behaviour read from its state machine (comments, dropped characters, line numbers).
"""

from __future__ import annotations

import math

import pytest

from blossom_edge.ollama.go import create_request
from blossom_edge.ollama.go import modelfile_parser as mf
from blossom_edge.ollama.go.modelfile_parser import Command as C


def parse(text: str) -> list[tuple[str, str]]:
    return [(c.name, c.args) for c in mf.parse(text)]


def error(text: str) -> tuple[int, str]:
    with pytest.raises(mf.ModelfileError) as info:
        mf.parse(text)
    return info.value.problem.line, info.value.problem.message


TEMPLATE = ("{{ if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>{{ end }}"
            "<|start_header_id|>assistant<|end_header_id|>\n\n{{ .Response }}<|eot_id|>")


def test_every_command_and_trailing_spaces_after_closing_quotes():  # (ollama)
    text = ("\nFROM model1\nADAPTER adapter1\nLICENSE MIT\nPARAMETER param1 value1\nPARAMETER param2 value2\n"
            f'TEMPLATE """{TEMPLATE}"""    \nSYSTEM you are\nDRAFT ./d\nRENDERER r1\nPARSER p1\nREQUIRES 0.14.0\n'
            "MESSAGE user hi\n")
    assert parse(text) == [("model", "model1"), ("adapter", "adapter1"), ("license", "MIT"), ("param1", "value1"),
                           ("param2", "value2"), ("template", TEMPLATE), ("system", "you are"), ("draft", "./d"),
                           ("renderer", "r1"), ("parser", "p1"), ("requires", "0.14.0"), ("message", "user: hi")]


def test_whitespace_is_trimmed_outside_quotes_only():  # (ollama)
    text = ('FROM "     model 1"\nADAPTER      adapter3\nLICENSE "MIT       "\nPARAMETER param1        value1\n'
            f'TEMPLATE """   {TEMPLATE}   """    \n')
    assert parse(text) == [("model", "     model 1"), ("adapter", "adapter3"), ("license", "MIT       "),
                           ("param1", "value1"), ("template", f"   {TEMPLATE}   ")]


@pytest.mark.parametrize("text, expected", [  # (ollama)
    ('FROM "FOO  BAR  "', [("model", "FOO  BAR  ")]),
    ('FROM "FOO BAR"\nPARAMETER param1 value1', [("model", "FOO BAR"), ("param1", "value1")]),
    ("FROM     FOOO BAR    ", [("model", "FOOO BAR")]),
    ("FROM /what/is/the path ", [("model", "/what/is/the path")]),
    ("FROM llama3:7b-instruct-q4_K_M", [("model", "llama3:7b-instruct-q4_K_M")]),
    ("PARAMETER param1 value1\nFROM foo", [("param1", "value1"), ("model", "foo")]),
    ("PARAMETER what the \nFROM lemons make lemonade ", [("what", "the"), ("model", "lemons make lemonade")]),
])
def test_from_values(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize("text", ["", "PARAMETER param1 value1", "# only a comment\n", "SYSTEM hi\n"])
def test_missing_from(text):  # (ollama)
    assert error(text) == (0, "no FROM line")


def test_commands_are_case_insensitive_but_parameter_names_and_roles_are_not():
    assert parse("from x\nsYsTeM y\nParameter Temperature 1\nmessage user u\n") == [
        ("model", "x"), ("system", "y"), ("Temperature", "1"), ("message", "user: u")]
    assert [str(p) for p in create_request.check(mf.parse("FROM x\nPARAMETER Temperature 1\n"))] == [
        "line 2: error: unknown parameter 'Temperature'"]
    assert error("FROM x\nMESSAGE User hi\n") == (2, mf.ERR_INVALID_ROLE)


def test_unknown_command_reports_its_line():  # (ollama)
    assert error("\nFROM foo\nBADCOMMAND param1 value1\n") == (3, mf.ERR_INVALID_COMMAND)
    assert error("FROM foo\nFROM2 x\n") == (2, mf.ERR_INVALID_COMMAND)


def test_keyword_without_value_counts_the_newline_first():
    # Ollama bumps the line counter before it looks at the newline that breaks the keyword.
    assert error("FROM x\nSYSTEM\nfoo\n") == (3, mf.ERR_INVALID_COMMAND)


def test_crlf_counts_as_two_lines_like_ollama():
    assert parse("FROM x\r\nSYSTEM y\r\n") == [("model", "x"), ("system", "y")]
    assert error("FROM x\r\nBAD y\r\n") == (3, mf.ERR_INVALID_COMMAND)


@pytest.mark.parametrize("text, message", [  # (ollama)
    ("\nFROM foo\nPARAMETER param1\n", "unexpected EOF: param1"),
    ("\nFROM foo\nMESSAGE system\n", "unexpected EOF: system"),
    ("\nFROM foo\nMESSAGE system", "unexpected EOF"),
    ("\nFROM foo\nSYSTEM", "unexpected EOF"),
    ('\nFROM foo\nSYSTEM """This is a multiline system.""\n\t\t\t', "unexpected EOF"),
    ('\nFROM foo\nSYSTEM "\n\t\t\t', "unexpected EOF"),
])
def test_unfinished_commands_are_unexpected_eof_without_a_line(text, message):
    with pytest.raises(mf.ModelfileError) as info:
        mf.parse(text)
    assert (info.value.problem.line, info.value.problem.message) == (0, message)
    assert info.value.start == 3 and "starts on line 3" in str(info.value)


@pytest.mark.parametrize("text, value", [  # (ollama)
    ('SYSTEM """\nThis is a\nmultiline system.\n"""\n\t\t\t', "\nThis is a\nmultiline system.\n"),
    ('SYSTEM """\nThis is a\nmultiline system."""\n', "\nThis is a\nmultiline system."),
    ('SYSTEM """This is a\nmultiline system."""\n', "This is a\nmultiline system."),
    ('SYSTEM """This is a multiline system."""\n', "This is a multiline system."),
    ('SYSTEM """\nThis is a multiline system with "quotes".\n"""\n', '\nThis is a multiline system with "quotes".\n'),
    ('SYSTEM """"""\n', ""),
    ('SYSTEM ""\n', ""),
    ("SYSTEM \"'\"\n", "'"),
    ('SYSTEM """\'\'"\'""\'""\'"\'\'\'\'\'""\'""\'"""\n', '\'\'"\'""\'""\'"\'\'\'\'\'""\'""\''),
    ('TEMPLATE """\n{{ .Prompt }}\n"""', "\n{{ .Prompt }}\n"),
    ('SYSTEM "a\nb"\n', "a\nb"),
])
def test_quoted_values(text, value):
    assert parse(f"FROM foo\n{text}")[1][1] == value


def test_a_value_ends_only_where_it_looks_closed():
    # Text after a closing quote keeps the value open, swallowing the next lines.
    assert error('FROM x\nSYSTEM "a" b\nPARAMETER top_k 1\n') == (0, "unexpected EOF")
    # A line inside a triple-quoted value that ends in """ closes it early.
    assert error('FROM x\nSYSTEM """one"""\ntwo"""\n') == (3, mf.ERR_INVALID_COMMAND)
    # An unquoted value is one line; a # after a command is part of the value.
    assert parse("FROM x\nSYSTEM hi # not a comment\n")[1] == ("system", "hi # not a comment")


def test_comments_only_where_a_command_could_start():  # (ollama + grammar)
    assert parse("\n# comment\nFROM foo\n\t") == [("model", "foo")]
    assert parse("FROM foo\n   # indented comment\nSYSTEM \"\"\"\n# kept\n\"\"\"\n") == [
        ("model", "foo"), ("system", "\n# kept\n")]


@pytest.mark.parametrize("line, name, value", [  # (ollama)
    ("numa true", "numa", "true"), ("num_ctx 1", "num_ctx", "1"), ("top_p 1.0", "top_p", "1.0"),
    ("stop ### User:", "stop", "### User:"), ("stop ### User: ", "stop", "### User:"),
    ('stop "### User:"', "stop", "### User:"), ('stop "### User: "', "stop", "### User: "),
    ('stop """### User:"""', "stop", "### User:"), ('stop """### User:\n"""', "stop", "### User:\n"),
    ("stop <|endoftext|>", "stop", "<|endoftext|>"), ("stop </s>", "stop", "</s>"),
])
def test_parameter_lines(line, name, value):
    assert parse(f"FROM foo\nPARAMETER {line}\n") == [("model", "foo"), (name, value)]


def test_messages():  # (ollama)
    text = ("\nFROM foo\nMESSAGE system You are a file parser. Always parse things.\nMESSAGE user Hey there!\n"
            'MESSAGE assistant """\nHello, I want to parse all the things!\n"""\n')
    assert parse(text)[1:] == [("message", "system: You are a file parser. Always parse things."),
                               ("message", "user: Hey there!"),
                               ("message", "assistant: \nHello, I want to parse all the things!\n")]
    assert error("\nFROM foo\nMESSAGE badguy I'm a bad guy!\n") == (3, mf.ERR_INVALID_ROLE)
    assert create_request.create_fields(mf.parse(text))["messages"][1] == {"role": "user", "content": "Hey there!"}


def test_non_printable_characters_are_silently_dropped():
    assert parse("FROM x\nSYSTEM a\u200db\u3000c\u00a0d\x00e\n")[1] == ("system", "abcde")
    assert parse("\u200bFROM x\n") == [("model", "x")]
    # Tabs and spaces inside a value are kept; multi-byte text passes through.  (ollama)
    assert parse("FROM test\n\tSYSTEM 你好👋\tok")[1] == ("system", "你好👋\tok")


@pytest.mark.parametrize("encoding, bom", [("utf-8", b"\xef\xbb\xbf"), ("utf-16-le", b"\xff\xfe"),
                                           ("utf-16-be", b"\xfe\xff")])
def test_byte_order_marks_choose_the_encoding(encoding, bom):  # (ollama)
    data = bom + "FROM bob\nPARAMETER param1 1\nSYSTEM 你好👋\n".encode(encoding)
    assert mf.parse(mf.decode(data)) == [C("model", "bob"), C("param1", "1"), C("system", "你好👋")]


def test_a_double_space_after_parameter_makes_an_empty_name():
    commands = mf.parse("FROM x\nPARAMETER  temperature 0.5\n")
    assert commands[1] == C("", "temperature 0.5")
    assert [p.message for p in create_request.check(commands)] == ["unknown parameter ''"]


@pytest.mark.parametrize("line, message", [
    ("temprature 0.5", "unknown parameter 'temprature'"),
    ("top_k 1.5", "invalid int value [1.5]"),
    ("num_ctx 4k", "invalid int value [4k]"),
    ("num_ctx 99999999999999999999", "invalid int value [99999999999999999999]"),
    ("temperature warm", "invalid float value [warm]"),
    ("temperature 1e39", "invalid float value [1e39]"),
    ("temperature +nan", "invalid float value [+nan]"),
    ("use_mmap yes", "invalid bool value [yes]"),
])
def test_wrong_value_types_are_errors_with_ollamas_message(line, message):
    problems = create_request.check(mf.parse(f"FROM x\nPARAMETER {line}\n"))
    assert [(p.line, p.message, p.warning) for p in problems] == [(2, message, False)]


@pytest.mark.parametrize("line, value", [
    ("temperature 0.5", 0.5), ("temperature .5", 0.5), ("temperature 5e-1", 0.5), ("temperature 0x1p-1", 0.5),
    ("temperature -Inf", -math.inf), ("top_k -1", -1), ("num_ctx +4096", 4096), ("use_mmap T", True),
    ("use_mmap 0", False), ("seed 42", 42),
])
def test_values_go_accepts(line, value):
    commands = mf.parse(f"FROM x\nPARAMETER {line}\n")
    assert create_request.check(commands) == []
    (name, got), = create_request.create_fields(commands)["parameters"].items()
    assert got == pytest.approx(value) and type(got) is type(value)


def test_repeated_stop_is_a_list_and_other_repeats_warn():
    commands = mf.parse("FROM x\nPARAMETER stop a\nPARAMETER stop b\nPARAMETER top_k 1\nPARAMETER top_k 2\n"
                        "PARAMETER mirostat 1\n")
    problems = create_request.check(commands)
    assert [(p.line, p.warning) for p in problems] == [(5, True), (6, True)]
    assert "deprecated" in problems[1].message
    assert create_request.create_fields(commands)["parameters"] == {"stop": ["a", "b"], "top_k": 2}


@pytest.mark.parametrize("version, ok", [("0.14.0", True), ("v0.14.0", True), ("0.14", True), ("1", True),
                                         ("0.14.0-rc1", True), ("01.2.3", False), ("latest", False),
                                         ("0.14.0.1", False)])
def test_requires_is_semver(version, ok):
    problems = create_request.check(mf.parse(f"FROM x\nREQUIRES {version}\n"))
    assert (problems == []) is ok


def test_create_fields_stops_at_the_first_error_like_ollama_create():
    with pytest.raises(mf.ModelfileError, match=r"line 3: unknown parameter 'bad'"):
        create_request.create_fields(mf.parse("FROM x\nPARAMETER top_k 1\nPARAMETER bad 1\nPARAMETER worse 2\n"))
