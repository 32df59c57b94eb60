"""Templates with thinking and tools: the Modelfile leaves TEMPLATE out, Ollama renders the GGUF's own
chat template through llama-server, and that path is proved on think/tool probes against the
checkpoint's template rendered as transformers renders it.

Templates used:
- Qwen3's real chat template, read from the vendored llama.cpp
  (`models/templates/Qwen-Qwen3-0.6B.jinja`, fetched there from huggingface.co/Qwen/Qwen3-0.6B by
  llama.cpp's scripts/get_chat_template.py; the template is Qwen's, Apache-2.0).
- `data/two_level_effort.jinja`: a two-level (`medium`/`max`) effort template in the style the
  Blossom V7/V7.1 cards describe, written for these tests because Azure99's own template was not
  found with the search tools.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from blossom_edge.base.errors import UnsupportedError
from blossom_edge.cli import main
from blossom_edge.ollama import chat_template as ct
from blossom_edge.ollama import modelfile as mf
from blossom_edge.ollama.go import create_request, modelfile_parser
from blossom_edge.ollama.go import native_chat as nc
from tests.builders.tiny_gguf import build_metadata_gguf

EFFORT = (Path(__file__).parent / "data" / "two_level_effort.jinja").read_text(encoding="utf-8")
QWEN_EOS = "<|im_end|>"


@pytest.fixture(scope="module")
def qwen3(reference_src) -> str:
    return (reference_src / "models" / "templates" / "Qwen-Qwen3-0.6B.jinja").read_text(encoding="utf-8")


def _template(text: str, family: str = "qwen3") -> ct.ChatTemplate:
    return ct.ChatTemplate(text, "test", {"eos_token": QWEN_EOS}, family)


def _checkpoint(directory: Path, template: str, model_type: str = "qwen3") -> Path:
    """What `modelfile DIR` reads of a checkpoint: its config and tokenizer config."""
    directory.mkdir(parents=True)
    (directory / "config.json").write_text(json.dumps({"architectures": ["Qwen3ForCausalLM"], "model_type": model_type,
                                                       "max_position_embeddings": 40960}))
    (directory / "tokenizer_config.json").write_text(json.dumps({"eos_token": QWEN_EOS, "chat_template": template}))
    return directory


INTERLEAVED = ("tool call and result", "two tool calls and results, think medium")


def test_qwen3_every_probe_matches_except_the_reasoning_ollama_does_not_send(qwen3):
    chat = ct.derive(_template(qwen3))
    assert chat.template is None and chat.native is not None
    assert chat.native.capabilities == ("tools", "thinking")
    assert chat.native.probes == len(ct.THINK_PROBES) and not chat.native.refused
    # Qwen3 shows reasoning only after the last question: exactly the tool-call turns lose it.
    assert chat.native.without_reasoning == INTERLEAVED
    assert chat.stops == (QWEN_EOS,)


def test_qwen3_ollama_side_renders_think_off_tools_and_calls(qwen3):
    """The llama-server request carries what the template needs: think off as enable_thinking,
    tools as api.Tool re-encodes them, tool calls with their arguments, tool results."""
    template = _template(qwen3)
    probes = {p.name: p for p in ct.THINK_PROBES}

    def ollama(name: str) -> str:
        probe = probes[name]
        body = nc.llama_server_request([t.ollama() for t in probe.turns], system="", tools=list(probe.tools),
                                       think=probe.think, capabilities=["tools", "thinking"], family="qwen3")
        return ct.native_render(template, body)

    assert ollama("single turn, think off").endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert ollama("single turn, think on").endswith("<|im_start|>assistant\n")
    offered = ollama("tools offered")
    assert json.dumps(ct.WEATHER, ensure_ascii=False) in offered
    answered = ollama("tool call and result")
    assert '<tool_call>\n{"name": "get_weather", "arguments": {"city": "北京", "unit": "celsius"}}' in answered
    assert "<tool_response>\n{\"temperature\": 21, \"sky\": \"sunny\"}\n</tool_response>" in answered
    # The reasoning of the call is what Ollama leaves out; the checkpoint's template shows it.
    truth = ct.render(template, [t.hf() for t in probes["tool call and result"].turns], tools=[ct.WEATHER],
                      add_generation_prompt=True, continue_final_message=False)
    assert "The user wants the weather" in truth and "The user wants the weather" not in answered


def test_a_gguf_template_differing_from_the_checkpoint_is_refused(qwen3):
    changed = _template(qwen3.replace("<tool_response>", "<tool_result>"))
    with pytest.raises(UnsupportedError, match="probe 'tool call and result' differs"):
        ct.prove_native(changed, _template(qwen3))


def test_dropping_the_think_kwargs_would_be_caught(qwen3, monkeypatch):
    """If Ollama sent no enable_thinking, think off would prompt the model to think: the proof says so."""
    monkeypatch.setattr(nc, "template_kwargs", lambda think: None)
    with pytest.raises(UnsupportedError, match="probe 'single turn, think off' differs"):
        ct.derive(_template(qwen3))


def test_two_level_effort_template():
    chat = ct.derive(_template(EFFORT, "qwen35"))
    proof = chat.native
    assert proof is not None and chat.template is None
    assert set(proof.refused) == {"single turn, think low", "single turn, think high"}
    assert proof.probes == len(ct.THINK_PROBES) - 2 and proof.without_reasoning == INTERLEAVED
    body = nc.llama_server_request([{"role": "user", "content": "hi"}], system="", tools=None, think="medium",
                                   capabilities=proof.capabilities)
    assert body["chat_template_kwargs"] == {"enable_thinking": True, "reasoning_effort": "medium"}
    assert "Reasoning effort: medium" in ct.native_render(_template(EFFORT), body)
    # Unset, Ollama sends think true without a level, so the template's default (max) applies.
    unset = nc.llama_server_request([{"role": "user", "content": "hi"}], system="", tools=None, think=None,
                                    capabilities=proof.capabilities)
    assert unset["chat_template_kwargs"] == {"enable_thinking": True}
    assert "Reasoning effort: max" in ct.native_render(_template(EFFORT), unset)


def test_snapshot_named_checkpoint_with_its_own_template_gets_a_proved_modelfile(qwen3, tmp_path, capsys):
    directory = _checkpoint(tmp_path / "snapshot-1234", qwen3)
    out = tmp_path / "Modelfile"
    assert main(["modelfile", str(directory), "-o", str(out)]) == 0, capsys.readouterr().err
    text = out.read_text()
    commands = mf.read(out)
    fields = create_request.create_fields(commands)
    assert "template" not in fields and not {"renderer", "parser"} & {c.name for c in commands}
    assert commands[0].args == "./snapshot-1234-Q4_K_M.gguf"
    assert fields["parameters"]["stop"] == [QWEN_EOS]
    assert "snapshot-1234:q4_k_m" in text.splitlines()[0]
    assert f"Proved equal to the model's template on {len(ct.THINK_PROBES)} probe conversations" in text
    assert "Ollama sends no earlier reasoning" in text and "tool call and result" in text
    assert main(["modelfile", "--check", str(out), "--against", str(directory)]) == 0
    assert "prompts exactly as" in capsys.readouterr().out


def test_a_hub_snapshot_is_named_after_its_repository(qwen3, tmp_path, capsys):
    snapshot = _checkpoint(tmp_path / "hub" / "models--SomeOrg--Qwen3-Tune" / "snapshots" / ("ab" * 20), qwen3)
    from blossom_edge.inputs.source import classify

    source = classify(str(snapshot))
    assert (source.repo_id, source.revision) == ("SomeOrg/Qwen3-Tune", "ab" * 20)
    assert main(["modelfile", str(snapshot)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("# qwen3-tune:q4_k_m: SomeOrg/Qwen3-Tune")
    assert modelfile_parser.parse(text)[0].args == "./qwen3-tune-Q4_K_M.gguf"


def test_a_directory_without_a_template_or_catalog_name_still_asks_for_model(tmp_path, capsys):
    directory = tmp_path / "snapshot-1234"
    directory.mkdir()
    (directory / "config.json").write_text("{}")
    assert main(["modelfile", str(directory)]) == 2
    assert "carries no chat template of its own; say it with --model ALIAS" in capsys.readouterr().err


def test_a_gguf_named_by_general_name_with_mtp_layers(qwen3, tmp_path, capsys):
    gguf = build_metadata_gguf(tmp_path / "model-Q8_0.gguf", arch="qwen3", chat_template=qwen3,
                               tokens=("<unk>", "<|im_start|>", QWEN_EOS, "hello"), name="Some Tune 9B",
                               uint32s={"{arch}.nextn_predict_layers": 1})
    assert main(["modelfile", str(gguf)]) == 0, capsys.readouterr().err
    text = capsys.readouterr().out
    fields = create_request.create_fields(modelfile_parser.parse(text))
    assert text.startswith("# some-tune-9b:q8_0: local/some-tune-9b")
    assert fields["parameters"]["draft_num_predict"] == mf.MTP_DRAFT_TOKENS == 4
    assert "1 MTP (nextn) layer(s)" in text and "template" not in fields
    plain = build_metadata_gguf(tmp_path / "plain-Q8_0.gguf", arch="qwen3", chat_template=qwen3,
                                tokens=("<unk>", "<|im_start|>", QWEN_EOS, "hello"))
    assert main(["modelfile", str(plain)]) == 0
    assert "draft_num_predict" not in capsys.readouterr().out


def test_capabilities_as_ollama_reads_them(qwen3):
    assert nc.chat_template_capabilities(qwen3) == ["tools", "thinking"]
    assert nc.chat_template_capabilities("{{ messages }}") == []
    split_only = "{% set c = message.content.split('</think>')[-1] %}"
    assert nc.chat_template_capabilities(split_only) == ["thinking"]
    assert nc.chat_template_capabilities(split_only + "reasoning_content") == []


def test_think_defaults_and_refusals():
    assert nc.effective_think(None, ["thinking"]) is True
    assert nc.effective_think(None, ["tools"]) is None
    assert nc.effective_think(False, ["tools"]) is False
    with pytest.raises(nc.ThinkRefused):
        nc.effective_think("high", ["tools"])
    assert nc.template_kwargs(False) == {"enable_thinking": False}
    assert nc.template_kwargs("max") == {"enable_thinking": True, "reasoning_effort": "max"}


def test_tools_are_re_encoded_in_api_tool_order():
    """A tool in the usual OpenAI order (properties before required, extra keys) reaches the
    template in api.Tool's order, without the keys api.Tool does not know."""
    given = {"type": "function", "function": {"name": "f", "strict": True, "parameters": {
        "type": "object", "properties": {"b": {"type": "string", "default": "x"}, "a": {"type": "integer"}},
        "required": ["b"], "additionalProperties": False}}}
    encoded = nc.encode_tool(given)
    assert list(encoded["function"]) == ["name", "parameters"]
    assert list(encoded["function"]["parameters"]) == ["type", "required", "properties"]
    assert list(encoded["function"]["parameters"]["properties"]) == ["b", "a"]
    assert encoded["function"]["parameters"]["properties"]["b"] == {"type": "string"}
    assert nc.encode_tool(ct.WEATHER) == ct.WEATHER


