"""Chat templates from the checkpoint: each format's real template, in a tiny checkpoint, becomes a
TEMPLATE that renders exactly what jinja2 renders (as transformers' apply_chat_template does) on
every probe, through Ollama's server rules; a template with no such TEMPLATE is refused in one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from blossom_edge.base.errors import UnsupportedError
from blossom_edge.cli import main
from blossom_edge.model.catalog import CHATML as CATALOG_CHATML
from blossom_edge.model.catalog import MODELS, ChatFormat, resolve
from blossom_edge.ollama import chat_template as ct
from blossom_edge.ollama import modelfile as mf
from blossom_edge.ollama.go import create_request, modelfile_parser
from blossom_edge.ollama.go.server import chat_prompt
from tests import ROOT
from tests.builders.checkpoints import build_checkpoint
from tests.builders.tiny_gguf import build_metadata_gguf
from tests.builders.tokenizers import set_chat_template

# Written from the behaviour of the chat_template Azure99 added to blossom-v5-32b's tokenizer_config
# (huggingface.co/Azure99/blossom-v5-32b commit c59dc67): a fixed preamble, system messages ignored.
V5_HUB = ("A chat between a human and an artificial intelligence bot. The bot gives helpful, detailed, and "
          "polite answers to the human's questions.\n{% for message in messages %}{% set content = "
          "message['content'] %}{% if message['role'] == 'user' %}{{ '|Human|: ' + content + '\\n|Bot|: ' }}"
          "{% elif message['role'] == 'assistant' %}{{ content + '<|endoftext|>\\n' }}{% endif %}{% endfor %}")


def v5_card(eos: str) -> str:
    """The model cards' dialogue (blossom-v5.1-9b README) ended by the base model's `eos`, with the
    system line replaceable, as the publisher's own Ollama Modelfile (BlossomLM
    inference/ollama/Modelfile) treats it."""
    return ("{% if messages[0]['role'] == 'system' %}{{ messages[0]['content'] }}{% set rest = messages[1:] %}"
            "{% else %}{{ \"A chat between a human and an artificial intelligence bot. The bot gives helpful, "
            "detailed, and polite answers to the human's questions.\" }}{% set rest = messages %}{% endif %}"
            "{% for m in rest %}{% if m['role'] == 'user' %}{{ '\\n|Human|: ' + m['content'] + '\\n|Bot|: ' }}"
            "{% elif m['role'] == 'assistant' %}{{ m['content'] + '" + eos + "' }}{% endif %}{% endfor %}")


V5_CARD = v5_card("<|endoftext|>")
# ChatML with a default system line when the chat has none (the Qwen2.5 family's layout).
CHATML_DEFAULT = ("{%- if messages[0]['role'] != 'system' %}{{- '<|im_start|>system\\nYou are a helpful "
                  "assistant.<|im_end|>\\n' }}{%- endif %}{%- for m in messages %}{{- '<|im_start|>' + m['role'] "
                  "+ '\\n' + m['content'] + '<|im_end|>\\n' }}{%- endfor %}{%- if add_generation_prompt %}"
                  "{{- '<|im_start|>assistant\\n' }}{%- endif %}")
# ChatML without a default (Qwen3 base checkpoints' layout, thinking left out).
CHATML = ("{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content | trim + '<|im_end|>\\n' }}"
          "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
FORMATS = {"v5-hub": (V5_HUB, "<|endoftext|>"), "v5-card": (V5_CARD, "<|endoftext|>"),
           "chatml-default": (CHATML_DEFAULT, "<|im_end|>"), "chatml": (CHATML, "<|im_end|>")}


@pytest.fixture(scope="module")
def base_checkpoint(tmp_path_factory) -> Path:
    return build_checkpoint(tmp_path_factory.mktemp("ckpt") / "blossom-v5-4b", "qwen2", hidden=64, layers=1,
                            heads=2)


def _checkpoint(base: Path, tmp_path: Path, template: str, eos: str, as_file: bool = False) -> Path:
    target = tmp_path / "blossom-v5-4b"
    shutil.copytree(base, target)
    set_chat_template(target, template, as_file=as_file, eos=eos)
    return target


@pytest.mark.parametrize("fmt", FORMATS)
def test_derived_template_renders_what_jinja_renders_on_every_probe(fmt, base_checkpoint, tmp_path):
    template, eos = FORMATS[fmt]
    directory = _checkpoint(base_checkpoint, tmp_path, template, eos, as_file=fmt == "chatml")
    loaded = ct.from_checkpoint(directory)
    chat = ct.derive(loaded)
    assert chat.proved == len(ct.PROBES)
    for _, messages in ct.PROBES:
        assert chat_prompt(chat.template, chat.system, messages) == ct.render(loaded, messages)
    assert eos in chat.stops


def test_the_hub_v5_template_ignores_system_so_the_modelfile_has_no_system(base_checkpoint, tmp_path, capsys):
    directory = _checkpoint(base_checkpoint, tmp_path, *FORMATS["v5-hub"])
    assert main(["modelfile", str(directory)]) == 0
    text = capsys.readouterr().out
    fields = create_request.create_fields(modelfile_parser.parse(text))
    assert "system" not in fields and "proved equal on 8 probe conversations" in text
    assert fields["parameters"]["stop"] == ["<|endoftext|>", "|Human|:"]
    assert main(["modelfile", str(directory), "--system", "x"]) == 2
    assert "ignores system messages" in capsys.readouterr().err


def test_default_system_becomes_the_modelfile_system(base_checkpoint, tmp_path, capsys):
    directory = _checkpoint(base_checkpoint, tmp_path, *FORMATS["chatml-default"])
    assert main(["modelfile", str(directory), "--json", "-o", str(tmp_path / "M")]) == 0
    fields = create_request.create_fields(mf.read(tmp_path / "M"))
    assert fields["system"] == "You are a helpful assistant."
    assert fields["parameters"]["stop"] == ["<|im_end|>", "<|im_start|>user"]
    capsys.readouterr()


def test_jinja_rendering_follows_apply_chat_template(base_checkpoint, tmp_path):
    loaded = ct.from_checkpoint(_checkpoint(base_checkpoint, tmp_path, *FORMATS["chatml"]))
    assert ct.render(loaded, [{"role": "user", "content": "hi"}]) == (
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")
    assert ct.render(loaded, [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Sure, "}]) == (
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nSure,")


@pytest.mark.parametrize("template, reason", [
    ("{% for m in messages %}{{ m.content | upper }}{% endfor %}", "cannot be expressed"),
    ("{% for m in messages %}{% if loop.index is even %}[{{ m.content }}]{% else %}{{ m.content }}{% endif %}"
     "{% endfor %}", "cannot be expressed"),
    ("{{ messages | length }}{% for m in messages %}{{ m.content }};{% endfor %}", "cannot be expressed"),
    ("{% for m in messages %}{{ m.content }}", "cannot be rendered"),
    ("{{ 1 / 0 }}", "cannot be rendered: ZeroDivisionError"),
    ("{{ messages[0].content + 1 }}", "cannot be rendered: TypeError"),
    ("{% macro f(x) %}{{ f(x) }}{% endmacro %}{{ f(1) }}", "cannot be rendered: RecursionError"),
])
def test_templates_that_cannot_be_expressed_are_refused_in_one_line(template, reason, base_checkpoint, tmp_path,
                                                                    capsys):
    directory = _checkpoint(base_checkpoint, tmp_path, template, "<|endoftext|>")
    with pytest.raises(UnsupportedError, match=reason):
        ct.derive(ct.from_checkpoint(directory))
    assert main(["modelfile", str(directory)]) == 1
    err = capsys.readouterr().err
    assert reason in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_template_differing_on_a_probe_is_refused_with_that_probe(base_checkpoint, tmp_path):
    # Chinese text gets an extra space: the layout is regular on the marker chats, not on the probes.
    template = ("{% for m in messages %}{{ m.role }}: {{ m.content }}{% if '你' in m.content %} {% endif %}\n"
                "{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}")
    loaded = ct.from_checkpoint(_checkpoint(base_checkpoint, tmp_path, template, "</s>"))
    with pytest.raises(UnsupportedError, match="probe 'multi-turn with a system message, Chinese' differs"):
        ct.derive(loaded)


def test_check_against_the_checkpoint(base_checkpoint, tmp_path, capsys):
    directory = _checkpoint(base_checkpoint, tmp_path, *FORMATS["v5-hub"])
    modelfile = ROOT / "modelfiles" / "4b.Modelfile"
    # The published file keeps the model card's replaceable system line; the Hub template does not.
    assert main(["modelfile", "--check", str(modelfile), "--against", str(directory), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["template"]["matches"] is False and "single turn with a system message" in report["template"]["difference"]
    assert main(["modelfile", str(directory), "-o", str(tmp_path / "own")]) == 0
    assert main(["modelfile", "--check", str(tmp_path / "own"), "--against", str(directory)]) == 0
    assert "prompts exactly as" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------
# Every chat format the catalog knows, from a checkpoint carrying that format's real template

# Which published template behaves as each catalog format, and a release that uses it (the directory
# name tells `modelfile` which release a checkpoint is). ChatML is the layout quantize's check
# prompts a ChatML GGUF with; no catalog release states it, so a v6 checkpoint carries it here.
CATALOG_TEMPLATES = {
    ("blossom", "<|endoftext|>"): (v5_card("<|endoftext|>"), "blossom-v5-4b"),
    ("blossom", "</s>"): (v5_card("</s>"), "blossom-v5-mistral-7b"),
    ("blossom", "<|end_of_text|>"): (v5_card("<|end_of_text|>"), "blossom-v5-llama3-8b"),
    ("chatml", "<|im_end|>"): (CHATML, "Blossom-V6-7B"),
}


def _catalog_formats() -> list[ChatFormat]:
    formats = {(m.chat.name, m.chat.eos_token): m.chat for m in MODELS if m.chat is not None}
    formats[(CATALOG_CHATML.name, CATALOG_CHATML.eos_token)] = CATALOG_CHATML
    return list(formats.values())


def test_every_catalog_format_has_its_real_template_here():
    assert {(f.name, f.eos_token) for f in _catalog_formats()} == set(CATALOG_TEMPLATES)


@pytest.mark.parametrize("fmt", _catalog_formats(), ids=lambda f: f"{f.name}-{f.eos_token}")
def test_modelfile_of_a_checkpoint_renders_what_jinja_renders_for_every_catalog_format(fmt, base_checkpoint,
                                                                                        tmp_path, capsys):
    template, dirname = CATALOG_TEMPLATES[(fmt.name, fmt.eos_token)]
    directory = tmp_path / dirname
    shutil.copytree(base_checkpoint, directory)
    set_chat_template(directory, template, eos=fmt.eos_token)
    out = tmp_path / "Modelfile"
    assert main(["modelfile", str(directory), "-o", str(out)]) == 0, capsys.readouterr().err
    fields = create_request.create_fields(mf.read(out))
    loaded = ct.from_checkpoint(directory)
    for name, messages in ct.PROBES:
        assert chat_prompt(fields["template"], fields.get("system", ""), messages, loaded.family) == \
            ct.render(loaded, messages), name
    assert fmt.eos_token in fields["parameters"]["stop"]
    assert f"TEMPLATE from {directory / 'tokenizer_config.json'} chat_template, proved equal on " \
           f"{len(ct.PROBES)} probe conversations" in out.read_text()


@pytest.mark.parametrize("fmt", [f for f in _catalog_formats() if f.name == "blossom"],
                         ids=lambda f: f"{f.name}-{f.eos_token}")
def test_the_catalog_fallback_prompts_as_the_published_template(fmt):
    """Without a checkpoint the catalog's format is used: it must prompt as the real template does."""
    model = next(m for m in MODELS if m.chat == fmt)
    fallback = mf.catalog_chat(model)
    real = ct.ChatTemplate(CATALOG_TEMPLATES[(fmt.name, fmt.eos_token)][0], "test", {"eos_token": fmt.eos_token})
    assert ct.first_difference(fallback.template, fallback.system, real) is None


