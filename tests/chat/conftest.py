"""A tiny GGUF that carries the demo model's Blossom chat template (system default, eos_token), built once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

DEMO_TOKENIZER = Path(__file__).resolve().parents[2] / "blossom_edge" / "data" / "demo_tokenizer"


def demo_template() -> str:
    return json.loads((DEMO_TOKENIZER / "tokenizer_config.json").read_text(encoding="utf-8"))["chat_template"]


def write_chat_gguf(path: Path, template: str) -> Path:
    """`write_tiny_gguf`'s loadable Qwen2 model with `template` as its tokenizer.chat_template."""
    import tests.quantize.test_quantize_tiny as tiny

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tiny, "CHAT_TEMPLATE", template)
        return tiny.write_tiny_gguf(path, dtype="f16")


@pytest.fixture(scope="session")
def chat_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_chat_gguf(tmp_path_factory.mktemp("chat") / "tiny-chat.gguf", demo_template())


def reference_render(template: str, messages: list[dict[str, str]], **tokens: str) -> str:
    """The template rendered as transformers' apply_chat_template does (its jinja2 setup), written here
    from jinja2 alone so the test does not lean on the renderer under test."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    return env.from_string(template).render(messages=messages, add_generation_prompt=True, **tokens)
