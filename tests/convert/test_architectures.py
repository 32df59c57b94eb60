"""Every architecture past the llama family, held to the same three checks: the same GGUF as
llama.cpp's converter for each output type, f32 logits against transformers, and q4_k_m end to end
through the quantize pipeline (convert, quantize, then load and generate).

One row per architecture says what is particular to it: the conftest.py fixture that builds its
checkpoint, its logit tolerance, and each deliberate difference from the reference, stated and
explained where it is allowed. The checks are the same for every row. What only one architecture
has (its keys, MTP, experts) is tested in its own module (test_glm4.py, test_qwen3_5.py, …).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from blossom_edge.convert import convert_checkpoint
from tests.builders.gguf_compare import assert_same_gguf, read_gguf
from tests.builders.llama_cpp_source import run_reference_converter
from tests.builders.moe_checkpoints import build_qwen3_moe
from tests.builders.new_arch_checkpoints import run_reference_with_pre
from tests.convert.conftest import ACTIVE, EXPERTS, QWEN35_MOE_LAYERS
from tests.convert.test_convert import PROMPT, hf_ids, llama_logits, reference_logits

# Qwen3.5's (dense and MoE) one deliberate key difference: the test vocabulary (llama.cpp's qwen35
# vocab test file) hashes like Qwen2's for the reference's probe text, so the reference names it
# "qwen2"; ours names the split rule in tokenizer.json (\p{M} in letters: llama.cpp's "qwen35"),
# which is what the reference writes for the real Qwen3.5 vocabulary.
PRE_KEY = "tokenizer.ggml.pre"
# The one tensor allowed to differ from the reference, by an ulp at most: ssm_a is
# -torch.exp(A_log), computed by a kernel torch picks for the CPU (vector width, NEON on arm64)
# that is accurate to 1 ulp but not correctly rounded (about 1 % of float32 inputs land an ulp
# off, here). Ours is correctly rounded on every machine (transforms.neg_exp), so the two are at
# most 1 ulp apart (of the output type: F32, as for every 1-D tensor), whichever kernel ran.
SSM_A_ULPS = {r"blk\.\d+\.ssm_a": 1}


def _conditional_generation_logits(model_dir: Path, ids: list[int]) -> np.ndarray:
    """Qwen3.5-MoE's checkpoint is the multimodal one the hub serves, run by its own transformers class."""
    import torch
    import transformers

    model = transformers.Qwen3_5MoeForConditionalGeneration.from_pretrained(model_dir, dtype=torch.float32)
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits[0].numpy()


def _the_checkpoint(model_dir: Path, tmp_path: Path) -> Path:
    return model_dir


def _a_named_copy(model_dir: Path, tmp_path: Path) -> Path:
    return shutil.copytree(model_dir, tmp_path / "blossom-moe-tiny")


def _a_wider_qwen3_moe(model_dir: Path, tmp_path: Path) -> Path:
    """Width 256 so the K-quants really apply to the attention and expert tensors."""
    return build_qwen3_moe(tmp_path / "blossom-moe-tiny", hidden=256, moe_ff=256, heads=4, kv_heads=2,
                           experts=4, active=2, tokenizer="small")


@dataclass(frozen=True)
class Arch:
    fixture: str  # the conftest.py fixture that builds the checkpoint
    gguf_arch: str  # general.architecture of the GGUF
    logit_tolerance: float  # the most any f32 logit may differ from transformers'
    reference_logits: Callable[[Path, list[int]], np.ndarray] = reference_logits
    # GLM-4 only: its test vocabulary is not one llama.cpp's converter knows by hash, so the
    # reference is told the pre-tokenizer name it gives GLM-4's real vocabulary (run_reference_with_pre).
    reference_pre: str | None = None
    # (ours, the reference's) tokenizer.ggml.pre where they deliberately differ (see PRE_KEY).
    pre_key: tuple[str, str] | None = None
    # Tensors allowed to differ from the reference, in ulps (see SSM_A_ULPS); all others byte for byte.
    ulps: Mapping[str, int] | None = None
    reference_tensors: frozenset[str] = frozenset()  # tensors the reference must have written
    keys: Mapping[str, object] = field(default_factory=dict)  # values our GGUF must hold
    quantize_input: Callable[[Path, Path], Path] = _the_checkpoint  # (checkpoint, tmp_path) → what to quantize
    quantize_slow: bool = False
    quantized_types: Mapping[str, str] = field(default_factory=dict)  # tensor → its type in the q4_k_m GGUF


