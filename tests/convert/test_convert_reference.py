"""Our GGUF against llama.cpp's own converter on the same checkpoint: same tensors, bytes and keys."""

from __future__ import annotations

import pytest

from blossom_edge.convert import convert_checkpoint
from tests.builders.checkpoints import build_checkpoint
from tests.builders.gguf_compare import assert_same_gguf
from tests.builders.llama_cpp_source import run_reference_converter

pytestmark = pytest.mark.slow

@pytest.mark.parametrize("arch,dtype,outtype", [
    ("qwen2", "bfloat16", "f16"),
    ("qwen2", "bfloat16", "bf16"),
    ("qwen3", "bfloat16", "q8_0"),
    ("llama", "float16", "f16"),
    ("mistral", "bfloat16", "f32"),
])
def test_same_tensors_bytes_and_keys_as_llama_cpp(reference_src, tmp_path, arch, dtype, outtype):
    # llama.cpp recognises BPE pre-tokenizers only by hashing known vocabularies, so the
    # Qwen cases carry the real Qwen2 vocabulary (it fails on a freshly trained one).
    qwen = arch.startswith("qwen")
    model_dir = build_checkpoint(tmp_path / "ckpt", arch, dtype=dtype, sharded=True, hidden=128 if qwen else 256,
                                 heads=8, kv_heads=8 if qwen else 2, tokenizer="full" if qwen else "small")
    ours = convert_checkpoint(model_dir, tmp_path / "ours.gguf", outtype).path
    proc = run_reference_converter(reference_src, model_dir, tmp_path / "ref.gguf", outtype)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert_same_gguf(ours, tmp_path / "ref.gguf")
