"""The vision projector (`mmproj-*.gguf`) of Qwen3.5 dense and MoE checkpoints: the same file as llama.cpp's
`convert_hf_to_gguf.py --mmproj`, byte for byte; written by `convert` beside a text GGUF that still matches
the reference's; loaded by llama.cpp's libmtmd, which encodes an image to the same embeddings from our files
as from the reference's; skipped with --no-mmproj; never left half-written; described by `inspect`."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import gguf
import numpy as np
import pytest

from blossom_edge.cli import main
from blossom_edge.convert import convert_checkpoint, stream
from blossom_edge.convert.projector import convert_projector, has_vision_tower, projector_file_name
from blossom_edge.engine.mtmd import encode_image
from blossom_edge.inputs.gguf_info import read_gguf_info
from blossom_edge.native.isolated import run_isolated
from tests.builders.gguf_compare import assert_same_gguf, read_gguf
from tests.builders.llama_cpp_source import run_reference_converter
from tests.builders.vision_checkpoints import (
    build_qwen3_5_vision,
    gradient_image,
    run_reference_projector,
    with_preprocessor_config,
)
from tests.convert.test_architectures import ARCHS, PRE_KEY

# Not a multiple of the 8-pixel merged patch, so libmtmd's resize runs too.
IMAGE_W, IMAGE_H = 44, 28


@pytest.fixture(scope="module")
def vision_dense(tmp_path_factory) -> Path:
    return build_qwen3_5_vision(tmp_path_factory.mktemp("q35v") / "ckpt")


@pytest.fixture(scope="module")
def vision_moe(qwen35_moe, tmp_path_factory) -> Path:
    """conftest's Qwen3.5-MoE checkpoint (multimodal, as the hub's) with the preprocessor config beside it."""
    return with_preprocessor_config(qwen35_moe, tmp_path_factory.mktemp("q35moev") / "ckpt")


@pytest.fixture(scope="module")
def reference_projector(reference_src, tmp_path_factory):
    """llama.cpp's `--mmproj` output for (checkpoint, type), run once per module and kept."""
    made: dict[tuple[Path, str], Path] = {}

    def get(model_dir: Path, outtype: str) -> Path:
        if (model_dir, outtype) not in made:
            out = tmp_path_factory.mktemp("ref-mmproj") / f"mmproj-ref-{outtype}.gguf"
            proc = run_reference_projector(reference_src, model_dir, out, outtype)
            assert proc.returncode == 0, proc.stderr[-3000:]
            made[model_dir, outtype] = out
        return made[model_dir, outtype]

    return get


@pytest.fixture(scope="module")
def dense_converted(vision_dense, reference_src, tmp_path_factory) -> dict:
    """Ours (text GGUF and projector, f16) for the dense vision checkpoint, and the reference's text GGUF."""
    out_dir = tmp_path_factory.mktemp("dense-convert")
    result = convert_checkpoint(vision_dense, out_dir / "tiny-F16.gguf", "f16", mmproj=True)
    ref_text = out_dir / "ref.gguf"
    proc = run_reference_converter(reference_src, vision_dense, ref_text, "f16")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"result": result, "text": result.path, "projector": result.projector.path, "ref_text": ref_text}


def test_projector_file_name():
    assert projector_file_name("blossom-v7-9b-Q4_K_M.gguf") == "mmproj-blossom-v7-9b-Q4_K_M.gguf"
    assert projector_file_name("model") == "mmproj-model.gguf"


def test_has_vision_tower(vision_dense, vision_moe, qwen35):
    assert has_vision_tower(vision_dense) and has_vision_tower(vision_moe)
    assert not has_vision_tower(qwen35)  # the text-only class has no tower to convert