def test_tool_messages_on_the_wire():
    wire = nc.llama_server_message({"role": "assistant", "content": "", "thinking": "secret",
                                    "tool_calls": [{"function": {"index": 0, "name": "f",
                                                                 "arguments": {"x": "北京", "n": 1}}}]})
    assert "thinking" not in wire and "reasoning_content" not in wire
    assert wire["tool_calls"][0]["function"]["arguments"] == '{"x":"北京","n":1}'
    assert nc.llama_server_message({"role": "tool", "content": "r", "tool_name": "f"}) == {
        "role": "tool", "name": "f", "content": "r"}


@pytest.mark.slow
@pytest.mark.parametrize("which", ["qwen3", "effort"])
def test_the_llama_server_side_renders_as_llama_cpp_does(which, qwen3):
    """`native_render` (jinja2) against llama.cpp's own Jinja engine and common_chat_templates_apply,
    on every probe's llama-server request: the proof's Ollama side is what llama.cpp renders."""
    from tests.builders.llama_chat_render import llama_cpp_render

    text = qwen3 if which == "qwen3" else EFFORT
    template = _template(text)
    caps = nc.chat_template_capabilities(text)
    for probe in ct.THINK_PROBES:
        body = nc.llama_server_request([t.ollama() for t in probe.turns], system="", tools=list(probe.tools),
                                       think=probe.think, capabilities=caps, family="qwen3")
        try:
            ours: str | None = ct.native_render(template, body)
        except UnsupportedError:
            ours = None
        assert llama_cpp_render(text, body, eos=QWEN_EOS) == ours, probe.name


