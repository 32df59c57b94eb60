"""The tokenizer half of the converter: a Hugging Face tokenizer to GGUF tokenizer keys.

The target is byte-for-byte what llama.cpp's own `convert_hf_to_gguf.py` writes for the
same checkpoint (`TextModel._set_vocab_gpt2` / `_set_vocab_sentencepiece` and the
`LlamaModel` additions), because llama.cpp's tokenizer only reproduces the Hugging Face
one when every `tokenizer.*` key is what it expects. We get there without torch,
transformers or tokenizers: tokenizer.json is read as JSON, tokenizer.model with
sentencepiece, and the keys gguf-py already derives well (special ids, merges, add_bos /
add_eos, chat template) come from `gguf.SpecialVocab`.

Deliberate differences from the reference converter are marked "Differs:" below.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gguf

from blossom_edge.base.bounded_read import MAX_JSON_BYTES, json_int, read_json_object, read_small_text
from blossom_edge.base.errors import CorruptFileError, NotFoundError, UnsupportedError, excerpt
from blossom_edge.inputs.source import CheckpointFiles

log = logging.getLogger(__name__)

# The original regexes of the Split pre-tokenizers in tokenizer.json, mapped to the
# `tokenizer.ggml.pre` name under which llama.cpp (src/llama-vocab.cpp) implements that
# same split. The reference converter gets these names from a hash of the token ids of a
# probe string, which needs the full tokenizer running and changes whenever the vocab does
# (a retrained or extended tokenizer is "unrecognized" although it splits text exactly like
# Qwen2). The split rule itself is what the name stands for, so that is what we key on.
_QWEN2_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_QWEN35_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_LLAMA3_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
SPLIT_REGEX_TO_PRE: Mapping[str, str] = {
    _QWEN2_REGEX: "qwen2",  # Qwen1.5, Qwen2, Qwen2.5, Qwen3 (all Blossom Qwen models)
    _QWEN35_REGEX: "qwen35",
    _LLAMA3_REGEX: "llama-bpe",
}
# A lone ByteLevel pre-tokenizer with use_regex=true splits with GPT-2's own regex.
GPT2_PRE = "gpt-2"

# More tokens than any vocabulary has (the largest are some 260 000): a vocab_size or token id past
# this would have us build a list of that many [PAD] tokens.
MAX_VOCAB = 1 << 22

_SPM_PAD_SCORE = -10000.0
_ADDED_TOKEN_SCORE = -1000.0
_SPIECE_UNDERLINE = "\u2581"


@dataclass
class Vocab:
    """Everything `write_vocab` puts under `tokenizer.*`, already padded and typed."""

    model: str  # tokenizer.ggml.model: "gpt2" (byte-level BPE) or "llama" (SentencePiece)
    pre: str  # tokenizer.ggml.pre
    tokens: list[str]
    toktypes: list[int]  # gguf.TokenType values, one per token
    scores: list[float] | None  # SentencePiece only: the reference writes no scores for BPE
    special: gguf.SpecialVocab  # merges, special ids, add_bos/add_eos, chat template
    source: Path  # the tokenizer file the tokens came from, for messages
    add_space_prefix: bool | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def merges(self) -> list[str]:
        return self.special.merges

    @property
    def special_ids(self) -> dict[str, int]:
        return dict(self.special.special_token_ids)

    @property
    def add_special(self) -> dict[str, bool]:
        return dict(self.special.add_special_token)

    @property
    def chat_template(self) -> str | list[Any] | None:
        template = self.special.chat_template
        return list(template) if template is not None and not isinstance(template, str) else template

    def __len__(self) -> int:
        return len(self.tokens)


def load_vocab(model_dir: Path, vocab_size: int | None, *, space_prefix_key: bool | None = None,
               arch_name: str | None = None, pre_names: Mapping[str, str] | None = None,
               special_tokens: Mapping[str, str] | None = None, files: CheckpointFiles | None = None) -> Vocab:
    """Read the checkpoint's tokenizer the way llama.cpp's converter would.

    `vocab_size` is config.json's: the embedding has that many rows, and llama.cpp wants
    exactly one token per row, so ids the tokenizer does not use become [PAD{i}] tokens.
    tokenizer.model wins over tokenizer.json when both exist, as in the reference (Yi and
    Mistral checkpoints ship both; the SentencePiece model is the original).
    `space_prefix_key` is the architecture's `Architecture.space_prefix_key`; `arch_name` only
    names the architecture in messages. `pre_names` renames a split rule's usual pre-tokenizer
    name the way llama.cpp knows it in this architecture, and `special_tokens` gives special-token
    roles by token text where the tokenizer files leave them unset (both from the Architecture).
    `files` are the checkpoint's JSON files as the run already read them (`LocalSource.files`).
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise NotFoundError(f"model directory not found: {model_dir}")
    files = files or CheckpointFiles.read(model_dir)
    if vocab_size is not None:
        checked = json_int(vocab_size, low=1, high=MAX_VOCAB)
        if checked is None:
            raise UnsupportedError(f"config.json vocab_size must be a whole number from 1 to {MAX_VOCAB}, "
                                   f"got {excerpt(vocab_size)}")
        vocab_size = checked
    spm_file = model_dir / "tokenizer.model"
    json_file = model_dir / "tokenizer.json"
    if spm_file.is_file():
        vocab = _load_sentencepiece(model_dir, spm_file, vocab_size, files)
    elif os.path.lexists(json_file):  # a FIFO or directory there is refused by name, not taken for none
        vocab = _load_bpe(model_dir, json_file, vocab_size, arch_name, files)
        vocab.pre = (pre_names or {}).get(vocab.pre, vocab.pre)
    else:
        raise NotFoundError(
            f"no tokenizer in {model_dir}: expected tokenizer.json (byte-level BPE) "
            "or tokenizer.model (SentencePiece)"
        )
    add_prefix_space = files.tokenizer_config.get("add_prefix_space")
    if isinstance(add_prefix_space, bool) and _writes_space_prefix_key(space_prefix_key, vocab.model):
        vocab.add_space_prefix = add_prefix_space
    for role, token in (special_tokens or {}).items():
        if token in vocab.tokens:
            # As gguf-py's SpecialVocab sets a role: only when the tokenizer files did not.
            vocab.special.special_token_ids.setdefault(role, vocab.tokens.index(token))
    for message in vocab.warnings:
        log.warning(message)
    return vocab


