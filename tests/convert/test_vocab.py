"""The tokenizer half of the converter: llama.cpp must tokenize exactly like Hugging Face.

Oracles: llama.cpp's own test vectors (tests/data/vocab/*.inp/.out) and the original
tokenizer libraries (`tokenizers` for tokenizer.json, `sentencepiece` for tokenizer.model,
which is what the Llama/Yi/Mistral HF "slow" tokenizers run), and, in the slow tests,
llama.cpp's reference converter itself.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from hashlib import sha256
from pathlib import Path

import gguf
import pytest

from blossom_edge.base import errors
from blossom_edge.convert.vocab import Vocab, bpe_pre_tokenizer, load_vocab, write_vocab
from blossom_edge.model.catalog import BLOSSOM_V5_SYSTEM, ChatFormat
from tests.builders import tokenizers as tb

EXTRA_TEXTS = [
    "你好，世界！今天天气怎么样？",
    "Blossom 是一个中英双语模型，支持 GGUF 格式。",
    "The quick brown fox jumps over the lazy dog. I'll be there, won't you?",
    "def add(a, b):\n    return a + b  # 加法\n\n\tprint(add(1, 2))\n",
    "emoji: 🌸🚀 😶\u200d🌫️ 👍🏽 🦙🦙 ✅ ❤️",
    "  leading spaces and   runs\n\n\n  of whitespace\t\t",
    "numbers 3.14159 1,000,000 12345678 ２０２４年",
    "<|im_start|>user\n你好<|im_end|>",
    "",
]

QWEN_CONFIG = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 64,
               "intermediate_size": 128, "num_hidden_layers": 1, "num_attention_heads": 4,
               "num_key_value_heads": 2, "max_position_embeddings": 4096, "rms_norm_eps": 1e-6,
               "rope_theta": 1000000.0, "tie_word_embeddings": True}
LLAMA_CONFIG = {**QWEN_CONFIG, "architectures": ["LlamaForCausalLM"], "model_type": "llama"}


def _model_dir(path: Path, kind: str, size: str, vocab_size: int | None = None) -> Path:
    """A tokenizer plus the config.json a real checkpoint has (special ids live there too)."""
    if kind == "bpe":
        tb.write_bpe_tokenizer(path, size)  # type: ignore[arg-type]
        tokenizer = json.loads((path / "tokenizer.json").read_text(encoding="utf-8"))
        ids = {a["content"]: a["id"] for a in tokenizer["added_tokens"]}
        config = {**QWEN_CONFIG, "bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"]}
        n = max(ids.values()) + 1
    else:
        tb.write_spm_tokenizer(path, size)  # type: ignore[arg-type]
        config = {**LLAMA_CONFIG, "bos_token_id": 1, "eos_token_id": 2}
        n = _spm(path).vocab_size()
    config["vocab_size"] = vocab_size or n
    (path / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return path


def _spm(model_dir: Path):
    import sentencepiece

    return sentencepiece.SentencePieceProcessor(model_file=str(model_dir / "tokenizer.model"))


def _hf_encoder(model_dir: Path):
    """The original tokenizer's encode(text) without special-token decoration."""
    if (model_dir / "tokenizer.model").is_file():
        processor = _spm(model_dir)
        return processor.encode
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    return lambda text: tokenizer.encode(text, add_special_tokens=False).ids


def _write_gguf(model_dir: Path, out: Path, arch: str, space_prefix_key: bool | None = None) -> Vocab:
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    vocab = load_vocab(model_dir, config.get("vocab_size"), space_prefix_key=space_prefix_key)
    writer = gguf.GGUFWriter(out, arch)
    write_vocab(writer, vocab)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return vocab


def _llama(path: Path):
    import llama_cpp

    return llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)


def _tokenize(llm, text: str, special: bool = False) -> list[int]:
    return llm.tokenize(text.encode("utf-8"), add_bos=False, special=special)


