"""The model side of a chat, run inside the session's child process (`native/session.py`).

It keeps one llama.cpp context across turns: llama-cpp-python reuses the evaluated prefix of a
prompt, so a turn evaluates only what the conversation added since the last one. Tokens stream
back as text (multi-byte characters kept whole by `create_completion`), and the timings are
taken here, between sampling steps, so the pipe to the parent does not count against the model.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from blossom_edge.base.errors import ExternalToolError


@dataclass(frozen=True)
class Generated:
    """One answer's figures: `prompt_evaluated` is what was not already in the context."""

    text: str
    prompt_tokens: int
    prompt_evaluated: int
    answer_tokens: int
    prompt_seconds: float
    generation_seconds: float
    finish: str

    @property
    def prompt_tps(self) -> float | None:
        return self.prompt_evaluated / self.prompt_seconds if self.prompt_seconds > 0 else None

    @property
    def generation_tps(self) -> float | None:
        """Tokens after the first over the time since it: each of them cost one decode."""
        steps = self.answer_tokens - 1
        return steps / self.generation_seconds if steps > 0 and self.generation_seconds > 0 else None


class _Clock:
    """A stopping criterion that never stops: it notes when the first and the last token were sampled.

    llama-cpp-python calls it after every sampling step (and once more when the answer ends), so
    the time to its first call is the prompt's evaluation.
    """

    def __init__(self) -> None:
        self.first: float | None = None
        self.last: float | None = None

    def __call__(self, input_ids: Any, logits: Any) -> bool:
        now = time.perf_counter()
        self.first = self.first if self.first is not None else now
        self.last = now
        return False


class ChatModel:
    """A GGUF loaded once; `tokenize` and `answer` are called from the parent, turn after turn."""

    def __init__(self, path: str, n_ctx: int, threads: int | None) -> None:
        from blossom_edge.engine.llama_log import captured, with_reason
        from blossom_edge.engine.weight_repack import open_llama

        with captured() as log:
            try:
                self._llm = open_llama(model_path=path, n_ctx=n_ctx, n_threads=threads, use_mmap=True,
                                       logits_all=False, verbose=False)
            except (ValueError, RuntimeError):
                raise ExternalToolError(with_reason(f"llama.cpp cannot load {path}", log)) from None

    def n_ctx(self) -> int:
        """The context llama.cpp made, which may differ from the one asked for (it rounds)."""
        return self._llm.n_ctx()

    def tokenize(self, text: str) -> list[int]:
        """The prompt as llama.cpp's chat does it: special tokens parsed, the vocabulary's BOS added
        unless the template already wrote one."""
        tokens = self._llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)
        bos = self._llm.token_bos()
        if len(tokens) >= 2 and tokens[0] == tokens[1] == bos:
            tokens = tokens[1:]
        return tokens

    def answer(self, tokens: list[int], sampling: dict[str, Any], stops: list[str], emit: Any) -> Generated:
        """Sample an answer to the prompt `tokens`, emitting its text as it comes."""
        from llama_cpp import Llama, StoppingCriteriaList

        llm = self._llm
        reused = Llama.longest_token_prefix(llm.input_ids.tolist(), tokens)
        # A fully cached prompt still re-evaluates its last token to get fresh logits.
        evaluated = len(tokens) - min(reused, len(tokens) - 1)
        clock = _Clock()
        parts: list[str] = []
        finish = "length"
        start = time.perf_counter()
        try:
            for chunk in llm.create_completion(tokens, stream=True, stop=stops or None,
                                               stopping_criteria=StoppingCriteriaList([clock]), **sampling):
                choice = chunk["choices"][0]
                if choice["text"]:
                    parts.append(choice["text"])
                    emit(choice["text"])
                finish = choice.get("finish_reason") or finish
        except RuntimeError as exc:  # llama_cpp raises it when llama_decode fails
            raise ExternalToolError(f"llama.cpp cannot continue the chat: {exc}") from None
        end = clock.last if clock.last is not None else time.perf_counter()
        first = clock.first if clock.first is not None else end
        # Every sampled token but the last (an end-of-generation token or the length limit) was decoded.
        sampled = max(0, llm.n_tokens - len(tokens) + 1) if clock.first is not None else 0
        return Generated("".join(parts), len(tokens), evaluated, sampled, first - start, end - first, finish)

    def close(self) -> None:
        self._llm.close()


def open_chat_model(path: str, n_ctx: int, threads: int | None) -> ChatModel:
    """The session's setup: runs in the child."""
    return ChatModel(path, n_ctx, threads)
