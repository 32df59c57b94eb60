"""Real Hugging Face tokenizer files for tests, built offline.

"full" tokenizers are rebuilt from llama.cpp's vocab-only GGUFs in tests/data/vocab/ (the
real Qwen1.5/Qwen2 byte-level BPE and the real Llama SentencePiece model), laid out as the
hub repositories lay them out, so the HF tokenizer on them is an oracle: it must give the
`.out` ids for the `.inp` strings. "small" ones are really trained: the shipped demo BPE
(blossom_edge/data/demo_tokenizer) and a SentencePiece model trained here on the demo corpus.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import shutil
import struct
from pathlib import Path
from typing import Literal

import gguf

DATA = Path(__file__).resolve().parent.parent / "data"
ROOT = DATA.parent.parent
VOCAB_DIR = DATA / "vocab"
QWEN2_GGUF = VOCAB_DIR / "ggml-vocab-qwen2.gguf"
LLAMA_SPM_GGUF = VOCAB_DIR / "ggml-vocab-llama-spm.gguf"
DEMO_TOKENIZER = ROOT / "blossom_edge" / "data" / "demo_tokenizer"

Kind = Literal["full", "small"]

QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# Qwen1.5-Chat's ChatML template, as in its tokenizer_config.json.
CHATML_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
# Blossom v5 on Yi / Mistral: the same dialogue layout with </s> as eos.
BLOSSOM_SPM_TEMPLATE = (
    "{{- 'A chat between a human and an artificial intelligence bot. The bot gives helpful, "
    "detailed, and polite answers to the human\\'s questions.' -}}"
    "{%- for message in messages -%}{%- if message['role'] == 'user' -%}"
    "{{- '\n|Human|: ' + message['content'] -}}{%- elif message['role'] == 'assistant' -%}"
    "{{- '\n|Bot|: ' + message['content'] + eos_token -}}{%- endif -%}{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '\n|Bot|: ' -}}{%- endif -%}"
)
SPM_SMALL_VOCAB = 3000


def read_vocab_tests(gguf_path: Path) -> list[tuple[str, list[int]]]:
    """llama.cpp's tokenizer test cases: `.inp` strings split on the marker, `.out` ids."""
    raw = gguf_path.with_name(gguf_path.name + ".inp").read_text(encoding="utf-8")
    texts = raw.split("\n__ggml_vocab_test__\n")
    if texts and texts[-1] == "":
        texts.pop()
    lines = gguf_path.with_name(gguf_path.name + ".out").read_text(encoding="utf-8").split("\n")
    ids = [[int(x) for x in line.split()] for line in lines[: len(texts)]]
    assert len(ids) == len(texts), gguf_path
    return list(zip(texts, ids))


def read_gguf_kv(path: Path) -> dict[str, object]:
    """The key/values of a GGUF file, parsed directly.

    gguf.GGUFReader takes ~13 s on the 151k-token Qwen2 vocab (a numpy view per string);
    this reads it in well under a second, which keeps the default test run fast.
    """
    data = memoryview(path.read_bytes())
    scalar = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
              10: "<Q", 11: "<q", 12: "<d"}
    pos = 0

    def take(fmt: str):
        nonlocal pos
        (value,) = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return value

    def string() -> str:
        nonlocal pos
        n = take("<Q")
        pos += n
        return bytes(data[pos - n:pos]).decode("utf-8")

    def value(vtype: int):
        if vtype == 8:
            return string()
        if vtype == 9:
            item_type, count = take("<I"), take("<Q")
            return [value(item_type) for _ in range(count)]
        return take(scalar[vtype])

    assert bytes(data[:4]) == b"GGUF", path
    pos = 4
    take("<I")
    take("<Q")
    n_kv = take("<Q")
    result: dict[str, object] = {}
    for _ in range(n_kv):
        key = string()
        result[key] = value(take("<I"))
    return result


def _gguf_vocab(path: Path) -> tuple[list[str], list[int], list[float] | None, list[str]]:
    kv = read_gguf_kv(path)
    return (kv["tokenizer.ggml.tokens"], kv["tokenizer.ggml.token_type"],  # type: ignore[return-value]
            kv.get("tokenizer.ggml.scores"), kv.get("tokenizer.ggml.merges", []))


def _added(token_id: int, content: str, special: bool = True) -> dict:
    return {"id": token_id, "content": content, "single_word": False, "lstrip": False,
            "rstrip": False, "normalized": False, "special": special}


