"""The Blossom TEMPLATE, rendered the way Ollama renders it, must give the model card's dialogue.

Templates are executed by `blossom_edge.ollama.go.template` (a subset of Go's text/template, checked
here against Go's semantics) after `go.server` applies what Ollama's server does first: roles
lower-cased, the Modelfile SYSTEM prepended unless the chat brings its own, consecutive messages of
one role merged with a blank line, system messages joined into `.System`, and for the qwen3 family
earlier assistant turns stripped of their think blocks.
"""

from __future__ import annotations

import pytest

from blossom_edge.base.errors import UnsupportedError
from blossom_edge.model.catalog import BLOSSOM_V5_SYSTEM, resolve
from blossom_edge.ollama import modelfile as mf
from blossom_edge.ollama.go.server import chat_prompt, request_messages, template_path
from blossom_edge.ollama.go.template import GoTemplate
from tests import ROOT


def ollama_prompt(template: str, model_system: str, messages: list[dict[str, str]], family: str = "") -> str:
    return chat_prompt(template, model_system, messages, family)


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


def test_a_release_without_a_sourced_format_gets_no_template():
    with pytest.raises(UnsupportedError, match="no sourced chat format for v6-7b"):
        mf.blossom_commands(resolve("v6-7b"), "./x.gguf")


# ------------------------------------------------------------------------------- Ollama's server rules

def test_roles_are_lower_cased_before_templating():
    """api/types.go lower-cases roles as JSON is decoded: `User` is a user turn, not dropped."""
    template, system = blossom("4b")
    assert ollama_prompt(template, system, [{"role": "User", "content": "hi"}]) == (
        BLOSSOM_V5_SYSTEM + "\n|Human|: hi\n|Bot|: ")


def test_system_messages_join_and_stay_in_the_message_list():
    joined = [m.role for m in request_messages([{"role": "user", "content": "u"}], "S")]
    assert joined == ["system", "user"]
    template = "{{ .System }}|{{ range .Messages }}{{ .Role }}:{{ .Content }};{{ end }}"
    messages = [{"role": "system", "content": "a"}, {"role": "system", "content": "b"},
                {"role": "user", "content": "u"}, {"role": "system", "content": "c"}]
    assert ollama_prompt(template, "ignored", messages) == "a\n\nb\n\nc|system:a\n\nb;user:u;system:c;"


def test_think_blocks_are_dropped_from_earlier_answers_for_qwen3_only():
    template = "{{ range .Messages }}{{ .Role }}:{{ .Content }};{{ end }}"
    messages = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "<think>hm</think>A"},
                {"role": "user", "content": "q2"}]
    assert ollama_prompt(template, "", messages, family="qwen3") == "user:q;assistant:A;user:q2;"
    assert ollama_prompt(template, "", messages, family="qwen2") == "user:q;assistant:<think>hm</think>A;user:q2;"


def test_which_template_ollama_renders_with():
    assert "renders chats with this TEMPLATE" in template_path("{% for m in messages %}{% endfor %}")
    assert "prefers the GGUF's own" in template_path("{% if tools %}{% endif %}")
    assert "thinking" in template_path("<think></think>")


def test_the_published_file_renders_the_dialogue():
    commands = mf.read(ROOT / "modelfiles" / "4b-gpu.Modelfile")
    fields = {c.name: c.args for c in commands}
    prompt = ollama_prompt(fields["template"], fields["system"], [{"role": "user", "content": "q"},
                                                                  {"role": "assistant", "content": "a"},
                                                                  {"role": "user", "content": "q2"}])
    assert prompt == BLOSSOM_V5_SYSTEM + "\n|Human|: q\n|Bot|: a<|endoftext|>\n|Human|: q2\n|Bot|: "
    # The stop sequences end the turn where the dialogue would continue.
    stops = [c.args for c in commands if c.name == "stop"]
    assert stops == ["<|endoftext|>", "|Human|:"]