def _tokenizer_kv(path: Path) -> dict[str, object]:
    return {k: v for k, v in tb.read_gguf_kv(path).items() if k.startswith("tokenizer.")}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, tuple[Path, Path, Vocab]]:
    """Every tokenizer kind, converted once: name -> (model dir, our GGUF, Vocab)."""
    root = tmp_path_factory.mktemp("vocab")
    result = {}
    # Qwen1.5's config.json: 151,936 embedding rows for 151,646 tokens.
    for kind, size, arch, vocab_size in (("bpe", "full", "qwen2", 151936), ("spm", "full", "llama", None),
                                         ("bpe", "small", "qwen2", None), ("spm", "small", "llama", None)):
        name = f"{kind}-{size}"
        model_dir = _model_dir(root / name, kind, size, vocab_size)
        out = root / f"{name}.gguf"
        result[name] = (model_dir, out, _write_gguf(model_dir, out, arch))
    return result


# --- the builders are faithful ------------------------------------------------------------


@pytest.mark.parametrize("name, reference", [("bpe-full", tb.QWEN2_GGUF), ("spm-full", tb.LLAMA_SPM_GGUF)])
def test_built_hf_tokenizer_reproduces_llamacpp_test_vectors(built, name, reference):
    encode = _hf_encoder(built[name][0])
    cases = tb.read_vocab_tests(reference)
    assert len(cases) > 30
    assert [encode(text) for text, _ in cases] == [ids for _, ids in cases]


# --- parity: llama.cpp on our GGUF tokenizes like the HF tokenizer ------------------------


@pytest.mark.parametrize("name, reference", [("bpe-full", tb.QWEN2_GGUF), ("spm-full", tb.LLAMA_SPM_GGUF)])
def test_llamacpp_on_converted_full_vocab_matches_test_vectors(built, name, reference):
    llm = _llama(built[name][1])
    cases = tb.read_vocab_tests(reference)
    assert [_tokenize(llm, text) for text, _ in cases] == [ids for _, ids in cases]


@pytest.mark.parametrize("name", ["bpe-full", "spm-full", "bpe-small", "spm-small"])
def test_llamacpp_matches_hf_on_chinese_english_code_emoji(built, name):
    model_dir, out, _ = built[name]
    llm, encode = _llama(out), _hf_encoder(model_dir)
    texts = EXTRA_TEXTS + [text for text, _ in tb.read_vocab_tests(tb.QWEN2_GGUF)]
    # The HF tokenizers match added tokens in the text, llama.cpp only when asked to.
    mismatches = [(t, encode(t)) for t in texts if encode(t) != _tokenize(llm, t, special=True)]
    assert not mismatches


def test_small_tokenizers_really_split_into_subwords(built):
    """A byte-per-token "tokenizer" would pass parity trivially; these must merge."""
    for name in ("bpe-small", "spm-small"):
        model_dir, _, vocab = built[name]
        text = "这个模型可以离线运行。The model runs offline."
        assert len(_hf_encoder(model_dir)(text)) < len(text.encode("utf-8")) / 2, name
        assert 2000 <= len(vocab) <= 8000


def test_special_tokens_are_control_and_tokenize_as_one_with_special(built):
    _, out, vocab = built["bpe-full"]
    im_start = vocab.tokens.index("<|im_start|>")
    assert vocab.toktypes[im_start] == gguf.TokenType.CONTROL
    llm = _llama(out)
    assert llm.tokenize(b"<|im_start|>", add_bos=False, special=True) == [im_start]


# --- keys and values are llama.cpp's --------------------------------------------------------


