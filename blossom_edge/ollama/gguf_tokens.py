"""The text of a GGUF's special tokens (bos, eos, …), which its Jinja chat template may print.

A chat template read from a GGUF is rendered with `bos_token` and friends as transformers would
render it from the checkpoint; the GGUF stores only their ids. llama.cpp's own vocabulary
loader (a vocab-only load, under a second for Qwen's 150k tokens) gives their strings; gguf-py
would build a numpy view for every token first (about 20 s on a 2-core machine).
"""

from __future__ import annotations

from pathlib import Path

# The special tokens transformers passes to a chat template, by the stem of their GGUF id key
# (`tokenizer.ggml.unknown_token_id` holds unk_token's id).
TEMPLATE_TOKENS = {"bos": "bos_token", "eos": "eos_token", "unknown": "unk_token", "padding": "pad_token"}


def template_tokens(path: Path, special_ids: dict[str, int]) -> dict[str, str]:
    """The `bos_token`, `eos_token`, … strings a chat template is rendered with, from a GGUF's ids.

    Ids outside the vocabulary are left out, as transformers leaves an unset token out. llama.cpp
    reads the file in a child process (`isolated.py`), so a native crash on a damaged vocabulary
    is one line here.
    """
    from blossom_edge.native.isolated import run_isolated

    ids = {name: special_ids[stem] for stem, name in TEMPLATE_TOKENS.items() if stem in special_ids}
    if not ids:
        return {}
    return run_isolated("reading the vocabulary of", path, _token_texts, Path(path), ids)


def _token_texts(path: Path, ids: dict[str, int]) -> dict[str, str]:
    """In the child: a vocab-only load and the strings of `ids`."""
    from blossom_edge.engine.llama_lowlevel import LlamaEngine

    engine = LlamaEngine()
    model = engine.load(Path(path), vocab_only=True)
    try:
        texts = {name: engine.token_text(model, token) for name, token in ids.items()}
    finally:
        engine.free_model(model)
    return {name: text for name, text in texts.items() if text is not None}