def write_qwen2_full(model_dir: Path) -> None:
    """Qwen1.5's tokenizer.json + tokenizer_config.json, as published on the hub."""
    model_dir.mkdir(parents=True, exist_ok=True)
    tokens, types, _, merges = _gguf_vocab(QWEN2_GGUF)
    vocab = {t: i for i, (t, ty) in enumerate(zip(tokens, types)) if ty == gguf.TokenType.NORMAL}
    added = [_added(i, t) for i, (t, ty) in enumerate(zip(tokens, types)) if ty == gguf.TokenType.CONTROL]
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    tokenizer = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": QWEN2_SPLIT}, "behavior": "Isolated", "invert": False},
            byte_level,
        ]},
        "post_processor": byte_level,
        "decoder": byte_level,
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False,
                  "vocab": vocab, "merges": merges},
    }
    (model_dir / "tokenizer.json").write_text(json.dumps(tokenizer, ensure_ascii=False), encoding="utf-8")
    config = {
        "add_prefix_space": False,
        "added_tokens_decoder": {str(a["id"]): {k: v for k, v in a.items() if k != "id"} for a in added},
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
        "bos_token": None,
        "chat_template": CHATML_TEMPLATE,
        "clean_up_tokenization_spaces": False,
        "eos_token": "<|im_end|>",
        "errors": "replace",
        "model_max_length": 32768,
        "pad_token": "<|endoftext|>",
        "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer",
        "unk_token": None,
    }
    _write_json(model_dir / "tokenizer_config.json", config)


def write_llama_spm_full(model_dir: Path) -> None:
    """Llama's tokenizer.model (BPE-type SentencePiece, byte fallback) + tokenizer_config.json."""
    tokens, types, scores, _ = _gguf_vocab(LLAMA_SPM_GGUF)
    assert scores is not None
    _write_spm(model_dir, _model_proto(tokens, scores, types).SerializeToString())


def _model_proto(tokens: list[str], scores: list[float], types: list[int]):
    from sentencepiece import sentencepiece_model_pb2 as pb

    proto = pb.ModelProto()
    for token, score, toktype in zip(tokens, scores, types):
        proto.pieces.add(piece=token, score=score, type=toktype)  # gguf.TokenType == SPM's enum
    spec = proto.trainer_spec
    spec.model_type = pb.TrainerSpec.BPE
    spec.vocab_size = len(tokens)
    spec.byte_fallback = True
    spec.unk_id, spec.bos_id, spec.eos_id, spec.pad_id = 0, 1, 2, -1
    norm = proto.normalizer_spec
    norm.name = "identity"
    norm.add_dummy_prefix = True
    norm.remove_extra_whitespaces = False
    norm.escape_whitespaces = True
    return proto


def _write_spm(model_dir: Path, model_bytes: bytes) -> None:
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "tokenizer.model").write_bytes(model_bytes)
    added = {str(i): {k: v for k, v in _added(i, t, special=True).items() if k != "id"}
             for i, t in enumerate(("<unk>", "<s>", "</s>"))}
    config = {
        "add_bos_token": True,
        "add_eos_token": False,
        "added_tokens_decoder": added,
        "bos_token": "<s>",
        "chat_template": BLOSSOM_SPM_TEMPLATE,
        "clean_up_tokenization_spaces": False,
        "eos_token": "</s>",
        "legacy": True,
        "model_max_length": 4096,
        "pad_token": None,
        "sp_model_kwargs": {},
        "tokenizer_class": "LlamaTokenizer",
        "unk_token": "<unk>",
    }
    _write_json(model_dir / "tokenizer_config.json", config)


def demo_corpus() -> list[str]:
    """The bilingual text the demo tokenizer was trained on (scripts/make_demo_tokenizer.py)."""
    spec = importlib.util.spec_from_file_location("make_demo_tokenizer", ROOT / "scripts" / "make_demo_tokenizer.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.corpus()


@functools.cache
def _small_spm_model() -> bytes:
    """A byte-fallback BPE SentencePiece model trained on the demo corpus (~1 s, cached)."""
    import io

    import sentencepiece as spm

    out = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(demo_corpus()), model_writer=out, vocab_size=SPM_SMALL_VOCAB,
        model_type="bpe", byte_fallback=True, character_coverage=0.9995, num_threads=1,
        split_digits=True, allow_whitespace_only_pieces=True, remove_extra_whitespaces=False,
        normalization_rule_name="identity", unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        max_sentence_length=16384, minloglevel=2,
    )
    return out.getvalue()


def write_bpe_tokenizer(model_dir: Path, kind: Kind = "small") -> None:
    """A Qwen2-style byte-level BPE tokenizer with a chat template into `model_dir`."""
    if kind == "full":
        write_qwen2_full(model_dir)
        return
    model_dir.mkdir(parents=True, exist_ok=True)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(DEMO_TOKENIZER / name, model_dir / name)


def write_spm_tokenizer(model_dir: Path, kind: Kind = "small") -> None:
    """A Llama/Yi/Mistral-style SentencePiece tokenizer with a chat template into `model_dir`."""
    if kind == "full":
        write_llama_spm_full(model_dir)
    else:
        _write_spm(model_dir, _small_spm_model())


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def set_chat_template(model_dir: Path, template: str, *, as_file: bool = False, eos: str | None = None) -> None:
    """Give a built checkpoint a chat template: in tokenizer_config.json, or as chat_template.jinja."""
    config_path = model_dir / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
    config.pop("chat_template", None)
    if eos is not None:
        config["eos_token"] = eos
    if as_file:
        (model_dir / "chat_template.jinja").write_text(template, encoding="utf-8")
    else:
        config["chat_template"] = template
    _write_json(config_path, config)
