"""Our GGUF against llama.cpp's own converter on the same checkpoint: same tensors, bytes and keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from blossom_edge.convert import convert_checkpoint
from tests.builders.checkpoints import build_checkpoint
from tests.builders.llama_cpp_source import llama_cpp_source, run_reference_converter

pytestmark = pytest.mark.slow

# Keys we deliberately write differently: names and provenance come from our catalog and
# source (llama.cpp guesses them from the directory name), and `general.size_label`
# follows from the name heuristics too.
OURS_ONLY_PREFIXES = ("general.name", "general.basename", "general.size_label", "general.finetune",
                      "general.repo_url", "general.source.", "general.base_model.", "general.license",
                      "general.version", "general.organization")


@pytest.fixture(scope="module")
def reference_src() -> Path:
    src = llama_cpp_source()
    if src is None:
        pytest.skip("llama.cpp's converter is not available (no $LLAMA_CPP_SRC and PyPI unreachable)")
    return src


def _read(path: Path) -> tuple[dict, dict]:
    import gguf

    from blossom_edge.gguf_info import _field_value

    reader = gguf.GGUFReader(path)
    keys = {k: _field_value(f) for k, f in reader.fields.items() if not k.startswith("GGUF.")}
    tensors = {t.name: (t.tensor_type.name, [int(d) for d in t.shape], t.data.tobytes()) for t in reader.tensors}
    return keys, tensors


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
    ours = convert_checkpoint(model_dir, tmp_path / "ours.gguf", outtype, progress=False).path
    proc = run_reference_converter(reference_src, model_dir, tmp_path / "ref.gguf", outtype)
    assert proc.returncode == 0, proc.stderr[-2000:]
    our_keys, our_tensors = _read(ours)
    ref_keys, ref_tensors = _read(tmp_path / "ref.gguf")

    assert our_tensors.keys() == ref_tensors.keys()
    for name, (rtype, rshape, rbytes) in ref_tensors.items():
        otype, oshape, obytes = our_tensors[name]
        assert (otype, oshape) == (rtype, rshape), name
        assert obytes == rbytes, f"{name}: bytes differ"

    def comparable(keys: dict) -> dict:
        return {k: v for k, v in keys.items() if not k.startswith(OURS_ONLY_PREFIXES)}

    assert comparable(our_keys) == comparable(ref_keys)
