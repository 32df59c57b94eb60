"""`blossom-edge ollama create` against a local server that follows Ollama's documented API."""

from __future__ import annotations

import hashlib
import json
import socket
import tempfile
from pathlib import Path

import pytest

from blossom_edge.base.errors import UsageError
from blossom_edge.cli import main
from blossom_edge.model.catalog import BLOSSOM_V5_SYSTEM, resolve
from blossom_edge.ollama import client as oc
from blossom_edge.ollama import modelfile as mf
from tests.builders.tiny_gguf import build_metadata_gguf


def _gguf_bytes(**metadata) -> bytes:
    with tempfile.TemporaryDirectory() as scratch:
        return build_metadata_gguf(Path(scratch) / "model.gguf", **metadata).read_bytes()


# A real GGUF without a chat template: its TEMPLATE comes from the catalog's format.
GGUF_BYTES = _gguf_bytes()


@pytest.fixture
def gguf(tmp_path) -> Path:
    path = tmp_path / "blossom-v5-4b-Q4_K_M.gguf"
    path.write_bytes(GGUF_BYTES)
    return path


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["ollama", "create", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_create_from_gguf_sends_blob_create_show(server, gguf, capsys):
    code, out, err = _run(capsys, str(gguf), "--json")
    assert code == 0, err
    digest = _digest(GGUF_BYTES)
    methods = [(r.method, r.path) for r in server.requests]
    assert methods == [("GET", "/api/tags"), ("HEAD", f"/api/blobs/{digest}"), ("POST", f"/api/blobs/{digest}"),
                       ("POST", "/api/create"), ("POST", "/api/show")]
    assert server.calls("POST", "/api/blobs/")[0].body == GGUF_BYTES
    sent = server.calls("POST", "/api/create")[0].json()
    model = resolve("4b")
    assert sent["model"] == "blossom-v5-4b:q4_k_m"
    assert sent["files"] == {gguf.name: digest}
    assert sent["template"] == mf.blossom_template(model.chat)
    assert sent["system"] == BLOSSOM_V5_SYSTEM
    assert sent["parameters"] == {"temperature": 0.5, "top_p": pytest.approx(0.85), "top_k": 50,
                                  "repeat_penalty": pytest.approx(1.05), "stop": ["<|endoftext|>", "|Human|:"],
                                  "num_ctx": 4096}
    assert sent["stream"] is True
    assert server.calls("POST", "/api/show")[0].json()["model"] == "blossom-v5-4b:q4_k_m"
    report = json.loads(out)
    assert report["name"] == "blossom-v5-4b:q4_k_m" and report["uploaded"] is True and report["digest"] == digest
    written = gguf.parent / "blossom-v5-4b-q4_k_m.Modelfile"
    assert Path(report["modelfile"]) == written
    assert written.read_text() == mf.blossom_modelfile(model, f"./{gguf.name}", name="blossom-v5-4b:q4_k_m")
    assert not list(gguf.parent.glob("*.partial"))


def test_gpu_variant_offloads_every_layer_under_its_own_tag(server, gguf, capsys):
    code, _, err = _run(capsys, str(gguf), "--gpu", "--ctx", "2048")
    assert code == 0, err
    sent = server.calls("POST", "/api/create")[0].json()
    assert sent["model"] == "blossom-v5-4b:q4_k_m-gpu"
    assert sent["parameters"]["num_gpu"] == 999 and sent["parameters"]["num_ctx"] == 2048
    assert (gguf.parent / "blossom-v5-4b-q4_k_m-gpu.Modelfile").is_file()


def test_publish_creates_the_published_name_and_says_so(server, gguf, capsys):
    code, out, err = _run(capsys, str(gguf), "--publish", "--gpu")
    assert code == 0, err
    assert server.calls("POST", "/api/create")[0].json()["model"] == "azure99/blossom:4b-gpu"
    assert "publisher's namespace" in err and "created azure99/blossom:4b-gpu" in out


def test_explicit_publisher_name_is_allowed_with_a_note(server, gguf, capsys):
    code, _, err = _run(capsys, str(gguf), "--name", "azure99/blossom:4b")
    assert code == 0 and "publisher's namespace" in err
    code, _, err = _run(capsys, str(gguf), "--name", "me/x:1", "--publish")
    assert code == 2 and "not both" in err


def test_publish_without_a_published_name_is_refused_before_anything_is_sent(server, tmp_path, capsys):
    path = tmp_path / "blossom-v5-mistral-7b-Q4_K_M.gguf"
    path.write_bytes(GGUF_BYTES)
    code, _, err = _run(capsys, str(path), "--publish")
    assert code == 2 and "has no published Ollama name" in err
    assert server.requests == []


def test_existing_blob_is_not_uploaded_again(server, gguf, capsys):
    server.blobs[_digest(GGUF_BYTES)] = GGUF_BYTES
    code, out, err = _run(capsys, str(gguf), "--json")
    assert code == 0, err
    assert server.calls("POST", "/api/blobs/") == []
    assert json.loads(out)["uploaded"] is False


def test_host_option_and_custom_name_and_push(server, gguf, capsys, monkeypatch):
    monkeypatch.delenv("OLLAMA_HOST")
    code, out, err = _run(capsys, str(gguf), "--host", server.url, "--name", "me/blossom:test", "--push")
    assert code == 0, err
    assert server.calls("POST", "/api/create")[0].json()["model"] == "me/blossom:test"
    push = server.calls("POST", "/api/push")[0].json()
    assert push["model"] == "me/blossom:test" and push["stream"] is True
    assert "created and pushed me/blossom:test" in out


def test_4b_q4_k_m_creates_a_local_name_and_publish_the_published_one(server, tmp_path, capsys, monkeypatch):
    from blossom_edge.quantize import pipeline as quantize

    def fake_quantize_source(source, qtype, output_dir, progress=None):
        out = Path(output_dir) / resolve(source).gguf_filename(qtype)
        out.write_bytes(GGUF_BYTES)
        return out

    monkeypatch.setattr(quantize, "quantize_source", fake_quantize_source)
    assert _run(capsys, "4b", "q4_k_m", "-o", str(tmp_path))[0] == 0
    assert _run(capsys, "4b", "q4_k_m", "-o", str(tmp_path), "--publish")[0] == 0
    assert [c.json()["model"] for c in server.calls("POST", "/api/create")] == ["blossom-v5-4b:q4_k_m",
                                                                              "azure99/blossom:4b"]


def test_alias_is_quantized_first_through_the_quantize_module(server, tmp_path, capsys, monkeypatch):
    from blossom_edge.quantize import pipeline as quantize

    calls = []

    def fake_quantize_source(source, qtype, output_dir, progress=None):
        calls.append((source, qtype, Path(output_dir)))
        out = Path(output_dir) / resolve(source).gguf_filename(qtype)
        out.write_bytes(GGUF_BYTES)
        return out

    monkeypatch.setattr(quantize, "quantize_source", fake_quantize_source)
    code, _, err = _run(capsys, "9b", "q5_k_m", "-o", str(tmp_path))
    assert code == 0, err
    assert calls == [("9b", "q5_k_m", tmp_path)]
    sent = server.calls("POST", "/api/create")[0].json()
    assert sent["model"] == "blossom-v5.1-9b:q5_k_m"
    assert sent["files"] == {"blossom-v5.1-9b-Q5_K_M.gguf": _digest(GGUF_BYTES)}
    assert (tmp_path / "blossom-v5.1-9b-q5_k_m.Modelfile").read_text().startswith("# blossom-v5.1-9b:q5_k_m:")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_no_server_is_one_line_saying_how_to_start_one(gguf, capsys, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{_closed_port()}")
    code, out, err = _run(capsys, str(gguf))
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "no Ollama server at http://127.0.0.1:" in err and "ollama serve" in err and "scripts/termux.sh" in err


def test_no_server_fails_before_quantizing(capsys, monkeypatch):
    from blossom_edge.quantize import pipeline as quantize

    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{_closed_port()}")
    monkeypatch.setattr(quantize, "quantize_source", lambda *a, **k: pytest.fail("quantized before checking"))
    code, _, err = _run(capsys, "4b")
    assert code == 1 and "ollama serve" in err


@pytest.mark.parametrize("name", ["azure99/blossom:bad tag", "azure99/blossom:", "a.b/blossom:4b",
                                  "azure99/-blossom:4b", "azure99/blossom:" + "x" * 81])
def test_bad_name_is_refused_before_anything_is_sent(server, gguf, capsys, name):
    code, out, err = _run(capsys, str(gguf), "--name", name)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "invalid Ollama model name" in err
    assert server.requests == []


def test_missing_gguf_is_one_line(server, tmp_path, capsys):
    code, _, err = _run(capsys, str(tmp_path / "blossom-v5-4b-Q4_K_M.gguf"))
    assert code == 1 and len(err.strip().splitlines()) == 1 and "no such GGUF file" in err
    assert server.requests == []


def test_qtype_with_a_gguf_is_a_usage_error(server, gguf, capsys):
    code, _, err = _run(capsys, str(gguf), "q8_0")
    assert code == 2 and "GGUF file is used as it is" in err


def test_template_changed_by_the_server_is_caught(server, gguf, capsys):
    server.faults["show_template"] = "{{ .Prompt }}"
    code, _, err = _run(capsys, str(gguf))
    assert code == 1 and "TEMPLATE differs" in err


def test_parameter_dropped_by_the_server_is_caught(server, gguf, capsys):
    server.faults["drop_parameter"] = "stop"
    code, _, err = _run(capsys, str(gguf))
    assert code == 1 and "stop: sent ['<|endoftext|>', '|Human|:'], server has []" in err


def test_error_in_the_create_stream_is_one_line(server, gguf, capsys):
    server.faults["create_error"] = "unsupported architecture"
    code, _, err = _run(capsys, str(gguf))
    errors = [line for line in err.splitlines() if line.startswith("blossom-edge: error:")]
    assert code == 1 and "Traceback" not in err
    assert errors == ["blossom-edge: error: Ollama refused to create blossom-v5-4b:q4_k_m: unsupported architecture"]


def test_unknown_gguf_name_needs_model_option(server, tmp_path, capsys):
    path = tmp_path / "my-model.gguf"
    path.write_bytes(GGUF_BYTES)
    code, _, err = _run(capsys, str(path))
    assert code == 2 and "--model" in err
    code, _, err = _run(capsys, str(path), "--model", "v6-7b")
    assert code == 1 and "no sourced chat format for v6-7b" in err and server.calls("POST", "/api/create") == []
    code, _, err = _run(capsys, str(path), "--model", "v5-mistral-7b")
    assert code == 0, err
    sent = server.calls("POST", "/api/create")[0].json()
    assert sent["model"] == "blossom-v5-mistral-7b:latest"
    assert sent["parameters"]["stop"] == ["</s>", "|Human|:"]


@pytest.mark.parametrize("text, expected", [
    ("azure99/blossom:4b", ("registry.ollama.ai", "azure99", "blossom", "4b")),
    ("blossom", ("registry.ollama.ai", "library", "blossom", "latest")),
    ("example.com:5000/azure99/blossom:4b-gpu", ("example.com:5000", "azure99", "blossom", "4b-gpu")),
    ("https://example.com/azure99/blossom", ("example.com", "azure99", "blossom", "latest")),
    ("_x/y_z:v1.0", ("registry.ollama.ai", "_x", "y_z", "v1.0")),
])
def test_model_names_split_as_ollama_splits_them(text, expected):
    name = oc.parse_model_name(text)
    assert (name.host, name.namespace, name.model, name.tag) == expected


@pytest.mark.parametrize("text, reason", [
    ("", "model is empty"), (":4b", "model is empty"), ("blossom:", "tag is empty"),
    ("a.b/blossom", "namespace 'a.b' has '.'"), ("x/y/z/w", "host 'x/y' has '/'"),
    ("blossom:4b gpu", "tag '4b gpu' has ' '"), ("blossom:.4b", "must start with"),
    ("blössom", "model 'blössom' has 'ö'"),
])
def test_bad_model_names_say_which_part(text, reason):
    with pytest.raises(UsageError, match=reason.replace(".", r"\.").replace("(", r"\(")):
        oc.parse_model_name(text)


def test_show_parameters_text_parses_back_go_values():
    text = ('num_ctx                        4096\n'
            'stop                           "<|endoftext|>"\n'
            'stop                           "say \\"hi\\"\\n\\u200d"\n'
            'temperature                    0.5\nuse_mmap                       false')
    assert oc.parse_show_parameters(text) == {"num_ctx": [4096.0], "stop": ["<|endoftext|>", 'say "hi"\n\u200d'],
                                              "temperature": [0.5], "use_mmap": [False]}
    assert oc.parameter_differences({"num_ctx": 4096, "stop": ["<|endoftext|>"]},
                                    oc.parse_show_parameters(text)) == [
        "stop: sent ['<|endoftext|>'], server has ['<|endoftext|>', 'say \"hi\"\\n\\u200d']"]


CHATML_DEFAULT = ("{%- if messages[0]['role'] != 'system' %}{{- '<|im_start|>system\\nYou are a helpful "
                  "assistant.<|im_end|>\\n' }}{%- endif %}{%- for m in messages %}{{- '<|im_start|>' + m['role'] "
                  "+ '\\n' + m['content'] + '<|im_end|>\\n' }}{%- endfor %}{%- if add_generation_prompt %}"
                  "{{- '<|im_start|>assistant\\n' }}{%- endif %}")


def test_a_gguf_with_its_own_template_is_created_with_that_template(server, tmp_path, capsys):
    from blossom_edge.ollama import chat_template as ct

    path = tmp_path / "blossom-v5-4b-Q4_K_M.gguf"
    path.write_bytes(_gguf_bytes(chat_template=CHATML_DEFAULT))
    code, _, err = _run(capsys, str(path))
    assert code == 0, err
    sent = server.calls("POST", "/api/create")[0].json()
    own = ct.derive(ct.from_gguf(path))
    assert sent["template"] == own.template != mf.blossom_template(resolve("4b").chat)
    assert sent["system"] == "You are a helpful assistant."
    assert "tokenizer.chat_template, proved equal" in (tmp_path / "blossom-v5-4b-q4_k_m.Modelfile").read_text()


def test_a_gguf_template_that_cannot_be_expressed_is_refused_before_anything_is_sent(server, tmp_path, capsys):
    path = tmp_path / "blossom-v5-4b-Q4_K_M.gguf"
    path.write_bytes(_gguf_bytes(chat_template="{% for m in messages %}{{ m.content | upper }}{% endfor %}"))
    code, _, err = _run(capsys, str(path))
    assert code == 1 and "cannot be expressed as an Ollama TEMPLATE" in err and len(err.strip().splitlines()) == 1
    assert server.requests == []


def test_a_checkpoint_downloaded_by_quantize_gives_its_template_through_the_gguf(server, tmp_path, capsys,
                                                                               monkeypatch):
    from blossom_edge.quantize import pipeline as quantize

    def fake_quantize_source(source, qtype, output_dir, progress=None):
        out = Path(output_dir) / resolve(source).gguf_filename(qtype)
        out.write_bytes(_gguf_bytes(chat_template=CHATML_DEFAULT))
        return out

    monkeypatch.setattr(quantize, "quantize_source", fake_quantize_source)
    code, _, err = _run(capsys, "v6-7b", "-o", str(tmp_path))
    assert code == 0, err
    sent = server.calls("POST", "/api/create")[0].json()
    assert sent["model"] == "blossom-v6-7b:q4_k_m" and sent["template"].startswith("{{ if not .System }}")
    assert sent["system"] == "You are a helpful assistant."
