"""Tiny random-weight "llama" GGUFs for bench and memory tests.

Independent of the converter: the tokenizer is copied from the llama-spm vocab file that
ships with llama.cpp's tests, the weights are seeded noise. Speed and memory depend only on
shapes and tensor types, so noise measures the same as a trained model would.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

VOCAB = Path(__file__).resolve().parent.parent / "data" / "vocab" / "ggml-vocab-llama-spm.gguf"


def _copy_tokenizer(writer, vocab: Path) -> int:
    from gguf import GGUFReader, GGUFValueType

    reader = GGUFReader(vocab)
    n_vocab = 0
    for key, field in reader.fields.items():
        if not key.startswith("tokenizer."):
            continue
        main = field.types[0]
        if main == GGUFValueType.ARRAY:
            sub = field.types[-1]
            if sub == GGUFValueType.STRING:
                value = [bytes(field.parts[i]).decode("utf-8", "replace") for i in field.data]
            else:
                value = [field.parts[i].tolist()[0] for i in field.data]
            if key == "tokenizer.ggml.tokens":
                n_vocab = len(value)
            writer.add_key_value(key, value, main, sub)
        elif main == GGUFValueType.STRING:
            writer.add_key_value(key, bytes(field.parts[field.data[0]]).decode(), main)
        else:
            writer.add_key_value(key, field.parts[field.data[0]].tolist()[0], main)
    return n_vocab


def build_tiny_llama(
    path: Path,
    *,
    n_embd: int = 256,
    n_layer: int = 2,
    n_ff: int = 512,
    n_head: int = 4,
    n_head_kv: int = 2,
    weight_type: str = "Q8_0",
    context_length: int = 2048,
    seed: int = 0,
) -> Path:
    """Write a llama-architecture GGUF with random weights; `weight_type` is F32, F16 or Q8_0."""
    from gguf import GGMLQuantizationType, GGUFWriter
    from gguf.quants import quantize

    rng = np.random.default_rng(seed)
    qtype = GGMLQuantizationType[weight_type]
    writer = GGUFWriter(str(path), "llama")
    writer.add_name(f"tiny-llama-{n_embd}x{n_layer}-{weight_type}")
    writer.add_context_length(context_length)
    writer.add_embedding_length(n_embd)
    writer.add_block_count(n_layer)
    writer.add_feed_forward_length(n_ff)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_head_kv)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(n_embd // n_head)
    writer.add_file_type({"F32": 0, "F16": 1, "Q8_0": 7}[weight_type])
    n_vocab = _copy_tokenizer(writer, VOCAB)
    writer.add_vocab_size(n_vocab)

    def matrix(name: str, rows: int, cols: int) -> None:
        data = (rng.standard_normal((rows, cols), dtype=np.float32) * 0.02).astype(np.float32)
        if qtype == GGMLQuantizationType.F32:
            writer.add_tensor(name, data)
        elif qtype == GGMLQuantizationType.F16:
            writer.add_tensor(name, data.astype(np.float16))
        else:
            writer.add_tensor(name, quantize(data, qtype), raw_dtype=qtype)

    def norm(name: str) -> None:
        writer.add_tensor(name, np.ones(n_embd, dtype=np.float32))

    head_dim = n_embd // n_head
    matrix("token_embd.weight", n_vocab, n_embd)
    for i in range(n_layer):
        norm(f"blk.{i}.attn_norm.weight")
        matrix(f"blk.{i}.attn_q.weight", n_embd, n_embd)
        matrix(f"blk.{i}.attn_k.weight", n_head_kv * head_dim, n_embd)
        matrix(f"blk.{i}.attn_v.weight", n_head_kv * head_dim, n_embd)
        matrix(f"blk.{i}.attn_output.weight", n_embd, n_embd)
        norm(f"blk.{i}.ffn_norm.weight")
        matrix(f"blk.{i}.ffn_gate.weight", n_ff, n_embd)
        matrix(f"blk.{i}.ffn_up.weight", n_ff, n_embd)
        matrix(f"blk.{i}.ffn_down.weight", n_embd, n_ff)
    norm("output_norm.weight")
    matrix("output.weight", n_vocab, n_embd)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def build_metadata_gguf(
    path: Path,
    *,
    arch: str = "llama",
    chat_template: str | None = None,
    tokens: tuple[str, ...] = ("<unk>", "<s>", "</s>", "hello"),
    bos_id: int = 1,
    eos_id: int = 2,
    name: str | None = None,
    uint32s: dict[str, int] | None = None,
) -> Path:
    """A GGUF with a tokenizer and optionally `tokenizer.chat_template`, and no tensors: what Modelfile
    and `ollama create` tests read (name, template, special tokens), at a few hundred bytes.
    `name` is general.name (the file's stem by default); `uint32s` adds keys such as
    `{arch}.nextn_predict_layers`."""
    from gguf import GGUFWriter

    writer = GGUFWriter(str(path), arch)
    writer.add_name(path.stem if name is None else name)
    for key, value in (uint32s or {}).items():
        writer.add_uint32(key.format(arch=arch), value)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(list(tokens))
    writer.add_bos_token_id(bos_id)
    writer.add_eos_token_id(eos_id)
    if chat_template is not None:
        writer.add_chat_template(chat_template)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def build_projector_gguf(path: Path, *, n_embd: int = 32, seed: int = 0) -> Path:
    """A tiny vision projector as llama.cpp's converter heads one (`clip`, general.type mmproj, a vision
    encoder, no text blocks), with one small tensor: what Ollama's create takes as a projector layer.
    Modelfile and `ollama create` tests need its metadata, not a working encoder."""
    from gguf import GGUFType, GGUFWriter

    writer = GGUFWriter(str(path), "clip")
    writer.add_type(GGUFType.MMPROJ)
    writer.add_name(path.stem)
    writer.add_bool("clip.has_vision_encoder", True)
    writer.add_uint32("clip.vision.block_count", 1)
    writer.add_uint32("clip.vision.embedding_length", n_embd)
    writer.add_string("clip.projector_type", "qwen3vl_merger")
    writer.add_tensor("v.patch_embd.weight", np.random.default_rng(seed).standard_normal((n_embd, 4)).astype(np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