# ---------------------------------------------------------------------------------------------
# A GGUF's own template (tokenizer.chat_template) is the truth, through the same proof

# Llama-2 style: prints the GGUF's bos and eos tokens, which are read from its vocabulary.
BOS_EOS = ("{{ bos_token }}{% for m in messages %}{% if m.role == 'user' %}{{ '[INST] ' + m.content + ' [/INST]' }}"
           "{% elif m.role == 'assistant' %}{{ ' ' + m.content + eos_token }}{% endif %}{% endfor %}")


def test_a_gguf_template_becomes_the_template_with_its_special_tokens(tmp_path, capsys):
    gguf = build_metadata_gguf(tmp_path / "blossom-v5-mistral-7b-Q4_K_M.gguf", chat_template=BOS_EOS)
    loaded = ct.from_gguf(gguf)
    assert loaded.special_tokens == {"bos_token": "<s>", "eos_token": "</s>"}
    assert ct.render(loaded, [{"role": "user", "content": "hi"}]) == "<s>[INST] hi [/INST]"
    assert main(["modelfile", str(gguf)]) == 0
    text = capsys.readouterr().out
    fields = create_request.create_fields(modelfile_parser.parse(text))
    for name, messages in ct.PROBES[:1] + ct.PROBES[2:]:  # this template has no system turn
        assert chat_prompt(fields["template"], "", messages, "llama") == ct.render(loaded, messages), name
    assert f"TEMPLATE from {gguf} tokenizer.chat_template, proved equal on {len(ct.PROBES)}" in text
    assert "</s>" in fields["parameters"]["stop"] and "system" not in fields
    assert fields["template"] != mf.catalog_chat(resolve("v5-mistral-7b")).template


