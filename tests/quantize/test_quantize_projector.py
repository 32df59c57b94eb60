"""quantize on a multimodal checkpoint: the vision projector beside the output, recorded in the manifest,
the same bytes `convert` writes (which tests/convert/test_projector.py proves equal to llama.cpp's
`--mmproj`), named by the Modelfile as its second FROM; carried along from a GGUF input."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from blossom_edge.cli import main
from blossom_edge.convert.projector import convert_projector
from blossom_edge.inputs.projector import is_projector
from blossom_edge.ollama.go.modelfile_parser import parse
from blossom_edge.quantize.manifest import manifest_path
from blossom_edge.quantize.pipeline import quantize_pipeline
from tests.builders.vision_checkpoints import build_qwen3_5_vision


@pytest.fixture(scope="module")
def vision(tmp_path_factory) -> Path:
    return build_qwen3_5_vision(tmp_path_factory.mktemp("q35v") / "blossom-tiny-vl")


@pytest.fixture(scope="module")
def quantized(vision, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    return out, quantize_pipeline(str(vision), "q8_0", out)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_the_projector_is_left_beside_the_output_as_convert_writes_it(quantized, vision, tmp_path):
    out, report = quantized
    projector = out / "mmproj-blossom-tiny-vl-F16.gguf"
    assert is_projector(projector)
    alone = convert_projector(vision, tmp_path / projector.name, out_type="f16")
    assert projector.read_bytes() == alone.read_bytes()
    record = json.loads(manifest_path(report.path).read_text())["projector"]
    assert record == report.projector
    assert record["file"] == projector.name and record["type"] == "F16"
    assert record["sha256"] == _sha(projector) and record["bytes"] == projector.stat().st_size
    assert not list(out.glob("*.partial"))


@pytest.mark.slow
def test_the_modelfile_of_the_output_names_its_projector_second(quantized, capsys):
    out, report = quantized
    target = out / "tiny.Modelfile"
    assert main(["modelfile", str(report.path), "-o", str(target)]) == 0, capsys.readouterr().err
    froms = [c.args for c in parse(target.read_text()) if c.name == "model"]
    assert froms == [f"./{report.path.name}", "./mmproj-blossom-tiny-vl-F16.gguf"]


@pytest.mark.slow
def test_mmproj_type_q8_0_and_no_mmproj(vision, tmp_path, capsys):
    code = main(["quantize", str(vision), "q8_0", "-o", str(tmp_path / "a"), "--mmproj-type", "Q8_0", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    report = json.loads(out)
    assert report["projector"]["file"] == "mmproj-blossom-tiny-vl-Q8_0.gguf" and report["projector"]["type"] == "Q8_0"
    alone = convert_projector(vision, tmp_path / "alone.gguf", out_type="q8_0")
    assert (tmp_path / "a" / report["projector"]["file"]).read_bytes() == alone.read_bytes()

    assert main(["quantize", str(vision), "q8_0", "-o", str(tmp_path / "b"), "--no-mmproj"]) == 0
    assert not list((tmp_path / "b").glob("mmproj-*"))
    assert json.loads(manifest_path(tmp_path / "b" / "blossom-tiny-vl-Q8_0.gguf").read_text())["projector"] is None


@pytest.mark.slow
def test_a_gguf_input_carries_its_projector_to_the_output(quantized, tmp_path):
    out, first = quantized
    again = quantize_pipeline(str(first.path), "q4_0", tmp_path)
    carried = tmp_path / "mmproj-blossom-tiny-vl-F16.gguf"
    assert carried.read_bytes() == (out / carried.name).read_bytes()
    assert again.projector["file"] == carried.name and again.projector["made"].startswith("copied from")


@pytest.mark.parametrize(("args", "message"), [
    (["--mmproj-type", "q4_k_m"], "--mmproj-type must be one of f16, q8_0"),
    (["--mmproj-type", "f16", "--no-mmproj"], "contradict"),
])
def test_bad_projector_options_are_one_line(vision, tmp_path, capsys, args, message):
    code = main(["quantize", str(vision), "q8_0", "-o", str(tmp_path), *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


def test_mmproj_type_for_a_text_model_is_refused(tmp_path, capsys):
    from tests.builders.checkpoints import build_checkpoint

    ckpt = build_checkpoint(tmp_path / "text", "qwen2", hidden=64, layers=1)
    code = main(["quantize", str(ckpt), "q8_0", "-o", str(tmp_path / "out"), "--mmproj-type", "f16"])
    err = capsys.readouterr().err
    assert code == 2 and "has no vision tower" in err
    assert not list((tmp_path / "out").glob("*.gguf"))


def test_a_tower_without_its_processor_config_is_refused_before_converting(vision, tmp_path, capsys):
    bare = tmp_path / "bare"
    bare.mkdir()
    for item in vision.iterdir():
        if item.name != "preprocessor_config.json":
            (bare / item.name).symlink_to(item)
    code = main(["quantize", str(bare), "q8_0", "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1 and "image_mean" in err and "--no-mmproj quantizes the text model alone" in err
    assert len(err.strip().splitlines()) == 1
    assert not list((tmp_path / "out").iterdir())