def write_vocab(writer: gguf.GGUFWriter, vocab: Vocab) -> None:
    """Add the tokenizer keys in the reference converter's order (it keeps GGUFs diffable)."""
    if vocab.add_space_prefix is not None:
        writer.add_add_space_prefix(vocab.add_space_prefix)
    writer.add_tokenizer_model(vocab.model)
    writer.add_tokenizer_pre(vocab.pre)
    writer.add_token_list(vocab.tokens)
    if vocab.scores is not None:
        writer.add_token_scores(vocab.scores)
    writer.add_token_types(vocab.toktypes)
    vocab.special.add_to_gguf(writer, quiet=True)


def _writes_space_prefix_key(space_prefix_key: bool | None, model: str) -> bool:
    """Whether the reference would copy add_prefix_space for this checkpoint.

    Only its LlamaModel does. Without the architecture's word we go by the tokenizer:
    SentencePiece checkpoints we convert are Llama-shaped (Yi, Mistral), byte-level BPE ones Qwen.
    """
    if space_prefix_key is not None:
        return space_prefix_key
    return model == "llama"


# --- byte-level BPE (tokenizer.json) -----------------------------------------------------


def _load_bpe(model_dir: Path, path: Path, vocab_size: int | None, arch_name: str | None,
              files: CheckpointFiles) -> Vocab:
    tokenizer = read_json_object(path, required=True)
    model = tokenizer.get("model")
    if not isinstance(model, dict) or not isinstance(model.get("vocab"), dict):
        raise CorruptFileError(f"{path} has no model.vocab object: not a Hugging Face tokenizer.json")
    if model.get("type") != "BPE":
        raise UnsupportedError(f"{path}: tokenizer model {model.get('type')!r} is not supported, only BPE")
    decoder_type = (tokenizer.get("decoder") or {}).get("type")
    if model.get("byte_fallback") or decoder_type != "ByteLevel":
        # A SentencePiece-style BPE exported to tokenizer.json (Llama-2, Mistral). The
        # reference reads it through transformers (LlamaHfVocab); we need the original.
        raise UnsupportedError(
            f"{path} is a SentencePiece-style tokenizer without its tokenizer.model; "
            "add tokenizer.model from the original checkpoint"
        )

    base_vocab = _token_ids(model["vocab"], path)
    added = _added_tokens(tokenizer.get("added_tokens") or [], path)
    # transformers' get_vocab() lays added tokens over the model vocab, so they win an id.
    by_id: dict[int, str] = {i: t for t, i in base_vocab.items()}
    added_by_content: dict[str, dict[str, Any]] = {}
    for entry in added:
        by_id[entry["id"]] = entry["content"]
        added_by_content[entry["content"]] = entry

    n_tokens = _checked_size(by_id, vocab_size, path)
    pre = bpe_pre_tokenizer(tokenizer.get("pre_tokenizer"), path, arch_name)

    tokens: list[str] = []
    toktypes: list[int] = []
    for i in range(n_tokens):
        token = by_id.get(i)
        if token is None:
            tokens.append(f"[PAD{i}]")
            toktypes.append(gguf.TokenType.UNUSED)
            continue
        entry = added_by_content.get(token)
        if entry is None:
            toktypes.append(gguf.TokenType.NORMAL)
        elif entry.get("special") or looks_special(token):
            toktypes.append(gguf.TokenType.CONTROL)
        else:
            # Differs: the reference first round-trips non-normalized added tokens through
            # AutoTokenizer encode/decode. That needs transformers and is the identity for
            # an added token, which encodes to its own id; the pre-normalisation of "▁" that
            # llama.cpp relies on for user-defined tokens is kept.
            token = token.replace(_SPIECE_UNDERLINE, " ")
            toktypes.append(gguf.TokenType.USER_DEFINED)
        tokens.append(token)

    special = _special_vocab(model_dir, tokenizer, files, load_merges=True, n_vocab=None)
    if not special.merges:
        raise CorruptFileError(f"{path} has no BPE merges: llama.cpp cannot tokenize with it")
    return Vocab(model="gpt2", pre=pre, tokens=tokens, toktypes=toktypes, scores=None,
                 special=special, source=path)


