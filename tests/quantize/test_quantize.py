"""quantize: the type table, llama.cpp's quantizer in a child, verification, and one-line failures."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from blossom_edge.base.errors import ExternalToolError, UsageError
from blossom_edge.cli import main
from blossom_edge.inputs.gguf_info import read_gguf_info
from blossom_edge.model.naming import gguf_name
from blossom_edge.quantize.child import quantize_gguf
from blossom_edge.quantize.pipeline import quantize_pipeline
from blossom_edge.quantize.types import QUANT_TYPES, parse_qtype
from tests.quantize.test_quantize_tiny import write_tiny_gguf


@pytest.fixture(scope="module")
def tiny_bf16(tmp_path_factory) -> Path:
    return write_tiny_gguf(tmp_path_factory.mktemp("src") / "tiny-BF16.gguf")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _one_line_error(capsys, code: int, expected: int | None = None) -> str:
    err = capsys.readouterr().err.strip()
    assert code != 0 and (expected is None or code == expected)
    assert len(err.splitlines()) == 1 and err.startswith("blossom-edge: error:"), err
    return err


def test_qtypes_case_insensitive_and_aliases():
    assert parse_qtype("q4_k_m").name == "Q4_K_M"
    assert parse_qtype("Q4_K").name == "Q4_K_M"
    assert parse_qtype("bf16").ftype == 32
    required = ("q4_0 q4_1 q5_0 q5_1 q8_0 q2_k q3_k_s q3_k_m q3_k_l q4_k_s q4_k_m q5_k_s q5_k_m q6_k iq1_s "
                "iq1_m iq2_xxs iq2_xs iq2_s iq2_m iq3_xxs iq3_xs iq3_s iq3_m iq4_nl iq4_xs tq1_0 tq2_0 bf16 f16")
    for name in required.split():
        assert parse_qtype(name).name == name.upper()


def test_ftypes_match_llama_cpp():
    import llama_cpp

    for q in QUANT_TYPES:
        const = "LLAMA_FTYPE_ALL_F32" if q.name == "F32" else f"LLAMA_FTYPE_MOSTLY_{q.alias_of or q.name}"
        if hasattr(llama_cpp, const):
            assert getattr(llama_cpp, const) == q.ftype, q.name


def test_unknown_qtype_lists_and_suggests(capsys, tmp_path):
    with pytest.raises(UsageError) as exc:
        parse_qtype("q4km")
    assert "did you mean q4_k_m" in str(exc.value) and "q8_0 8.51" in str(exc.value)
    err = _one_line_error(capsys, main(["quantize", "whatever.gguf", "q4kk", "-o", str(tmp_path)]), 2)
    assert "unknown quant type" in err
    assert list(tmp_path.iterdir()) == []


def test_imatrix_type_refused_without_any_imatrix(capsys, tiny_bf16, tmp_path):
    err = _one_line_error(capsys, main(["quantize", str(tiny_bf16), "iq2_xxs", "--imatrix", "none", "-o",
                                        str(tmp_path)]), 2)
    assert "needs an importance matrix" in err and "--imatrix auto" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content", [b"GGUF\x03\x00\x00\x00garbage", b"\x07\x00\x00\x00short"])
def test_damaged_imatrix_is_one_line_before_any_work(capsys, tiny_bf16, tmp_path, content):
    imatrix = tmp_path / "bad.imatrix"
    imatrix.write_bytes(content)
    out = tmp_path / "out"
    out.mkdir()
    code = main(["quantize", str(tiny_bf16), "iq2_xxs", "--imatrix", str(imatrix), "-o", str(out)])
    err = _one_line_error(capsys, code, 1)
    assert "importance matrix" in err and "llama.cpp" not in err
    assert list(out.iterdir()) == []


def test_output_names_follow_published_convention():
    assert gguf_name("blossom-v5-4b-BF16", parse_qtype("q4_k_m").name) == "blossom-v5-4b-Q4_K_M.gguf"
    assert gguf_name("Blossom-V6-7B", parse_qtype("iq4_xs").name) == "blossom-v6-7b-IQ4_XS.gguf"


@pytest.mark.parametrize("make", ["not_gguf", "truncated"])
def test_bad_gguf_input(capsys, tiny_bf16, tmp_path, make):
    bad = tmp_path / "in" / "bad.gguf"
    bad.parent.mkdir()
    if make == "not_gguf":
        bad.write_text("this is not a model\n")
    else:
        bad.write_bytes(tiny_bf16.read_bytes()[: tiny_bf16.stat().st_size // 2])
    out = tmp_path / "out"
    err = _one_line_error(capsys, main(["quantize", str(bad), "q4_0", "-o", str(out)]))
    assert ("not a GGUF" in err) if make == "not_gguf" else ("truncated" in err)
    assert list(out.iterdir()) == []


def test_not_enough_disk(capsys, tiny_bf16, tmp_path, monkeypatch):
    import blossom_edge.base.diskspace as diskspace

    monkeypatch.setattr(diskspace, "free_bytes", lambda path: 10 << 20)
    err = _one_line_error(capsys, main(["quantize", str(tiny_bf16), "q8_0", "-o", str(tmp_path)]))
    assert "not enough free disk space" in err and "10.0 MiB free" in err
    assert list(tmp_path.iterdir()) == []


def test_read_only_output_dir(capsys, tiny_bf16, tmp_path, monkeypatch):
    # As root chmod does not stop writes; a probe that fails stands in for a read-only mount.
    out = tmp_path / "ro"
    out.mkdir()
    real_touch = Path.touch

    def touch(self, *args, **kwargs):
        if self.parent == out:
            raise OSError(30, "Read-only file system", str(self))
        return real_touch(self, *args, **kwargs)

    monkeypatch.setattr(Path, "touch", touch)
    err = _one_line_error(capsys, main(["quantize", str(tiny_bf16), "q8_0", "-o", str(out)]))
    assert "cannot write to" in err and "Read-only" in err
    assert list(out.iterdir()) == []


def test_offline_hub_alias(capsys, tmp_path, monkeypatch):
    import blossom_edge.base.diskspace as diskspace

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr(diskspace, "free_bytes", lambda path: 1 << 50)
    out = tmp_path / "out"
    err = _one_line_error(capsys, main(["quantize", "4b", "q4_k_m", "-o", str(out)]))
    assert "offline" in err
    assert list(out.iterdir()) == []


def test_quantizer_abort_is_one_line_and_leaves_nothing(tiny_bf16, tmp_path, monkeypatch):
    import blossom_edge.quantize.child as quantize

    real_popen = subprocess.Popen

    def aborting(cmd, **kwargs):
        out = json.loads(cmd[-1])["output"]
        code = f"open({out!r}, 'wb').write(b'half'); print('GGML_ASSERT(x) failed', flush=True); import os; os.abort()"
        return real_popen([sys.executable, "-c", code], **kwargs)

    monkeypatch.setattr(quantize.subprocess, "Popen", aborting)
    with pytest.raises(ExternalToolError, match=r"killed by signal 6 .*GGML_ASSERT"):
        quantize_gguf(tiny_bf16, tmp_path / "x-Q4_0.gguf", parse_qtype("q4_0"))
    assert list(tmp_path.iterdir()) == []


EXPECTED = {
    "q4_0": {"F32": 11, "Q4_0": 15, "Q6_K": 1},
    "q8_0": {"F32": 11, "Q8_0": 16},
    "q4_k_m": {"F32": 11, "Q4_K": 13, "Q6_K": 3},
    "q6_k": {"F32": 11, "Q6_K": 16},
    "bf16": {"F32": 11, "BF16": 16},
}


@pytest.mark.parametrize("qtype", list(EXPECTED))
def test_quantize_loads_generates_and_is_reproducible(tiny_bf16, tmp_path, qtype):
    report = quantize_pipeline(str(tiny_bf16), qtype, tmp_path / "a")
    assert report.path.name == f"tiny-{qtype.upper()}.gguf"
    assert len(report.verification.tokens) == 8
    assert read_gguf_info(report.path).type_histogram() == EXPECTED[qtype]
    manifest = json.loads(report.path.with_name(f"tiny-{qtype.upper()}.manifest.json").read_text())
    assert manifest["sha256"] == _sha(report.path) and manifest["qtype"] == qtype.upper()
    assert set(manifest["timings_seconds"]) >= {"quantize", "verify", "total"}
    assert manifest["tools"]["llama_cpp_python"]
    again = quantize_pipeline(str(tiny_bf16), qtype, tmp_path / "b")
    assert _sha(again.path) == _sha(report.path)
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [report.path.name, manifest["file"].replace(".gguf", ".manifest.json")]


def test_same_bytes_as_llama_cpp_called_directly(tiny_bf16, tmp_path):
    ours = quantize_gguf(tiny_bf16, tmp_path / "ours.gguf", parse_qtype("q4_k_m"), threads=2)
    direct = tmp_path / "direct.gguf"
    code = textwrap.dedent(f"""
        import ctypes, llama_cpp
        llama_cpp.llama_backend_init()
        p = llama_cpp.llama_model_quantize_default_params()
        p.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M
        p.nthread = 1
        assert llama_cpp.llama_model_quantize({str(tiny_bf16)!r}.encode(), {str(direct)!r}.encode(), ctypes.byref(p)) == 0
    """)
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    assert _sha(ours.path) == _sha(direct)
    assert read_gguf_info(ours.path).tensor_types == ours.chosen_types


def test_type_mismatch_is_caught(tiny_bf16, tmp_path):
    from blossom_edge.quantize.verify import check_types

    info = read_gguf_info(tiny_bf16)
    with pytest.raises(ExternalToolError, match="does not hold what the quantizer reported"):
        check_types(info, {"output.weight": "Q6_K"})


def _write_imatrix(model: Path, path: Path) -> None:
    import gguf
    import numpy as np

    info = read_gguf_info(model)
    writer = gguf.GGUFWriter(str(path), "imatrix")
    writer.add_string("general.type", "imatrix")
    writer.add_array("imatrix.datasets", ["tiny.txt"])
    writer.add_uint32("imatrix.chunk_count", 4)
    writer.add_uint32("imatrix.chunk_size", 64)
    rng = np.random.default_rng(1)
    for name, tensor_type in info.tensor_types.items():
        if name.endswith(".weight") and tensor_type == "BF16":
            width = 512 if "ffn_down" in name else 256
            writer.add_tensor(f"{name}.in_sum2", (rng.random((1, width)) * 256 + 1).astype(np.float32))
            writer.add_tensor(f"{name}.counts", np.array([[256.0]], dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_imatrix_type_with_imatrix(tiny_bf16, tmp_path):
    imatrix = tmp_path / "tiny.imatrix.gguf"
    _write_imatrix(tiny_bf16, imatrix)
    report = quantize_pipeline(str(tiny_bf16), "iq2_xxs", tmp_path / "out", imatrix=imatrix)
    info = read_gguf_info(report.path)
    assert "IQ2_XXS" in info.types
    assert info.metadata["quantize.imatrix.file"] == "tiny.imatrix.gguf"
    manifest = json.loads(report.path.with_name("tiny-IQ2_XXS.manifest.json").read_text())
    assert manifest["imatrix"]["sha256"] == _sha(imatrix)


def test_cli_json(tiny_bf16, tmp_path, capsys):
    assert main(["quantize", str(tiny_bf16), "Q8_0", "-o", str(tmp_path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["qtype"] == "Q8_0" and data["tensor_types"] == EXPECTED["q8_0"]
    assert Path(data["path"]).is_file() and Path(data["manifest"]).is_file()
    assert data["intermediate_record"] is None  # a GGUF source is quantized directly


@pytest.mark.slow
def test_hf_directory_same_bytes_as_convert_then_quantize(tmp_path):
    from blossom_edge.convert import convert_checkpoint
    from tests.builders.checkpoints import build_checkpoint

    ckpt = build_checkpoint(tmp_path / "blossom-tiny", "qwen2", hidden=256, layers=2, dtype="bfloat16")
    report = quantize_pipeline(str(ckpt), "q4_k_m", tmp_path / "direct")
    assert report.path.name == "blossom-tiny-Q4_K_M.gguf" and "convert" in report.timings
    assert sorted(p.name for p in (tmp_path / "direct").iterdir()) == [
        "blossom-tiny-Q4_K_M.gguf", "blossom-tiny-Q4_K_M.manifest.json"]
    manifest = json.loads((tmp_path / "direct" / "blossom-tiny-Q4_K_M.manifest.json").read_text())
    assert manifest["intermediate_type"] == "bf16" and manifest["source"]["path"] == str(ckpt.resolve())

    (tmp_path / "two").mkdir()
    bf16 = convert_checkpoint(ckpt, tmp_path / "two" / "blossom-tiny-BF16.gguf", "bf16")
    two = quantize_gguf(bf16.path, tmp_path / "two" / "q.gguf", parse_qtype("q4_k_m"))
    assert _sha(two.path) == _sha(report.path)

    kept = quantize_pipeline(str(ckpt), "q8_0", tmp_path / "keep", keep_intermediate=True)
    assert kept.intermediate == tmp_path / "keep" / "blossom-tiny-BF16.gguf" and kept.intermediate.is_file()