def test_a_converted_checkpoint_gives_the_same_modelfile_from_its_gguf(base_checkpoint, tmp_path, capsys):
    directory = _checkpoint(base_checkpoint, tmp_path, *FORMATS["chatml-default"])
    gguf = tmp_path / "blossom-v5-4b-F16.gguf"
    assert main(["convert", str(directory), "-o", str(gguf), "--outtype", "f16"]) == 0
    capsys.readouterr()
    assert main(["modelfile", str(directory)]) == 0
    from_dir = create_request.create_fields(modelfile_parser.parse(capsys.readouterr().out))
    assert main(["modelfile", str(gguf)]) == 0
    from_gguf = create_request.create_fields(modelfile_parser.parse(capsys.readouterr().out))
    assert from_gguf["template"] == from_dir["template"] and from_gguf["system"] == from_dir["system"]


def test_a_gguf_template_that_cannot_be_expressed_is_refused_in_one_line(tmp_path, capsys):
    gguf = build_metadata_gguf(tmp_path / "blossom-v5-4b-Q4_K_M.gguf",
                               chat_template="{% for m in messages %}{{ m.content | upper }}{% endfor %}")
    assert main(["modelfile", str(gguf)]) == 1
    err = capsys.readouterr().err
    assert "cannot be expressed as an Ollama TEMPLATE" in err and str(gguf) in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_gguf_differing_on_a_probe_is_refused_with_that_probe(tmp_path, capsys):
    template = ("{% for m in messages %}{{ m.role }}: {{ m.content }}{% if '你' in m.content %} {% endif %}\n"
                "{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}")
    gguf = build_metadata_gguf(tmp_path / "blossom-v5-4b-Q4_K_M.gguf", chat_template=template)
    assert main(["modelfile", str(gguf)]) == 1
    err = capsys.readouterr().err
    assert "probe 'multi-turn with a system message, Chinese' differs" in err and len(err.strip().splitlines()) == 1