def bpe_pre_tokenizer(definition: Any, path: Path, arch_name: str | None = None) -> str:
    """Name llama.cpp's pre-tokenizer that splits text like tokenizer.json's `pre_tokenizer`.

    Only definitions we can name with certainty pass: a wrong name does not fail, it makes
    llama.cpp split text differently from the model's training and quietly degrades output.
    """
    steps = _pre_tokenizer_steps(definition)
    splits = [s for s in steps if s.get("type") == "Split"]
    byte_levels = [s for s in steps if s.get("type") == "ByteLevel"]
    others = [s.get("type") for s in steps if s.get("type") not in ("Split", "ByteLevel")]
    if not others and len(byte_levels) == 1 and steps[-1] is byte_levels[0]:
        byte_level = byte_levels[0]
        if not splits and byte_level.get("use_regex", True) and not byte_level.get("add_prefix_space"):
            return GPT2_PRE
        if len(splits) == 1 and not byte_level.get("use_regex", True) and not byte_level.get("add_prefix_space"):
            split = splits[0]
            regex = (split.get("pattern") or {}).get("Regex")
            if split.get("behavior") == "Isolated" and not split.get("invert") and regex in SPLIT_REGEX_TO_PRE:
                return SPLIT_REGEX_TO_PRE[regex]
    hint = f" (architecture {arch_name})" if arch_name else ""
    raise UnsupportedError(
        f"{path}: pre-tokenizer{hint} is not one llama.cpp implements as far as we know: "
        f"{json.dumps(definition, ensure_ascii=False)[:300]}"
    )


def _pre_tokenizer_steps(definition: Any) -> list[dict[str, Any]]:
    if definition is None:
        return []
    if not isinstance(definition, dict):
        return [{"type": repr(definition)}]
    if definition.get("type") == "Sequence":
        return [s for item in definition.get("pretokenizers") or [] for s in _pre_tokenizer_steps(item)]
    return [definition]