@pytest.mark.parametrize("which", ["qwen3", "effort"])
def test_the_model_side_renders_as_transformers_does(which, qwen3):
    """`render` with tools, reasoning and think kwargs against transformers' own render_jinja_template
    (what apply_chat_template calls), on every probe: the proof's model side is transformers'."""
    import jinja2
    from transformers.utils.chat_template_utils import render_jinja_template

    text = qwen3 if which == "qwen3" else EFFORT
    template = _template(text)
    for probe in ct.THINK_PROBES:
        messages = [t.hf() for t in probe.turns]
        kwargs = ct._hf_kwargs(probe.think)
        try:
            ours: str | None = ct.render(template, messages, tools=list(probe.tools) or None,
                                         add_generation_prompt=True, continue_final_message=False, **kwargs)
        except UnsupportedError:
            ours = None
        try:
            rendered, _ = render_jinja_template([messages], tools=list(probe.tools) or None, chat_template=text,
                                                add_generation_prompt=True, eos_token=QWEN_EOS, **kwargs)
            theirs: str | None = rendered[0]
        except jinja2.exceptions.TemplateError:  # the template's raise_exception, for a level it refuses
            theirs = None
        assert ours == theirs, probe.name


@pytest.mark.parametrize("carried", ["same", "none", "changed"])
def test_ollama_create_proves_the_template_the_quantized_gguf_carries(carried, qwen3, server, tmp_path, capsys,
                                                                      monkeypatch):
    from blossom_edge.quantize import pipeline as quantize

    directory = _checkpoint(tmp_path / "snapshot-1234", qwen3)
    template = {"same": qwen3, "none": None, "changed": qwen3.replace("<tool_call>", "<call>")}[carried]

    def fake_quantize_source(source, qtype, output_dir, progress=None):
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        return build_metadata_gguf(Path(output_dir) / "snapshot-1234-Q4_K_M.gguf", arch="qwen3",
                                   chat_template=template, tokens=("<unk>", "<|im_start|>", QWEN_EOS, "hello"))

    monkeypatch.setattr(quantize, "quantize_source", fake_quantize_source)
    code = main(["ollama", "create", str(directory), "-o", str(tmp_path / "out")])
    _, err = capsys.readouterr()
    if carried == "same":
        assert code == 0, err
        sent = server.calls("POST", "/api/create")[0].json()
        assert sent["model"] == "snapshot-1234:q4_k_m" and "template" not in sent
        assert "Proved equal to the model's template" in (tmp_path / "out" / "snapshot-1234-q4_k_m.Modelfile").read_text()
    else:
        reason = "carries no chat template" if carried == "none" else "probe 'tools offered' differs"
        assert code == 1 and reason in err and server.calls("POST", "/api/create") == []
