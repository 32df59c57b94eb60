"""The model side of a chat, run inside the session's child process (`native/session.py`).

It keeps one llama.cpp context across turns: `Llama.generate` reuses the evaluated prefix of a
prompt, so a turn evaluates only what the conversation added since the last one. Tokens stream
back as text as they are sampled, multi-byte characters kept whole and text that may be the start
of a stop sequence held back until it is not. `create_completion` would do that too, but its
streaming re-reads the whole answer at every token: 300 tokens of the demo's Q4_K_M took 23 s
through it and 4 s through `generate` (600 tokens of the tests' byte-level model: 200 s and 1 s). The timings are taken here, between sampling steps, so the
pipe to the parent does not count against the model.
"""

from __future__ import annotations

import time
from collections.abc import Callable
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
    """A stopping criterion: it notes when the first and the last token were sampled, and stops the
    answer when the user asked (Ctrl-C, relayed by the parent as `stopped`).

    llama-cpp-python calls it after every sampling step (and once more when the answer ends), so
    the time to its first call is the prompt's evaluation.
    """

    def __init__(self, stopped: Callable[[], bool]) -> None:
        self.first: float | None = None
        self.last: float | None = None
        self.stopped = stopped
        self.halted = False  # it ended the answer because the user asked

    def __call__(self, input_ids: Any, logits: Any) -> bool:
        now = time.perf_counter()
        self.first = self.first if self.first is not None else now
        self.last = now
        self.halted = self.stopped()
        return self.halted


class StreamedText:
    """The answer's bytes decoded as they come; text is emitted once no stop sequence can start in it.

    `add` returns True when a stop sequence appeared: the answer ends before it, and it is never shown.
    """

    def __init__(self, stops: list[str], emit: Callable[[str], None]) -> None:
        import codecs

        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._stops = [s for s in stops if s]
        self._emit = emit
        self.text = ""
        self._shown = 0
        self.stopped = False  # a stop sequence ended the answer

    def add(self, piece: bytes) -> bool:
        self.text += self._decoder.decode(piece)
        for stop in self._stops:
            at = self.text.find(stop, max(0, self._shown - len(stop)))
            if at >= 0:
                self.text, self.stopped = self.text[:at], True
                return True
        self._show(len(self.text) - self._held())
        return False

    def _held(self) -> int:
        """How much of the end of the text could be the start of a stop sequence."""
        return max((n for stop in self._stops for n in range(min(len(stop) - 1, len(self.text)), 0, -1)
                    if self.text.endswith(stop[:n])), default=0)

    def _show(self, upto: int) -> None:
        if upto > self._shown:
            self._emit(self.text[self._shown:upto])
            self._shown = upto

    def finish(self) -> str:
        """The whole answer, its held-back tail emitted (a stop sequence found was cut off already)."""
        if not self.stopped:
            self.text += self._decoder.decode(b"", final=True)
        self._show(len(self.text))
        return self.text


class ChatModel:
    """A GGUF loaded once; `tokenize` and `answer` are called from the parent, turn after turn."""

    def __init__(self, path: str, n_ctx: int, threads: int | None) -> None:
        from blossom_edge.engine.end_of_generation import end_of_generation
        from blossom_edge.engine.llama_log import captured, with_reason
        from blossom_edge.engine.weight_repack import open_llama

        with captured() as log:
            try:
                self._llm = open_llama(model_path=path, n_ctx=n_ctx, n_threads=threads, use_mmap=True,
                                       logits_all=False, verbose=False)
            except (ValueError, RuntimeError):
                raise ExternalToolError(with_reason(f"llama.cpp cannot load {path}", log)) from None
        self._is_eog = end_of_generation(self._llm)

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

    def answer(self, tokens: list[int], sampling: dict[str, Any], stops: list[str], emit: Callable[[str], None],
               stopped: Callable[[], bool]) -> Generated:
        """Sample an answer to the prompt `tokens`, emitting its text as it comes, until the model ends it,
        a stop sequence or the length limit comes, or `stopped()` says the user asked."""
        from llama_cpp import Llama, StoppingCriteriaList

        llm = self._llm
        reused = Llama.longest_token_prefix(llm.input_ids.tolist(), tokens)
        # A fully cached prompt still re-evaluates its last token to get fresh logits.
        evaluated = len(tokens) - min(reused, len(tokens) - 1)
        room = llm.n_ctx() - len(tokens)
        limit = min(room, sampling["max_tokens"]) if sampling["max_tokens"] else room
        if sampling["seed"] is not None:
            llm.set_seed(sampling["seed"])
        clock = _Clock(stopped)
        text = StreamedText(stops, emit)
        finish, sampled = "length", 0
        start = time.perf_counter()
        try:
            if limit > 0:
                for token in llm.generate(tokens, top_k=sampling["top_k"], top_p=sampling["top_p"],
                                          min_p=sampling["min_p"], temp=sampling["temperature"],
                                          repeat_penalty=sampling["repeat_penalty"],
                                          stopping_criteria=StoppingCriteriaList([clock])):
                    sampled += 1
                    if self._is_eog(token) or text.add(llm.detokenize([token])):
                        finish = "stop"
                        break
                    if sampled >= limit:
                        break
        except RuntimeError as exc:  # llama_cpp raises it when llama_decode fails
            raise ExternalToolError(f"llama.cpp cannot continue the chat: {exc}") from None
        if clock.halted:
            finish = "stopped"
        answer = text.finish()
        end = clock.last if clock.last is not None else time.perf_counter()
        first = clock.first if clock.first is not None else end
        return Generated(answer, len(tokens), evaluated, sampled, first - start, end - first, finish)

    def close(self) -> None:
        self._llm.close()


def open_chat_model(path: str, n_ctx: int, threads: int | None) -> ChatModel:
    """The session's setup: runs in the child."""
    return ChatModel(path, n_ctx, threads)
