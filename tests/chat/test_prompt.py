"""chat's prompts: the model's own template as transformers renders it, else the catalog's format."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from blossom_edge.base.errors import UnsupportedError
from blossom_edge.chat.prompt import PromptFormat, prompt_format, render_format
from blossom_edge.chat.target import model_of
from blossom_edge.model.catalog import CHATML, resolve
from tests.chat.conftest import demo_template, reference_render, write_chat_gguf

S = {"role": "system", "content": "Be brief. 简短回答。"}
U1 = {"role": "user", "content": "Hi {{ x }} |Human|: <|im_end|>"}
A1 = {"role": "assistant", "content": "Hello! 你好"}
U2 = {"role": "user", "content": "Write a haiku."}
CONVERSATIONS = [[U1], [S, U1], [U1, A1, U2], [S, U1, A1, U2]]


@pytest.fixture(scope="module")
def gguf_format(chat_gguf: Path) -> PromptFormat:
    return prompt_format(chat_gguf, None)


@pytest.mark.parametrize("messages", CONVERSATIONS)
def test_a_gguf_template_renders_as_transformers_does(gguf_format: PromptFormat, messages) -> None:
    assert gguf_format.template is not None and gguf_format.origin == "its own chat template"
    assert gguf_format.render(messages) == reference_render(demo_template(), messages, eos_token="<|endoftext|>")


def test_the_stops_are_the_proved_modelfiles(gguf_format: PromptFormat) -> None:
    assert set(gguf_format.stops) == {"<|endoftext|>", "|Human|:"}


@pytest.mark.parametrize("fmt", [resolve("v5-4b").chat, resolve("v5-mistral-7b").chat, CHATML])
@pytest.mark.parametrize("system", [None, "Be brief."])
def test_one_turn_in_a_catalog_format_is_its_own_prompt(fmt, system) -> None:
    messages = ([{"role": "system", "content": system}] if system else []) + [U2]
    assert render_format(fmt, messages) == fmt.prompt(U2["content"], system)


@pytest.mark.parametrize("messages", CONVERSATIONS)
def test_the_v5_catalog_format_agrees_with_the_v5_template_over_turns(messages) -> None:
    fmt = resolve("v5-4b").chat
    assert render_format(fmt, messages) == reference_render(demo_template(), messages, eos_token=fmt.eos_token)


def test_a_gguf_without_a_template_uses_its_catalog_format_or_is_refused(tmp_path: Path) -> None:
    bare = write_chat_gguf(tmp_path / "bare.gguf", "")
    with pytest.raises(UnsupportedError, match="bare.gguf carries no chat template"):
        prompt_format(bare, model_of(bare))
    named = tmp_path / "blossom-v5-4b-Q4_K_M.gguf"
    shutil.copy(bare, named)
    fmt = prompt_format(named, model_of(named))
    assert fmt.template is None and fmt.chat_format == resolve("4b").chat and "v5-4b" in fmt.origin
    assert fmt.render([U1]).endswith("\n|Human|: " + U1["content"] + "\n|Bot|: ")
