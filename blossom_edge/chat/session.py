"""A chat with one model: turns rendered by its template and trimmed to the context, and the loop that reads them.

`Chat` needs only something that tokenizes and answers (`ChatBackend`): in the command that is
`IsolatedModel`, the model held in a child process; tests can drive the loop through callables
without a terminal. The loop reads plain lines (readline edits them when the command has it) and
writes the answer as it streams, with no full-screen UI, so it behaves the same over ssh and in
Termux on a 60-column phone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from blossom_edge.chat.history import History, Message, MessageTooLong
from blossom_edge.chat.prompt import PromptFormat
from blossom_edge.chat.sampling import Sampling
from blossom_edge.chat.worker import Generated

if TYPE_CHECKING:
    from blossom_edge.chat.target import ChatTarget

COMMANDS_HELP = "Ctrl-C stops an answer, /reset clears the history, /exit or Ctrl-D ends"
TRIM_NOTE = "the conversation outgrew the context: the oldest exchanges are dropped from now on"


class ChatBackend(Protocol):
    """What a chat needs of a model: its context, its tokenizer, and streamed answers."""

    n_ctx: int

    def tokenize(self, text: str) -> list[int]: ...

    def answer(self, tokens: list[int], sampling: Sampling, stops: tuple[str, ...],
               on_text: Callable[[str], None]) -> Generated: ...


class IsolatedModel:
    """The GGUF loaded once in a child process (`native.session`): a llama.cpp crash is one line."""

    def __init__(self, path: Path, n_ctx: int, threads: int | None) -> None:
        from blossom_edge.chat.worker import open_chat_model
        from blossom_edge.native.session import IsolatedSession

        self._session = IsolatedSession("chatting with", path, open_chat_model, str(path), n_ctx, threads)
        self.n_ctx = 0

    def wait(self) -> None:
        """Wait until the child has loaded the model (raising its failure) and take the context it made."""
        self.n_ctx = self._session.call("n_ctx")

    def tokenize(self, text: str) -> list[int]:
        return self._session.call("tokenize", text)

    def answer(self, tokens: list[int], sampling: Sampling, stops: tuple[str, ...],
               on_text: Callable[[str], None]) -> Generated:
        return self._session.call("answer", tokens, sampling.completion_args(), list(stops), on_event=on_text,
                                  stoppable=True)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> IsolatedModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class Turn:
    """One answered message: what was asked, the figures of the answer, and exchanges dropped to fit."""

    user: str
    generated: Generated
    dropped: int

    def stats_line(self) -> str:
        """`prompt 31 tok 412.0 t/s · answer 64 tok 38.2 t/s`: short enough for a phone held upright
        (` · stopped` after an answer Ctrl-C cut short)."""
        g = self.generated

        def rate(value: float | None) -> str:
            return f"{value:.1f} t/s" if value is not None else "– t/s"

        line = f"prompt {g.prompt_evaluated} tok {rate(g.prompt_tps)} · answer {g.answer_tokens} tok {rate(g.generation_tps)}"
        return f"{line} · stopped" if g.finish == "stopped" else line

    def record(self, model: Path) -> dict[str, Any]:
        """The `--prompt --json` document."""
        g = self.generated
        return {"model": str(model), "prompt": self.user, "answer": g.text, "finish": g.finish,
                "tokens": {"prompt": g.prompt_tokens, "answer": g.answer_tokens},
                "tokens_per_second": {"prompt": _rounded(g.prompt_tps), "generation": _rounded(g.generation_tps)}}


def _rounded(value: float | None) -> float | None:
    return round(value, 2) if value is not None else None


class Chat:
    """The conversation with one model: `ask` renders the history and the message with the model's
    template, trims the oldest exchanges until the prompt leaves room for the answer, and streams it."""

    def __init__(self, backend: ChatBackend, fmt: PromptFormat, sampling: Sampling, system: str | None = None,
                 on_prompt: Callable[[str, list[int]], None] | None = None) -> None:
        self.backend, self.format, self.sampling = backend, fmt, sampling
        self.history = History(system)
        self._on_prompt = on_prompt

    @property
    def answer_room(self) -> int:
        """Tokens kept free for the answer: --max-tokens (up to half the context), else a quarter."""
        n_ctx = self.backend.n_ctx
        wanted = self.sampling.max_tokens
        return min(wanted, n_ctx // 2) if wanted else n_ctx // 4

    def ask(self, user: str, on_text: Callable[[str], None],
            on_trim: Callable[[int], None] | None = None) -> Turn:
        """Answer `user`, streaming the text to `on_text`; the exchange joins the history. `on_trim`
        hears how many exchanges were dropped to fit, before the answer starts."""
        rendered: dict[str, Any] = {}

        def count(messages: list[Message]) -> int:
            text = self.format.render(messages)
            rendered.update(text=text, tokens=self.backend.tokenize(text))
            return len(rendered["tokens"])

        _, _, dropped = self.history.fit(user, count, self.backend.n_ctx - self.answer_room)
        if dropped and on_trim is not None:
            on_trim(dropped)
        if self._on_prompt is not None:
            self._on_prompt(rendered["text"], rendered["tokens"])
        generated = self.backend.answer(rendered["tokens"], self.sampling, self.format.stops, on_text)
        self.history.add(user, generated.text)
        return Turn(user, generated, dropped)

    def reset(self) -> None:
        self.history.reset()


class ChatView(Protocol):
    """Where the loop's output goes: streamed answer text, the end of an answer, and notes."""

    def text(self, piece: str) -> None: ...

    def answered(self, turn: Turn) -> None: ...

    def note(self, message: str) -> None: ...


def run_loop(chat: Chat, read: Callable[[], str], view: ChatView) -> int:
    """Read messages until /exit or end of input (Ctrl-D); the exit status, 0 on a normal end."""
    told: list[int] = []

    def trimmed(dropped: int) -> None:
        if not told:
            told.append(dropped)
            view.note(TRIM_NOTE)

    while True:
        try:
            line = read()
        except EOFError:
            view.note("")
            return 0
        text = line.strip()
        if not text:
            continue
        if text in ("/exit", "/quit"):
            return 0
        if text == "/reset":
            chat.reset()
            view.note("history cleared")
            continue
        if text.startswith("/") and " " not in text:
            view.note(f"unknown command {text}: {COMMANDS_HELP}")
            continue
        try:
            turn = chat.ask(line, view.text, trimmed)
        except MessageTooLong as exc:
            view.note(str(exc))
            continue
        view.answered(turn)


def start_chat(target: ChatTarget, *, system: str | None = None, ctx: int | None = None, threads: int | None = None,
               on_prompt: Callable[[str, list[int]], None] | None = None,
               **sampling_flags: float | int | None) -> tuple[IsolatedModel, Chat]:
    """Load `target` in its child and set up the chat: its prompt format, context, sampling and threads
    (default: the performance cores). The caller closes the model."""
    from blossom_edge.chat.prompt import prompt_format
    from blossom_edge.chat.sampling import context_size, sampling_for

    n_ctx = context_size(target.model, target.info.context_length, ctx)
    sampling = sampling_for(target.model, **sampling_flags)
    if threads is None:
        from blossom_edge.device.probe import probe
        from blossom_edge.device.threads import performance_cores
        from blossom_edge.device.tree import Tree

        threads = performance_cores(probe(Tree()))
    model = IsolatedModel(target.path, n_ctx, threads)
    try:
        fmt = prompt_format(target.path, target.model)  # while the child loads the weights
        model.wait()
    except BaseException:
        model.close()
        raise
    return model, Chat(model, fmt, sampling, system, on_prompt)