def test_converted_qwen2_vocab_equals_llamacpps_own_gguf(built):
    """The real Qwen vocab has 151,646 tokens in a 151,936-row embedding: padding included."""
    ours = _tokenizer_kv(built["bpe-full"][1])
    theirs = _tokenizer_kv(tb.QWEN2_GGUF)
    for key in ("tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens",
                "tokenizer.ggml.merges", "tokenizer.ggml.padding_token_id", "tokenizer.chat_template"):
        assert ours[key] == theirs[key], key
    assert ours["tokenizer.ggml.tokens"][151646] == "[PAD151646]"  # type: ignore[index]
    # That file's older converter typed padding USER_DEFINED; today's writes UNUSED, as we do
    # (the slow test compares with today's converter).
    types = ours["tokenizer.ggml.token_type"]
    assert types[:151646] == theirs["tokenizer.ggml.token_type"][:151646]  # type: ignore[index]
    assert set(types[151646:]) == {gguf.TokenType.UNUSED}  # type: ignore[index]
    assert ours["tokenizer.ggml.eos_token_id"] == 151645  # tokenizer_config's <|im_end|> wins
    assert ours["tokenizer.ggml.bos_token_id"] == 151643  # from config.json
    assert ours["tokenizer.ggml.add_bos_token"] is False  # ByteLevel post-processor adds nothing
    assert ours["tokenizer.ggml.add_eos_token"] is False


def test_converted_llama_spm_vocab_equals_llamacpps_own_gguf(built):
    ours = _tokenizer_kv(built["spm-full"][1])
    theirs = _tokenizer_kv(tb.LLAMA_SPM_GGUF)
    for key in ("tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens",
                "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                "tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token"):
        assert ours[key] == theirs[key], key
    # That file predates the converter reading tokenizer_config.json's added_tokens_decoder,
    # which today turns <unk>, <s>, </s> into CONTROL tokens scored -1000 (we do the same;
    # the slow test checks it against the current converter). Every other piece must agree.
    for key in ("tokenizer.ggml.scores", "tokenizer.ggml.token_type"):
        assert ours[key][3:] == theirs[key][3:], key  # type: ignore[index]
    assert ours["tokenizer.ggml.token_type"][:3] == [gguf.TokenType.CONTROL] * 3
    assert ours["tokenizer.ggml.scores"][:3] == [-1000.0] * 3


@pytest.mark.parametrize("kind", ["bpe", "spm"])
def test_padding_to_config_vocab_size(tmp_path, kind):
    plain = load_vocab(_model_dir(tmp_path / "a", kind, "small"), None)
    extra = 37
    padded = load_vocab(_model_dir(tmp_path / "b", kind, "small"), len(plain) + extra)
    assert len(padded) == len(plain) + extra
    assert padded.tokens[: len(plain)] == plain.tokens
    assert padded.tokens[len(plain):] == [f"[PAD{i}]" for i in range(len(plain), len(plain) + extra)]
    assert set(padded.toktypes[len(plain):]) == {gguf.TokenType.UNUSED}
    if kind == "spm":
        assert padded.scores is not None and set(padded.scores[len(plain):]) == {-10000.0}
    else:
        assert padded.scores is None


def test_tokenizer_larger_than_config_vocab_is_refused(tmp_path):
    model_dir = _model_dir(tmp_path, "bpe", "small")
    with pytest.raises(errors.UnsupportedError, match="vocab_size"):
        load_vocab(model_dir, 100)


def test_space_prefix_key_follows_the_reference_model_class(tmp_path):
    model_dir = _model_dir(tmp_path, "spm", "small")
    config = json.loads((model_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
    config["add_prefix_space"] = False
    (model_dir / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    assert load_vocab(model_dir, None, space_prefix_key=True).add_space_prefix is False
    assert load_vocab(model_dir, None, space_prefix_key=False).add_space_prefix is None
    bpe = _model_dir(tmp_path / "bpe", "bpe", "small")  # Qwen's config has add_prefix_space: false
    assert load_vocab(bpe, None).add_space_prefix is None
    assert load_vocab(bpe, None, space_prefix_key=False).add_space_prefix is None


# --- pre-tokenizer decided from its definition --------------------------------------------


def _split_then_byte_level(regex: str) -> dict:
    return {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
    ]}


def test_pre_tokenizer_names():
    llama3 = tb.QWEN2_SPLIT.replace(r"\p{N}|", r"\p{N}{1,3}|")
    assert bpe_pre_tokenizer(_split_then_byte_level(tb.QWEN2_SPLIT), Path("t")) == "qwen2"
    assert bpe_pre_tokenizer(_split_then_byte_level(llama3), Path("t")) == "llama-bpe"
    assert bpe_pre_tokenizer({"type": "ByteLevel", "add_prefix_space": False}, Path("t")) == "gpt-2"


@pytest.mark.parametrize("definition", [
    None,
    {"type": "Metaspace", "replacement": "▁"},
    _split_then_byte_level(r"\s+|\w+"),
    {**_split_then_byte_level(tb.QWEN2_SPLIT), "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": tb.QWEN2_SPLIT}, "behavior": "Removed", "invert": False},
        {"type": "ByteLevel", "use_regex": False}]},
    {"type": "Sequence", "pretokenizers": [{"type": "Digits"}, {"type": "ByteLevel"}]},
])
def test_unknown_pre_tokenizers_are_refused_not_guessed(definition):
    with pytest.raises(errors.UnsupportedError, match="pre-tokenizer"):
        bpe_pre_tokenizer(definition, Path("tokenizer.json"), "qwen2")