@pytest.mark.parametrize(("kind", "outtype"), [("dense", "f16"), ("dense", "q8_0"), ("moe", "f16")])
def test_same_file_as_llama_cpp_mmproj(request, reference_projector, tmp_path, kind, outtype):
    """Every byte: keys and their order, tensor names, order, types (patch kernels F16 only in an f16
    file, position embedding and norms F32), alignment, data."""
    model_dir = request.getfixturevalue(f"vision_{kind}")
    ours = convert_projector(model_dir, tmp_path / f"mmproj-{outtype}.gguf", out_type=outtype)
    ref = reference_projector(model_dir, outtype)
    if ours.read_bytes() != ref.read_bytes():
        assert_same_gguf(ours, ref)  # names what differs
        pytest.fail("same keys and tensors, yet the files differ (key order or alignment)")


def test_convert_writes_both_and_text_still_matches(dense_converted, vision_dense, reference_projector):
    """`convert` writes the projector beside the text GGUF, and the text GGUF is the one it wrote before:
    the reference's text output but for the differences test_architectures.py states for Qwen3.5."""
    written = dense_converted["result"].projector
    assert written.path == dense_converted["text"].with_name("mmproj-tiny-F16.gguf")
    assert written.path.read_bytes() == reference_projector(vision_dense, "f16").read_bytes()
    assert written.outtype == "f16"
    arch = ARCHS["qwen35"]
    ours, ref = assert_same_gguf(dense_converted["text"], dense_converted["ref_text"], ignore_keys=(PRE_KEY,),
                                 ulps=arch.ulps)
    assert not any(name.startswith(("v.", "mm.")) for name in read_gguf_info(dense_converted["text"]).tensor_types)
    assert (ours[PRE_KEY], ref[PRE_KEY]) == arch.pre_key


@pytest.mark.slow
def test_libmtmd_encodes_the_same_from_ours_and_the_references(dense_converted, vision_dense, reference_projector):
    """llama.cpp's libmtmd loads our (text GGUF, projector) pair and encodes an image to exactly the
    embeddings it gets from the reference's pair (CPU, one thread, no warm-up: the same arithmetic)."""
    image = gradient_image(IMAGE_W, IMAGE_H)
    ours = run_isolated("encoding an image", dense_converted["text"], encode_image, str(dense_converted["text"]),
                        str(dense_converted["projector"]), image, IMAGE_W, IMAGE_H)
    ref = run_isolated("encoding an image", dense_converted["ref_text"], encode_image,
                       str(dense_converted["ref_text"]), str(reference_projector(vision_dense, "f16")), image,
                       IMAGE_W, IMAGE_H)
    assert (ours.n_tokens, ours.n_embd) == (ref.n_tokens, ref.n_embd)
    assert ours.n_tokens > 1 and ours.n_embd == read_gguf_info(dense_converted["text"]).n_embd
    embeddings = ours.array()
    # Finite, and one row per image token that differ as the image's patches do: an image was encoded.
    assert np.isfinite(embeddings).all() and len({row.tobytes() for row in embeddings}) == ours.n_tokens
    assert ours.data == ref.data


