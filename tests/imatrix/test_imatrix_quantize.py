"""`quantize TINY iq2_xs` in one command: the importance matrix computed, kept, recorded, reused, and worth it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from blossom_edge.cli import main
from blossom_edge.imatrix.reader import load_imatrix
from blossom_edge.inputs.gguf_info import read_gguf_info
from blossom_edge.quantize.pipeline import quantize_pipeline


def _uneven_channels(ckpt: Path, seed: int = 3) -> Path:
    """Give every RMSNorm a log-normal spread of channel scales, as trained models have.

    With the builder's near-uniform norms every input column matters alike and an importance
    matrix has nothing to find; with uneven ones, weighing the rounding by it must pay off.
    """
    from safetensors.numpy import load_file, save_file

    rng = np.random.default_rng(seed)
    for shard in ckpt.glob("*.safetensors"):
        tensors = load_file(shard)
        for name, value in tensors.items():
            if name.endswith("norm.weight"):
                tensors[name] = (np.exp(1.5 * rng.standard_normal(value.shape))).astype(value.dtype)
        save_file(tensors, shard, metadata={"format": "pt"})
    return ckpt


@pytest.fixture(scope="module")
def tiny_f16(tmp_path_factory) -> Path:
    from blossom_edge.convert import convert_checkpoint
    from tests.builders.checkpoints import build_checkpoint

    root = tmp_path_factory.mktemp("iq")
    ckpt = _uneven_channels(build_checkpoint(root / "blossom-tiny", "qwen2", hidden=256, layers=2, heads=4,
                                             dtype="float16"))
    (root / "src").mkdir()
    return convert_checkpoint(ckpt, root / "src" / "blossom-tiny-F16.gguf", "f16").path


def _one_line_error(capsys, code: int) -> str:
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1 and err.startswith("blossom-edge: error:"), err
    return err


@pytest.mark.slow
def test_iq2_xs_without_imatrix_computes_one_and_says_so(tiny_f16, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["quantize", str(tiny_f16), "iq2_xs", "-o", str(out), "--json"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert "needs an importance matrix: computing one" in captured.err
    final = Path(data["path"])
    matrix = out / "blossom-tiny.imatrix.gguf"
    assert final.name == "blossom-tiny-IQ2_XS.gguf" and matrix.is_file()
    assert data["generated"]  # verification loaded the file and generated from it
    meta = read_gguf_info(final).metadata
    entries = load_imatrix(matrix)
    assert meta["quantize.imatrix.file"] == matrix.name
    assert meta["quantize.imatrix.dataset"] == "blossom-edge:calibration_zh_en.txt"
    assert meta["quantize.imatrix.chunks_count"] == entries["chunks"] > 1
    assert meta["quantize.imatrix.entries_count"] == len(entries["entries"]) == 14
    assert "IQ2_XS" in read_gguf_info(final).types
    manifest = json.loads((out / "blossom-tiny-IQ2_XS.manifest.json").read_text())
    assert manifest["imatrix"]["made"] == "computed" and manifest["imatrix"]["file"] == str(matrix)
    assert data["imatrix"]["made"] == "computed" and "imatrix" in manifest["timings_seconds"]

    # A second low-bit type of the same model reuses the matrix; the first output stays as it was.
    before = matrix.stat().st_mtime_ns
    assert main(["quantize", str(tiny_f16), "iq2_xxs", "-o", str(out), "--json"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["imatrix"]["made"] == "reused" and matrix.stat().st_mtime_ns == before


def test_imatrix_beside_output_from_another_model_is_not_used(tiny_f16, tmp_path, capsys):
    from blossom_edge.imatrix.collector import Entry
    from blossom_edge.imatrix.writer import write_imatrix

    out = tmp_path / "out"
    out.mkdir()
    write_imatrix(out / "blossom-tiny.imatrix.gguf", {"blk.0.attn_q.weight": Entry(np.ones((1, 256)), np.ones(1))},
                  datasets=["x"], chunks=1, chunk_size=512, provenance={"source": "another model"})
    err = _one_line_error(capsys, main(["quantize", str(tiny_f16), "iq2_xs", "-o", str(out)]))
    assert "blossom-tiny.imatrix.gguf exists but was not made from" in err
    assert sorted(p.name for p in out.iterdir()) == ["blossom-tiny.imatrix.gguf"]


@pytest.mark.parametrize(("qtype", "value", "expected"), [
    ("iq2_xs", "none", "needs an importance matrix"),
    ("q8_0", "auto", "does not use an importance matrix"),
    ("iq2_xs", "missing.imatrix", "no such importance matrix"),
])
def test_imatrix_option_mistakes(tiny_f16, tmp_path, capsys, qtype, value, expected):
    code = main(["quantize", str(tiny_f16), qtype, "--imatrix", value, "-o", str(tmp_path / "o")])
    assert expected in _one_line_error(capsys, code)
    assert not list((tmp_path / "o").glob("*.gguf"))


def _uniform_imatrix(matrix: Path, path: Path) -> Path:
    """The same entries as `matrix`, every column equally important: what no calibration knows."""
    import gguf

    reader = gguf.GGUFReader(matrix)
    writer = gguf.GGUFWriter(str(path), "imatrix")
    writer.add_type("imatrix")
    writer.add_array("imatrix.datasets", ["uniform"])
    writer.add_uint32("imatrix.chunk_count", 1)
    writer.add_uint32("imatrix.chunk_size", 512)
    for t in reader.tensors:
        data = np.asarray(t.data, dtype=np.float32)
        writer.add_tensor(t.name, np.ones_like(data) if t.name.endswith(".in_sum2") else data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.mark.slow
def test_calibrated_iq2_xs_is_closer_to_the_16_bit_model_than_uniform(tiny_f16, tmp_path):
    from blossom_edge.quantize.quality import measure

    calibrated = quantize_pipeline(str(tiny_f16), "iq2_xs", tmp_path / "cal")
    uniform = _uniform_imatrix(tmp_path / "cal" / "blossom-tiny.imatrix.gguf", tmp_path / "uniform.imatrix.gguf")
    flat = quantize_pipeline(str(tiny_f16), "iq2_xs", tmp_path / "flat", imatrix=uniform)
    rows = measure([tiny_f16, calibrated.path, flat.path], threads=2).rows
    cal_kl, flat_kl = rows[1].kl.kld_mean, rows[2].kl.kld_mean
    assert cal_kl < flat_kl * 0.9, (cal_kl, flat_kl)