def test_pre_tokenizer_name_agrees_with_the_reference_hash_table(reference_src, built):
    """Cross-check: llama.cpp's converter names this vocab by hashing its probe-string ids."""
    text = (reference_src / "conversion" / "base.py").read_text(encoding="utf-8")
    probe = re.search(r"chktxt = ('.*')\n", text)
    assert probe is not None
    ids = _hf_encoder(built["bpe-full"][0])(ast.literal_eval(probe.group(1)))
    digest = sha256(str(ids).encode()).hexdigest()
    named = re.search(rf'chkhsh == "{digest}":\n\s*#[^\n]*\n\s*res = "([^"]+)"', text)
    assert named is not None, digest
    assert named.group(1) == built["bpe-full"][2].pre == "qwen2"


# --- bad inputs: one clear line -----------------------------------------------------------


def _one_line(exc: BaseException) -> str:
    line = errors.one_line(exc)
    assert line is not None, "not a user error: would show a traceback"
    assert "\n" not in line[0]
    return line[0]


def test_no_tokenizer_files(tmp_path):
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(errors.NotFoundError) as info:
        load_vocab(tmp_path, 10)
    assert "tokenizer.json" in _one_line(info.value) and str(tmp_path) in _one_line(info.value)


def test_missing_model_dir(tmp_path):
    with pytest.raises(errors.NotFoundError):
        load_vocab(tmp_path / "nope", None)


@pytest.mark.parametrize("content, error", [
    ('{"model": {"type": "BPE", "vocab": {', errors.CorruptFileError),
    ("[1, 2, 3]", errors.CorruptFileError),
    ('{"version": "1.0"}', errors.CorruptFileError),
    ('{"model": {"type": "BPE", "vocab": {"a": "zero"}, "merges": []}, "decoder": {"type": "ByteLevel"}}',
     errors.CorruptFileError),
    ('{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "decoder": {"type": "ByteLevel"},'
     '"pre_tokenizer": {"type": "ByteLevel"}}', errors.CorruptFileError),
    ('{"model": {"type": "Unigram", "vocab": {}}}', errors.UnsupportedError),
    ('{"model": {"type": "BPE", "vocab": {"a": 0}, "byte_fallback": true}, "decoder": {"type": "Sequence"}}',
     errors.UnsupportedError),
])
def test_malformed_tokenizer_json(tmp_path, content, error):
    (tmp_path / "tokenizer.json").write_text(content, encoding="utf-8")
    with pytest.raises(error) as info:
        load_vocab(tmp_path, None)
    assert "tokenizer.json" in _one_line(info.value)