ARCHS = {
    "glm4": Arch(
        "glm4", "glm4",
        # Measured on this tiny random model: max |Δlogit| 6.6e-6 against a logit spread of ≈ 10 (42 tokens).
        logit_tolerance=1e-3,
        reference_pre="glm4"),
    "seed_oss": Arch("seed_oss", "seed_oss", logit_tolerance=1e-3),
    "qwen35": Arch(
        "qwen35", "qwen35",
        # Measured on this tiny random model: max |Δlogit| 2.1e-4 against a logit spread of ≈ 20 (35 tokens);
        # the gated delta net accumulates more float error than attention.
        logit_tolerance=1e-3,
        pre_key=("qwen35", "qwen2"), ulps=SSM_A_ULPS),
    "qwen3moe": Arch(
        "qwen3_moe", "qwen3moe",
        # Routing included: with experts picked the same way, f32 logits agree to 1e-3.
        logit_tolerance=1e-3,
        reference_tensors=frozenset({"blk.1.ffn_gate_exps.weight"}),
        keys={"qwen3moe.expert_count": EXPERTS, "qwen3moe.expert_used_count": ACTIVE},
        quantize_input=_a_wider_qwen3_moe, quantize_slow=True,
        quantized_types={"blk.0.ffn_gate_exps.weight": "Q4_K", "blk.0.ffn_gate_inp.weight": "F32"}),
    "qwen35moe": Arch(
        "qwen35_moe", "qwen35moe",
        # Linear and full attention, routed and shared experts: f32 logits agree to 1e-3.
        logit_tolerance=1e-3,
        reference_logits=_conditional_generation_logits,
        pre_key=("qwen35", "qwen2"), ulps=SSM_A_ULPS,
        # Fused in the main blocks, one per expert in the MTP block (block QWEN35_MOE_LAYERS).
        reference_tensors=frozenset(f"blk.{b}.ffn_{k}_exps.weight" for b in (0, QWEN35_MOE_LAYERS)
                                    for k in ("gate", "up", "down")),
        keys={"qwen35moe.expert_count": EXPERTS, "qwen35moe.expert_used_count": ACTIVE},
        quantize_input=_a_named_copy, quantize_slow=True,
        quantized_types={"blk.0.ffn_gate_inp.weight": "F32"}),
}


def assert_same_as_reference(arch: Arch, src: Path, model_dir: Path, ours: Path, ref: Path, outtype: str) -> None:
    """llama.cpp's converter, run on the same checkpoint, writes the same tensors, bytes and keys as
    ours but for the differences `arch` states, and what `arch` expects of both."""
    if arch.reference_pre is None:
        proc = run_reference_converter(src, model_dir, ref, outtype)
    else:
        proc = run_reference_with_pre(src, model_dir, ref, outtype, arch.reference_pre)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ignore_keys = () if arch.pre_key is None else (PRE_KEY,)
    our_keys, ref_keys = assert_same_gguf(ours, ref, ignore_keys=ignore_keys, ulps=arch.ulps)
    if arch.pre_key is not None:
        assert our_keys[PRE_KEY] == arch.pre_key[0] and ref_keys[PRE_KEY] == arch.pre_key[1]
    if arch.reference_tensors:
        assert arch.reference_tensors <= read_gguf(ref)[1].keys()
    assert {key: our_keys[key] for key in arch.keys} == dict(arch.keys)


@pytest.mark.slow
@pytest.mark.parametrize("outtype", ["f16", "bf16", "q8_0"])
@pytest.mark.parametrize("name", ARCHS)
def test_same_gguf_as_llama_cpp(reference_src, request, tmp_path, name, outtype):
    arch = ARCHS[name]
    model_dir = request.getfixturevalue(arch.fixture)
    ours = convert_checkpoint(model_dir, tmp_path / "ours.gguf", outtype).path
    assert_same_as_reference(arch, reference_src, model_dir, ours, tmp_path / "ref.gguf", outtype)


@pytest.mark.parametrize("name", ARCHS)
def test_f32_logits_match_transformers(request, tmp_path, name):
    arch = ARCHS[name]
    model_dir = request.getfixturevalue(arch.fixture)
    out = convert_checkpoint(model_dir, tmp_path / "m.gguf", "f32").path
    ids = hf_ids(model_dir, PROMPT)
    assert len(ids) > 10
    ref, got = arch.reference_logits(model_dir, ids), llama_logits(out, ids)
    assert got.shape == ref.shape
    assert (got.argmax(-1) == ref.argmax(-1)).all()
    assert np.abs(got - ref).max() < arch.logit_tolerance


@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.slow) if arch.quantize_slow else name
                                  for name, arch in ARCHS.items()])
def test_quantize_q4_k_m_end_to_end(request, tmp_path, name):
    """Convert, quantize and verify (load and generate) through the pipeline."""
    from blossom_edge.inputs.gguf_info import read_gguf_info
    from blossom_edge.quantize.pipeline import quantize_pipeline

    arch = ARCHS[name]
    model_dir = arch.quantize_input(request.getfixturevalue(arch.fixture), tmp_path)
    # The text model is what this matrix checks; a vision tower's projector is test_quantize_projector.py's.
    report = quantize_pipeline(str(model_dir), "q4_k_m", tmp_path / "out", mmproj=False)
    assert report.path.is_file()
    assert report.verification is not None and report.verification.tokens
    info = read_gguf_info(report.path)
    assert info.architecture == arch.gguf_arch
    assert {tensor: info.tensor_types[tensor] for tensor in arch.quantized_types} == dict(arch.quantized_types)