def test_cli_writes_the_projector_unless_no_mmproj(vision_dense, tmp_path, capsys, caplog):
    out = tmp_path / "m.gguf"
    assert main(["convert", str(vision_dense), "-o", str(out), "--outtype", "q8_0", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["projector"]["path"] == str(tmp_path / "mmproj-m.gguf") and summary["projector"]["outtype"] == "q8_0"
    assert read_gguf(tmp_path / "mmproj-m.gguf")[0]["general.file_type"] == gguf.LlamaFileType.MOSTLY_Q8_0
    text_only = tmp_path / "text-only" / "t.gguf"
    text_only.parent.mkdir()
    assert main(["convert", str(vision_dense), "-o", str(text_only), "--outtype", "f16", "--no-mmproj"]) == 0
    assert [p.name for p in text_only.parent.iterdir()] == ["t.gguf"]
    lines = [r.getMessage() for r in caplog.records if "vision tower" in r.getMessage()]
    assert len(lines) == 1 and "--no-mmproj: vision tower skipped" in lines[0] and "model.visual." in lines[0]


def test_dry_run_lists_the_projector(vision_dense, reference_projector, tmp_path, capsys):
    out = tmp_path / "plan.gguf"
    assert main(["convert", str(vision_dense), "-o", str(out), "--outtype", "f16", "--dry-run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert list(tmp_path.iterdir()) == []
    projector = plan["projector"]
    assert projector["output"] == str(tmp_path / "mmproj-plan.gguf") and projector["architecture"] == "clip"
    _, ref_tensors = read_gguf(reference_projector(vision_dense, "f16"))
    assert [(t["name"], t["to"]) for t in projector["tensors"]] == [(n, t[0]) for n, t in ref_tensors.items()]
    assert projector["tensor_bytes"] == sum(len(t[2]) for t in ref_tensors.values())


def _fail_at(monkeypatch, tensor: str) -> None:
    """The disk fills up when `tensor` is about to be written."""
    original = stream.StreamedTensor.tofile

    def tofile(self, fout):
        if self.planned.name == tensor:
            raise OSError(errno.ENOSPC, "No space left on device")
        original(self, fout)

    monkeypatch.setattr(stream.StreamedTensor, "tofile", tofile)


def test_failure_midway_leaves_no_projector(vision_dense, tmp_path, monkeypatch, capsys):
    _fail_at(monkeypatch, "mm.0.weight")
    with pytest.raises(OSError):
        convert_projector(vision_dense, tmp_path / "mmproj-x.gguf")
    assert list(tmp_path.iterdir()) == []
    # Through `convert`: the text GGUF is complete and stays; the projector is not there, not even in part.
    out = tmp_path / "m.gguf"
    assert main(["convert", str(vision_dense), "-o", str(out), "--outtype", "f16"]) != 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.gguf"]
    assert capsys.readouterr().err.count("\n") >= 1


def test_inspect_shows_a_projectors_facts(dense_converted, vision_dense, capsys):
    projector = dense_converted["projector"]
    assert main(["inspect", str(projector), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    keys, tensors = read_gguf(projector)
    vision = json.loads((vision_dense / "config.json").read_text())["vision_config"]
    assert data["kind"] == "projector" and data["architecture"] == "clip"
    assert data["projector_type"] == keys["clip.projector_type"] == "qwen3vl_merger"
    assert data["vision"]["patch_size"] == vision["patch_size"]
    assert data["vision"]["block_count"] == vision["depth"]
    assert data["vision"]["embedding_length"] == vision["hidden_size"]
    assert data["vision"]["head_count"] == vision["num_heads"]
    # No image_size in the config: the reference derives it from the learned positions.
    assert data["vision"]["image_size"] == int(vision["num_position_embeddings"] ** 0.5) * vision["patch_size"]
    assert data["file_type_name"] == "F16" and data["tensors"] == len(tensors)
    assert data["tensor_bytes"] == sum(len(t[2]) for t in tensors.values())
    assert main(["inspect", str(projector)]) == 0
    shown = capsys.readouterr().out
    assert "qwen3vl_merger" in shown and "vision projector" in shown


def test_a_tower_without_its_image_normalisation_is_one_line_before_writing(vision_dense, tmp_path, capsys):
    """No preprocessor_config.json (a checkpoint copied without it): refused before the text GGUF is written,
    in one line that names the file and the way to convert the text model alone."""
    view = tmp_path / "ckpt"
    view.mkdir()
    for item in vision_dense.iterdir():
        if item.name != "preprocessor_config.json":
            (view / item.name).symlink_to(item)
    out = tmp_path / "out" / "m.gguf"
    out.parent.mkdir()
    assert main(["convert", str(view), "-o", str(out), "--outtype", "f16"]) != 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and "image_mean" in lines[0] and "--no-mmproj" in lines[0], lines
    assert list(out.parent.iterdir()) == []