def looks_special(token: str) -> bool:
    """Control-token shapes the reference promotes to CONTROL even when not marked special."""
    return (
        token in ("<pad>", "<mask>", "<2mass>", "[@BOS@]")
        or (token.startswith("<|") and token.endswith("|>"))
        or (token.startswith("<\uff5c") and token.endswith("\uff5c>"))
        or (token.startswith("<unused") and token.endswith(">"))
    )


# --- SentencePiece (tokenizer.model) -----------------------------------------------------


def _load_sentencepiece(model_dir: Path, path: Path, vocab_size: int | None, files: CheckpointFiles) -> Vocab:
    """Tokens, scores and types as the reference's `_create_vocab_sentencepiece`.

    gguf.SentencePieceVocab would read the same file but types added tokens differently
    (USER_DEFINED only, ignoring tokenizer_config's added_tokens_decoder) and cannot pad to
    config.json's vocab_size, so we follow the reference here instead.
    """
    from sentencepiece import SentencePieceProcessor

    processor = SentencePieceProcessor()
    try:
        processor.LoadFromFile(str(path))
    except (OSError, RuntimeError) as exc:
        raise CorruptFileError(f"{path} is not a SentencePiece model: {exc}") from None
    n_pieces = processor.vocab_size()
    n_tokens = vocab_size or n_pieces
    warnings: list[str] = []
    if n_pieces > n_tokens:
        warnings.append(
            f"{path}: {n_pieces - n_tokens} SentencePiece token(s) from id {n_tokens} are beyond "
            f"config.json vocab_size {n_tokens} and are left out, as llama.cpp's converter does"
        )

    tokens = [f"[PAD{i}]" for i in range(n_tokens)]
    scores = [_SPM_PAD_SCORE] * n_tokens
    toktypes = [int(gguf.TokenType.UNUSED)] * n_tokens
    for i in range(min(n_pieces, n_tokens)):
        tokens[i] = processor.IdToPiece(i)
        scores[i] = processor.GetScore(i)
        toktypes[i] = _piece_type(processor, i)

    def set_added(token_id: int, content: str, toktype: int) -> None:
        if not 0 <= token_id < n_tokens:  # a negative id would silently overwrite a token from the end
            warnings.append(f"{path.parent}: added token {content!r} id {token_id} is outside the vocabulary, left out")
            return
        tokens[token_id], scores[token_id], toktypes[token_id] = content, _ADDED_TOKEN_SCORE, toktype

    added_tokens_json = read_json_object(model_dir / "added_tokens.json", required=False)
    for content, token_id in added_tokens_json.items():
        if isinstance(token_id, int):
            set_added(token_id, content, gguf.TokenType.USER_DEFINED)
    decoder = files.tokenizer_config.get("added_tokens_decoder") or {}
    for key, entry in decoder.items() if isinstance(decoder, dict) else ():
        content = entry.get("content") if isinstance(entry, dict) else None
        if not isinstance(content, str) or not str(key).isdigit():
            raise CorruptFileError(f"{model_dir / 'tokenizer_config.json'}: bad added_tokens_decoder entry {key!r}")
        if entry.get("special") or looks_special(content):
            set_added(int(key), content, gguf.TokenType.CONTROL)
        else:
            set_added(int(key), content.replace(_SPIECE_UNDERLINE, " "), gguf.TokenType.USER_DEFINED)

    tokenizer_json = read_json_object(model_dir / "tokenizer.json", required=False)
    special = _special_vocab(model_dir, tokenizer_json, files, load_merges=False, n_vocab=n_tokens)
    return Vocab(model="llama", pre="default", tokens=tokens, toktypes=[int(t) for t in toktypes],
                 scores=scores, special=special, source=path, warnings=warnings)


def _piece_type(processor: Any, i: int) -> int:
    if processor.IsUnknown(i):
        return gguf.TokenType.UNKNOWN
    if processor.IsControl(i):
        return gguf.TokenType.CONTROL
    if processor.IsUnused(i):
        return gguf.TokenType.UNUSED
    if processor.IsByte(i):
        return gguf.TokenType.BYTE
    return gguf.TokenType.NORMAL


# --- shared ------------------------------------------------------------------------------


