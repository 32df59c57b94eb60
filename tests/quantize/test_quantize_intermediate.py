"""Where the checkpoint → GGUF intermediate lives: RAM when it fits, disk otherwise, and never left behind."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

import blossom_edge.base.diskspace as diskspace
from blossom_edge.base.errors import ExternalToolError
from blossom_edge.quantize.pipeline import quantize_pipeline


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    from tests.builders.checkpoints import build_checkpoint

    return build_checkpoint(tmp_path_factory.mktemp("ckpt") / "blossom-tiny", "qwen2", hidden=256, layers=2,
                            dtype="bfloat16")


@dataclass
class Ram:
    dir: Path
    written: list[Path]


@pytest.fixture()
def ram(tmp_path, monkeypatch) -> Ram:
    """A stand-in RAM directory, with where each conversion wrote its output recorded."""
    import blossom_edge.convert as convert

    directory = tmp_path / "shm"
    directory.mkdir()
    monkeypatch.setattr(diskspace, "RAM_DIR", directory)
    monkeypatch.setattr(diskspace.sys, "platform", "linux")
    written: list[Path] = []
    real = convert.convert_checkpoint

    def recording(model_dir, output, *args, **kwargs):
        written.append(output)
        return real(model_dir, output, *args, **kwargs)

    monkeypatch.setattr(convert, "convert_checkpoint", recording)
    return Ram(directory, written)


def _manifest(out: Path) -> dict:
    return json.loads(next(out.glob("*.manifest.json")).read_text())


def test_intermediate_in_ram_when_it_fits(checkpoint, ram, tmp_path, monkeypatch):
    monkeypatch.setattr(diskspace, "available_ram", lambda: 64 << 30)
    # The output disk has room for the output only: the intermediate must not be counted against it.
    size = (checkpoint / "model.safetensors").stat().st_size
    monkeypatch.setattr(diskspace, "free_bytes", lambda path: diskspace.MARGIN_BYTES + int(0.85 * size))
    out = tmp_path / "out"
    report = quantize_pipeline(str(checkpoint), "q4_k_m", out)
    [where] = ram.written
    assert where.parent.parent == ram.dir and where.name == "blossom-tiny.intermediate.gguf"
    record = _manifest(out)["intermediate"]
    assert record["location"] == "ram" and record["directory"] == str(where.parent)
    assert 0.9 * size < record["bytes"] <= size + (16 << 20)
    assert report.intermediate_record == record
    assert list(ram.dir.iterdir()) == []
    assert sorted(p.name for p in out.iterdir()) == ["blossom-tiny-Q4_K_M.gguf", "blossom-tiny-Q4_K_M.manifest.json"]


def test_intermediate_on_disk_when_ram_is_short(checkpoint, ram, tmp_path, monkeypatch):
    size = (checkpoint / "model.safetensors").stat().st_size
    monkeypatch.setattr(diskspace, "available_ram", lambda: 2 * size)  # needs size + margin <= 50%
    out = tmp_path / "out"
    quantize_pipeline(str(checkpoint), "q8_0", out)
    assert [p.parent for p in ram.written] == [out]
    assert _manifest(out)["intermediate"]["location"] == "disk"
    assert not list(out.glob("*.intermediate.gguf")) and list(ram.dir.iterdir()) == []


def test_disk_check_counts_the_intermediate_when_it_goes_to_disk(checkpoint, ram, tmp_path, monkeypatch):
    from blossom_edge.base.errors import ResourceError

    size = (checkpoint / "model.safetensors").stat().st_size
    monkeypatch.setattr(diskspace, "available_ram", lambda: 0)
    monkeypatch.setattr(diskspace, "free_bytes", lambda path: diskspace.MARGIN_BYTES + int(0.85 * size))
    with pytest.raises(ResourceError, match="intermediate"):
        quantize_pipeline(str(checkpoint), "q4_k_m", tmp_path / "out")
    assert ram.written == []


def test_keep_intermediate_writes_it_beside_the_output(checkpoint, ram, tmp_path, monkeypatch):
    monkeypatch.setattr(diskspace, "available_ram", lambda: 64 << 30)
    out = tmp_path / "out"
    report = quantize_pipeline(str(checkpoint), "q8_0", out, keep_intermediate=True)
    assert [p.parent for p in ram.written] == [out]
    assert report.intermediate == out / "blossom-tiny-BF16.gguf" and report.intermediate.is_file()
    assert _manifest(out)["intermediate"]["kept"] == str(report.intermediate)


@pytest.mark.parametrize("failure", [ExternalToolError("quantizer broke"), KeyboardInterrupt()])
def test_intermediate_removed_when_quantizing_fails(checkpoint, ram, tmp_path, monkeypatch, failure):
    import blossom_edge.quantize.child as quantize

    monkeypatch.setattr(diskspace, "available_ram", lambda: 64 << 30)
    seen: list[bool] = []

    def failing(src, *args, **kwargs):
        seen.append(Path(src).is_file())
        raise failure

    monkeypatch.setattr(quantize, "quantize_into", failing)
    out = tmp_path / "out"
    with pytest.raises(type(failure)):
        quantize_pipeline(str(checkpoint), "q4_k_m", out)
    assert seen == [True] and ram.written[0].parent.parent == ram.dir
    assert list(ram.dir.iterdir()) == [] and list(out.iterdir()) == []


def test_orphans_of_dead_runs_are_swept(tmp_path, monkeypatch):
    monkeypatch.setattr(diskspace, "RAM_DIR", tmp_path)
    monkeypatch.setattr(diskspace.sys, "platform", "linux")
    monkeypatch.setattr(diskspace, "available_ram", lambda: 64 << 30)
    dead = tmp_path / "blossom-edge-999999999-abc"
    dead.mkdir()
    (dead / "x.intermediate.gguf").write_bytes(b"x")
    placement = diskspace.place_intermediate(1 << 20, tmp_path / "out", keep=False)
    assert placement.in_ram and placement.directory.parent == tmp_path
    assert sorted(tmp_path.iterdir()) == [placement.directory]


def test_intermediate_is_freed_before_verification_loads_the_model(checkpoint, ram, tmp_path, monkeypatch):
    """On a phone the RAM copy and the loaded model must not be resident together."""
    import blossom_edge.quantize.verify as verify

    monkeypatch.setattr(diskspace, "available_ram", lambda: 64 << 30)
    seen: list[bool] = []
    real = verify.verify_gguf

    def watching(*args, **kwargs):
        seen.append(ram.written[0].exists())
        return real(*args, **kwargs)

    monkeypatch.setattr(verify, "verify_gguf", watching)
    quantize_pipeline(str(checkpoint), "q4_k_m", tmp_path / "out")
    assert seen == [False]
