"""Proof that a GGUF we wrote still works: llama.cpp loads it and greedily generates from a Blossom prompt.

A quantized file that loads but produces NaNs, or whose tensor types differ from what the
quantizer said it chose, is caught here rather than on a phone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from blossom_edge.base.errors import ExternalToolError
from blossom_edge.inputs.gguf_info import GGUFInfo, read_gguf_info
from blossom_edge.model.catalog import CHATML, ChatFormat, resolve

VERIFY_PROMPT = "用一句话介绍你自己。Introduce yourself in one sentence."
# Context for the check: the prompt is about 40 tokens in any of our chat formats, plus 8 generated.
_VERIFY_CTX = 128


@dataclass
class Verification:
    """What the check saw: the file summary, the tokens generated and how long it took."""

    info: GGUFInfo
    prompt: str
    tokens: list[int] = field(default_factory=list)
    text: str = ""
    seconds: float = 0.0


def chat_format_for(info: GGUFInfo, hint: ChatFormat | None = None) -> ChatFormat:
    """The dialogue format to prompt with: the catalog's if known, else guessed from the template."""
    if hint is not None:
        return hint
    if "<|im_start|>" in (info.chat_template or ""):
        return CHATML
    return resolve("v5-4b").chat


def check_types(info: GGUFInfo, chosen: dict[str, str]) -> None:
    """Every tensor must carry the type the quantizer reported choosing for it."""
    wrong = [f"{name} is {info.tensor_types.get(name)} not {want}"
             for name, want in chosen.items() if info.tensor_types.get(name) != want]
    if wrong:
        raise ExternalToolError(f"{info.path} does not hold what the quantizer reported: {'; '.join(wrong[:3])}")


def verify_gguf(path: Path, *, chat: ChatFormat | None = None, n_tokens: int = 8,
                threads: int | None = None, info: GGUFInfo | None = None, label: str | None = None) -> Verification:
    """Load `path` with llama.cpp and greedily generate `n_tokens`; fail on a load error or non-finite logits.

    Pass `info` if the caller already read the file, and `label` when `path` is a partial file whose
    final name the user knows. llama.cpp runs in a child process (`isolated.py`), so a native crash
    is one line here.
    """
    from blossom_edge.native.isolated import run_isolated

    info = info or read_gguf_info(path)
    return run_isolated("verifying", label or path, _generate, path, chat_format_for(info, chat).prompt(VERIFY_PROMPT),
                        n_tokens, threads, info, label or str(path))


def _generate(path: Path, prompt: str, n_tokens: int, threads: int | None, info: GGUFInfo,
              label: str) -> Verification:
    """In the child: the weights are memory-mapped, the context is only as long as the prompt plus the
    generated tokens, and logits are kept for the last position only. With a 150k-token vocabulary,
    logits for every position of a 512-token context were a 300 MB buffer on each side of the
    binding, for a check that reads one row.
    """
    import numpy as np

    from blossom_edge.engine.llama_log import captured, with_reason
    from blossom_edge.engine.logits import last_logits
    from blossom_edge.engine.weight_repack import open_llama

    start = time.perf_counter()
    with captured() as log:
        try:
            llm = open_llama(model_path=str(path), n_ctx=_VERIFY_CTX, n_batch=_VERIFY_CTX, n_threads=threads,
                             use_mmap=True, logits_all=False, verbose=False)
        except (ValueError, RuntimeError):
            raise ExternalToolError(with_reason(f"llama.cpp cannot load {label}", log)) from None
    try:
        n_vocab = llm.n_vocab()
        tokens = llm.tokenize(prompt.encode(), add_bos=True, special=True)[: _VERIFY_CTX - n_tokens]
        llm.eval(tokens)
        out: list[int] = []
        for _ in range(n_tokens):
            logits = last_logits(llm, n_vocab)
            if not np.isfinite(logits).all():
                raise ExternalToolError(f"{label} produces non-finite logits: the quantized weights are broken")
            out.append(int(np.argmax(logits)))
            llm.eval([out[-1]])
        text = llm.detokenize(out).decode("utf-8", "replace")
    except RuntimeError as exc:  # llama_cpp raises it when llama_decode fails
        raise ExternalToolError(f"llama.cpp cannot run {label}: {exc}") from None
    finally:
        llm.close()
    return Verification(info, prompt, out, text, time.perf_counter() - start)