def test_malformed_tokenizer_config_and_model(tmp_path):
    model_dir = _model_dir(tmp_path / "bpe", "bpe", "small")
    (model_dir / "tokenizer_config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(errors.CorruptFileError, match="tokenizer_config.json"):
        load_vocab(model_dir, None)
    spm_dir = tmp_path / "spm"
    spm_dir.mkdir()
    (spm_dir / "tokenizer.model").write_bytes(b"\x0a\x05trunc")
    with pytest.raises(errors.CorruptFileError) as info:
        load_vocab(spm_dir, None)
    assert "tokenizer.model" in _one_line(info.value)


# --- the shipped demo tokenizer -------------------------------------------------------------


def test_demo_tokenizer_is_reproducible_small_and_qwen_shaped(tmp_path):
    subprocess.run([sys.executable, str(tb.ROOT / "scripts" / "make_demo_tokenizer.py"), "--out", str(tmp_path)],
                   check=True, env={**os.environ, "PYTHONPATH": str(tb.ROOT)})
    for name in ("tokenizer.json", "tokenizer_config.json"):
        assert (tmp_path / name).read_bytes() == (tb.DEMO_TOKENIZER / name).read_bytes(), name
    assert sum(p.stat().st_size for p in tb.DEMO_TOKENIZER.iterdir()) < 500_000
    vocab = load_vocab(tb.DEMO_TOKENIZER, None, space_prefix_key=False)
    assert (vocab.model, vocab.pre) == ("gpt2", "qwen2")
    assert 4000 <= len(vocab) <= 8000
    assert vocab.tokens[-3:] == ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    assert vocab.special_ids == {"eos": len(vocab) - 3, "pad": len(vocab) - 3}


def test_demo_chat_template_is_blossom_v5():
    import jinja2

    config = json.loads((tb.DEMO_TOKENIZER / "tokenizer_config.json").read_text(encoding="utf-8"))
    template = jinja2.Environment().from_string(config["chat_template"])
    eos = config["eos_token"]
    fmt = ChatFormat("blossom", BLOSSOM_V5_SYSTEM, eos, "\n|Human|: ", "\n|Bot|: ")
    one = [{"role": "user", "content": "你好"}]
    assert template.render(messages=one, eos_token=eos, add_generation_prompt=True) == fmt.prompt("你好")
    two = one + [{"role": "assistant", "content": "Hi!"}, {"role": "user", "content": "Bye"}]
    assert template.render(messages=two, eos_token=eos, add_generation_prompt=True) == (
        f"{BLOSSOM_V5_SYSTEM}\n|Human|: 你好\n|Bot|: Hi!{eos}\n|Human|: Bye\n|Bot|: ")
    own = [{"role": "system", "content": "Be brief."}] + one
    assert template.render(messages=own, eos_token=eos, add_generation_prompt=True) == fmt.prompt("你好", "Be brief.")


# --- the reference converter writes the same tokenizer keys ---------------------------------


def _reference_kv(src: Path, model_dir: Path, out: Path) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(src / "gguf-py"), "HF_HUB_OFFLINE": "1"}
    subprocess.run([sys.executable, str(src / "convert_hf_to_gguf.py"), "--vocab-only", "--outfile", str(out), str(model_dir)],
                   check=True, env=env, capture_output=True)
    return _tokenizer_kv(out)


@pytest.mark.slow
@pytest.mark.parametrize("name, arch, space_prefix_key, extra_vocab", [
    ("bpe-full", "qwen2", False, 0),
    ("spm-full", "llama", True, 0),
    ("spm-small", "llama", True, 11),
    ("spm-small-prefix", "llama", True, 0),
])
def test_same_tokenizer_keys_as_reference_converter(reference_src, built, tmp_path, name, arch, space_prefix_key, extra_vocab):
    source = built[name.removesuffix("-prefix")][0]
    model_dir = tmp_path / "model"
    shutil.copytree(source, model_dir)
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    config["vocab_size"] += extra_vocab
    (model_dir / "config.json").write_text(json.dumps(config), encoding="utf-8")
    if name.endswith("-prefix"):
        tok_config = json.loads((model_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
        tok_config["add_prefix_space"] = False
        (model_dir / "tokenizer_config.json").write_text(json.dumps(tok_config), encoding="utf-8")
    theirs = _reference_kv(reference_src, model_dir, tmp_path / "reference.gguf")
    _write_gguf(model_dir, tmp_path / "ours.gguf", arch, space_prefix_key)
    ours = _tokenizer_kv(tmp_path / "ours.gguf")
    assert sorted(ours) == sorted(theirs)
    for key in theirs:
        assert ours[key] == theirs[key], key