def _special_vocab(model_dir: Path, tokenizer_json: Mapping[str, Any], files: CheckpointFiles, *, load_merges: bool,
                   n_vocab: int | None) -> gguf.SpecialVocab:
    """gguf-py's special-token settings, once every file it opens has passed our readers.

    SpecialVocab reads tokenizer.json (which the caller has), tokenizer_config.json, config.json,
    the chat template files and merges.txt with plain open() and json.load: a FIFO there would
    hang it, a deep nesting or non-UTF-8 bytes fail unnamed, a 2 GB file be read whole.
    """
    config = files.tokenizer_config
    read_json_object(model_dir / "chat_template.json", required=False)
    for text_file in (model_dir / "chat_template.jinja", model_dir / "merges.txt",
                      *sorted((model_dir / "additional_chat_templates").glob("*.jinja"))):
        read_small_text(text_file, MAX_JSON_BYTES, what=f"a {text_file.name}")
    try:
        special = gguf.SpecialVocab(model_dir, load_merges=load_merges, n_vocab=n_vocab)
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        raise CorruptFileError(f"{model_dir}: bad special-token settings in the tokenizer files: {exc}") from None
    special.add_special_token.update(_post_processor_add_special(tokenizer_json, config))
    return special


def _post_processor_add_special(tokenizer_json: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, bool]:
    """add_bos/add_eos as the tokenizer.json post-processor decides them.

    The reference's gguf-py (newer than the gguf release on PyPI) lets the post-processor,
    which is what the Hugging Face tokenizer actually runs, win over tokenizer_config.json's
    add_*_token, and reads a ByteLevel post-processor (Qwen's) as "adds nothing". The PyPI
    gguf-py does neither: without this, Qwen GGUFs would lack the
    tokenizer.ggml.add_bos_token = false that the reference writes.
    """
    processor = tokenizer_json.get("post_processor")
    if not isinstance(processor, dict):
        return {}
    found: dict[str, bool] = {}
    for step in processor.get("processors", [processor]):
        if not isinstance(step, dict):
            continue
        if step.get("type") == "ByteLevel":
            found.setdefault("bos", False)
            found.setdefault("eos", False)
        elif step.get("type") == "TemplateProcessing":
            single = step.get("single") or []
            if len(single) < 2:
                continue
            first = _template_special(single[0])
            last = _template_special(single[-1])
            if first is not None:
                # The reference adopts an unnamed leading token as bos (or cls) and adds it;
                # only a token that contradicts both names is "not added".
                bos, cls = _config_token(config, "bos_token"), _config_token(config, "cls_token")
                found["bos"] = first in (bos, cls) or bos is None or cls is None
            if last is not None:
                # A trailing token other than eos becomes the new eos, still "added".
                found["eos"] = True
    return found


def _template_special(item: Any) -> str | None:
    token = item.get("SpecialToken") if isinstance(item, dict) else None
    return token.get("id") if isinstance(token, dict) and isinstance(token.get("id"), str) else None


def _config_token(config: Mapping[str, Any], key: str) -> str | None:
    """A tokenizer_config.json token as written: a string, or an AddedToken object's content."""
    value = config.get(key)
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) and value else None


def _token_ids(vocab: Mapping[str, Any], path: Path) -> dict[str, int]:
    if not all(isinstance(i, int) and i >= 0 for i in vocab.values()):
        raise CorruptFileError(f"{path}: model.vocab has ids that are not non-negative integers")
    return dict(vocab)


def _added_tokens(entries: Iterable[Any], path: Path) -> list[dict[str, Any]]:
    added = []
    for entry in entries:
        if not (isinstance(entry, dict) and isinstance(entry.get("id"), int) and isinstance(entry.get("content"), str)):
            raise CorruptFileError(f"{path}: bad added_tokens entry {entry!r:.100}")
        added.append(entry)
    return added


def _checked_size(by_id: Mapping[int, str], vocab_size: int | None, path: Path) -> int:
    needed = max(by_id, default=-1) + 1
    if needed == 0:
        raise CorruptFileError(f"{path} has an empty vocabulary")
    if needed > MAX_VOCAB:
        raise CorruptFileError(f"{path} uses token id {needed - 1}, more than any vocabulary has")
    if vocab_size is None:
        return needed
    if needed > vocab_size:
        raise UnsupportedError(
            f"{path} uses token id {needed - 1}, but config.json vocab_size is {vocab_size}: "
            "the tokenizer does not belong to this model"
        )
    return vocab_size