def test_a_gguf_without_a_template_falls_back_to_the_catalog_format(tmp_path, capsys):
    gguf = build_metadata_gguf(tmp_path / "blossom-v5-4b-Q4_K_M.gguf")
    assert main(["modelfile", str(gguf)]) == 0
    fields = create_request.create_fields(modelfile_parser.parse(capsys.readouterr().out))
    assert fields["template"] == mf.catalog_chat(resolve("4b")).template
    no_format = build_metadata_gguf(tmp_path / "blossom-v6-7b-Q4_K_M.gguf")
    assert main(["modelfile", str(no_format)]) == 1
    assert "no sourced chat format for v6-7b" in capsys.readouterr().err


def _hub_cache(root: Path, repo_id: str, checkpoint: Path) -> Path:
    """huggingface-hub's cache layout holding `checkpoint` as `repo_id`'s main revision."""
    commit = "0" * 40
    repo = root / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    shutil.copytree(checkpoint, repo / "snapshots" / commit)
    return repo / "snapshots" / commit


def test_an_alias_whose_checkpoint_is_cached_uses_its_template(base_checkpoint, tmp_path, capsys, monkeypatch):
    from huggingface_hub import constants

    directory = _checkpoint(base_checkpoint, tmp_path, *FORMATS["chatml-default"])
    snapshot = _hub_cache(tmp_path / "hub", "Azure99/blossom-v5-4b", directory)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    assert main(["modelfile", "4b"]) == 0
    text = capsys.readouterr().out
    assert f"TEMPLATE from {snapshot / 'tokenizer_config.json'} chat_template, proved" in text
    assert create_request.create_fields(modelfile_parser.parse(text))["system"] == "You are a helpful assistant."
    assert main(["modelfile", "14b"]) == 0  # not cached: the catalog's format
    assert "TEMPLATE from the model card's dialogue format" in capsys.readouterr().out



def test_a_chat_template_file_that_is_not_utf8_is_one_line(base_checkpoint, tmp_path, capsys):
    directory = _checkpoint(base_checkpoint, tmp_path, CHATML, "<|im_end|>", as_file=True)
    (directory / "chat_template.jinja").write_bytes(b"\xff\xfe{{ x }}")
    assert main(["modelfile", str(directory)]) == 1
    err = capsys.readouterr().err
    assert "chat_template.jinja is not UTF-8 text" in err and len(err.strip().splitlines()) == 1
