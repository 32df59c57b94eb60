"""A multimodal model's vision projector: its second FROM line, and the projector layer Ollama receives."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from blossom_edge.cli import main
from blossom_edge.inputs.projector import is_projector, projector_beside
from blossom_edge.ollama.go.modelfile_parser import parse
from blossom_edge.ollama.modelfile import from_path
from tests import ollama_server
from tests.builders.tiny_gguf import build_metadata_gguf, build_projector_gguf


@pytest.fixture
def pair(tmp_path) -> tuple[Path, Path]:
    gguf = build_metadata_gguf(tmp_path / "blossom-v5-4b-Q4_K_M.gguf")
    projector = build_projector_gguf(tmp_path / "mmproj-blossom-v5-4b-F16.gguf")
    return gguf, projector


def _digest(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_projector_is_told_from_a_model_as_ollama_tells_them(pair):
    gguf, projector = pair
    assert is_projector(projector) and not is_projector(gguf)


def test_the_projector_beside_a_model_is_found_by_its_model_stem(pair, tmp_path):
    gguf, projector = pair
    assert projector_beside(gguf, "blossom-v5-4b") == projector
    # Another model's projector in the same directory is not this model's.
    assert projector_beside(gguf, "blossom-v5-9b") is None
    # A file named like a projector that is a text model is not taken for one.
    build_metadata_gguf(tmp_path / "mmproj-blossom-v5-9b-F16.gguf")
    assert projector_beside(gguf, "blossom-v5-9b") is None


def test_two_projectors_beside_a_model_are_refused_not_guessed(pair, capsys):
    gguf, projector = pair
    build_projector_gguf(projector.with_name("mmproj-blossom-v5-4b-Q8_0.gguf"))
    code = main(["modelfile", str(gguf)])
    err = capsys.readouterr().err
    assert code == 2 and "several vision projectors" in err and "--mmproj" in err
    assert len(err.strip().splitlines()) == 1


def test_modelfile_names_the_model_then_its_projector(pair, capsys):
    gguf, projector = pair
    code = main(["modelfile", str(gguf)])
    out, err = capsys.readouterr()
    assert code == 0, err
    froms = [c.args for c in parse(out) if c.name == "model"]
    assert froms == [from_path(gguf, Path.cwd()), from_path(projector, Path.cwd())]


def test_modelfile_written_beside_the_model_uses_relative_from_lines(pair, capsys):
    gguf, _ = pair
    target = gguf.parent / "4b.Modelfile"
    code = main(["modelfile", str(gguf), "-o", str(target)])
    assert code == 0, capsys.readouterr().err
    assert [c.args for c in parse(target.read_text()) if c.name == "model"] == [
        f"./{gguf.name}", "./mmproj-blossom-v5-4b-F16.gguf"]


def test_mmproj_option_must_name_a_projector(pair, capsys):
    gguf, _ = pair
    code = main(["modelfile", str(gguf), "--mmproj", str(gguf)])
    err = capsys.readouterr().err
    assert code == 2 and "is not a vision projector" in err


def test_ollama_create_sends_both_files_and_the_server_keeps_a_projector_layer(server, pair, capsys):
    gguf, projector = pair
    code = main(["ollama", "create", str(gguf), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    sent = server.calls("POST", "/api/create")[0].json()
    assert sent["files"] == {gguf.name: _digest(gguf), projector.name: _digest(projector)}
    uploaded = {r.path.removeprefix("/api/blobs/") for r in server.calls("POST", "/api/blobs/")}
    assert uploaded == {_digest(gguf), _digest(projector)}
    layers = server.models["blossom-v5-4b:q4_k_m"]["layers"]
    assert layers == {_digest(gguf): ollama_server.MODEL_MEDIA, _digest(projector): ollama_server.PROJECTOR_MEDIA}
    report = json.loads(out)
    assert report["projector"] == str(projector) and report["projector_digest"] == _digest(projector)


def test_a_server_that_drops_the_projector_is_caught(server, pair, capsys):
    gguf, _ = pair
    server.faults["drop_projector"] = True
    code = main(["ollama", "create", str(gguf)])
    err = capsys.readouterr().err
    assert code == 1 and "did not take the second FROM file as a vision projector" in err


def test_a_text_only_model_still_sends_one_file(server, tmp_path, capsys):
    gguf = build_metadata_gguf(tmp_path / "blossom-v5-4b-Q4_K_M.gguf")
    code = main(["ollama", "create", str(gguf)])
    assert code == 0, capsys.readouterr().err
    assert list(server.calls("POST", "/api/create")[0].json()["files"]) == [gguf.name]
