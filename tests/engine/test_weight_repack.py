"""llama.cpp's extra CPU buffer types: off on AMX machines (whose AMX path crashes), on elsewhere, and the
switch really reaching llama.cpp through both the high-level `Llama` and the low-level engine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from blossom_edge.base.errors import UsageError
from blossom_edge.engine import weight_repack
from blossom_edge.native.isolated import run_isolated
from tests import ROOT


@pytest.fixture
def no_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(weight_repack.ENV, raising=False)


@pytest.mark.parametrize(("host", "library", "allowed"),
                         [(False, False, True), (True, False, False), (False, True, False), (True, True, False)])
def test_auto_turns_extra_buffers_off_where_amx_is(no_choice, monkeypatch, host, library, allowed) -> None:
    monkeypatch.setattr(weight_repack, "host_has_amx", lambda: host)
    monkeypatch.setattr(weight_repack, "library_has_amx", lambda: library)
    assert weight_repack.extra_buffers_allowed() is allowed
    assert ("AMX machine" in weight_repack.describe()) is not allowed


@pytest.mark.parametrize(("value", "allowed"), [("on", True), ("ON", True), ("off", False), (" off ", False)])
def test_the_environment_overrides_the_detection(monkeypatch, value: str, allowed: bool) -> None:
    monkeypatch.setattr(weight_repack, "host_has_amx", lambda: True)
    monkeypatch.setenv(weight_repack.ENV, value)
    assert weight_repack.extra_buffers_allowed() is allowed
    assert weight_repack.ENV in weight_repack.describe()


def test_a_wrong_setting_is_one_line(monkeypatch) -> None:
    monkeypatch.setenv(weight_repack.ENV, "sometimes")
    with pytest.raises(UsageError, match="takes auto, on or off"):
        weight_repack.extra_buffers_allowed()


def test_amx_is_read_from_cpuinfo_flags(tmp_path: Path) -> None:
    sapphire = tmp_path / "spr"
    sapphire.write_text("processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum 8481C\n"
                        "flags\t\t: fpu avx2 avx512f amx_bf16 amx_tile amx_int8\n")
    epyc = tmp_path / "epyc"
    epyc.write_text("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx2 avx512f avx512_vnni\n")
    phone = tmp_path / "phone"
    phone.write_text("processor\t: 0\nFeatures\t: fp asimd asimddp i8mm\n")
    assert weight_repack.host_has_amx(sapphire)
    assert not weight_repack.host_has_amx(epyc) and not weight_repack.host_has_amx(phone)
    assert not weight_repack.host_has_amx(tmp_path / "missing")


def test_low_level_loads_carry_the_decision(monkeypatch) -> None:
    import llama_cpp

    for value, expected in (("on", True), ("off", False)):
        monkeypatch.setenv(weight_repack.ENV, value)
        assert weight_repack.apply(llama_cpp.llama_model_default_params()).use_extra_bufts is expected


@pytest.fixture(scope="module")
def q4_0(tmp_path_factory) -> Path:
    from blossom_edge.quantize.child import quantize_gguf
    from blossom_edge.quantize.types import parse_qtype
    from tests.quantize.test_quantize_tiny import write_tiny_gguf

    root = tmp_path_factory.mktemp("repack")
    return quantize_gguf(write_tiny_gguf(root / "tiny-BF16.gguf"), root / "tiny-Q4_0.gguf", parse_qtype("q4_0")).path


def _load_log(model: Path, setting: str) -> str:
    """llama.cpp's own load log for `model` through `open_llama`, with the given setting."""
    code = ("import sys; from blossom_edge.engine.weight_repack import open_llama; "
            "open_llama(model_path=sys.argv[1], n_ctx=64, verbose=True).close()")
    done = subprocess.run([sys.executable, "-c", code, str(model)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, weight_repack.ENV: setting, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stderr


def test_the_setting_reaches_llama_cpp(q4_0: Path) -> None:
    """Q4_0 is repacked on every CPU llama.cpp has kernels for (AVX2, AVX-512, NEON): with the
    switch off no tensor is, and the model sits in plain CPU buffers."""
    import llama_cpp

    if b"REPACK = 1" not in llama_cpp.llama_print_system_info():
        pytest.skip("this llama.cpp build has no repacking kernels (GGML_CPU_REPACK off), so nothing to switch")
    assert "CPU_REPACK model buffer" in _load_log(q4_0, "on")
    assert "CPU_REPACK" not in _load_log(q4_0, "off") and "AMX model buffer" not in _load_log(q4_0, "off")


def _last_logits(model: str, tokens: list[int]) -> np.ndarray:
    """In a child: the logits after `tokens`, through the same load verification uses."""
    from blossom_edge.engine.logits import last_logits
    from blossom_edge.engine.weight_repack import open_llama

    llm = open_llama(model_path=model, n_ctx=64, n_threads=2, verbose=False)
    try:
        llm.eval(tokens)
        return np.array(last_logits(llm, llm.n_vocab()))
    finally:
        llm.close()


@pytest.mark.skipif(not weight_repack.host_has_amx(),
                    reason="needs a CPU with AMX (Sapphire Rapids or later), whose AMX kernels crash on K-quants; "
                           "this CPU has none, so that path cannot run here")
def test_q4_k_m_decodes_on_an_amx_host_as_an_unrepacked_run(monkeypatch, tmp_path: Path) -> None:
    from blossom_edge.quantize.child import quantize_gguf
    from blossom_edge.quantize.types import parse_qtype
    from tests.quantize.test_quantize_tiny import write_tiny_gguf

    model = quantize_gguf(write_tiny_gguf(tmp_path / "tiny-BF16.gguf"), tmp_path / "tiny-Q4_K_M.gguf",
                          parse_qtype("q4_k_m")).path
    tokens = [1, 17, 42, 99, 7, 3, 250, 11]
    monkeypatch.delenv(weight_repack.ENV, raising=False)
    assert not weight_repack.extra_buffers_allowed()
    default = run_isolated("decoding", model, _last_logits, str(model), tokens)
    monkeypatch.setenv(weight_repack.ENV, "off")
    unrepacked = run_isolated("decoding", model, _last_logits, str(model), tokens)
    assert np.isfinite(default).all()
    np.testing.assert_array_equal(default, unrepacked)
