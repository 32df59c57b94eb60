"""chat's loop without a terminal: commands, history, trimming said once, a too-long message survived.

The backend here stands in for llama.cpp (one token per character, an answer that names what it
was asked); the real model runs in test_chat_cli.py.
"""

from __future__ import annotations

from blossom_edge.chat.prompt import PromptFormat, render_format
from blossom_edge.chat.sampling import Sampling
from blossom_edge.chat.session import TRIM_NOTE, Chat, run_loop
from blossom_edge.chat.worker import Generated
from blossom_edge.model.catalog import CHATML


class CharBackend:
    def __init__(self, n_ctx: int) -> None:
        self.n_ctx = n_ctx
        self.prompts: list[list[int]] = []

    def tokenize(self, text: str) -> list[int]:
        return [ord(c) for c in text]

    def answer(self, tokens, sampling, stops, on_text) -> Generated:
        self.prompts.append(tokens)
        text = f"#{len(self.prompts)}"
        on_text(text[:1])
        on_text(text[1:])
        return Generated(text, len(tokens), len(tokens), 2, 0.5, 0.25, "stop")


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def text(self, piece: str) -> None:
        self.events.append(("text", piece))

    def answered(self, turn) -> None:
        self.events.append(("stats", turn.stats_line()))

    def note(self, message: str) -> None:
        self.events.append(("note", message))


def _run(lines: list[str], n_ctx: int = 4096, max_tokens: int | None = None) -> tuple[int, CharBackend, Recorder, Chat]:
    backend, view = CharBackend(n_ctx), Recorder()
    fmt = PromptFormat("chatml", (), chat_format=CHATML)
    chat = Chat(backend, fmt, Sampling(max_tokens=max_tokens), system="sys")
    feed = iter(lines)

    def read() -> str:
        line = next(feed, None)
        if line is None:
            raise EOFError
        return line

    return run_loop(chat, read, view), backend, view, chat


def _text(tokens: list[int]) -> str:
    return "".join(map(chr, tokens))


def test_two_turns_carry_history_reset_forgets_it_and_exit_ends_with_0() -> None:
    status, backend, view, chat = _run(["hello", "", "again", "/reset", "fresh", "/exit", "never read"])
    assert status == 0
    system = {"role": "system", "content": "sys"}
    assert _text(backend.prompts[0]) == render_format(CHATML, [system, {"role": "user", "content": "hello"}])
    assert _text(backend.prompts[1]) == render_format(CHATML, [
        system, {"role": "user", "content": "hello"}, {"role": "assistant", "content": "#1"},
        {"role": "user", "content": "again"}])
    assert _text(backend.prompts[2]) == render_format(CHATML, [system, {"role": "user", "content": "fresh"}])
    assert len(backend.prompts) == 3 and ("note", "history cleared") in view.events
    assert ("text", "#") in view.events and ("text", "1") in view.events
    assert ("stats", f"prompt {len(backend.prompts[0])} tok {len(backend.prompts[0]) / 0.5:.1f} t/s · "
                     "answer 2 tok 4.0 t/s") in view.events


def test_end_of_input_ends_with_0_and_unknown_commands_are_explained() -> None:
    status, backend, view, _ = _run(["/help"])
    assert status == 0 and backend.prompts == []
    assert view.events[0][0] == "note" and "/reset clears the history" in view.events[0][1]


def test_trimming_is_said_once_and_a_message_too_long_is_skipped() -> None:
    # 400 tokens of context, 200 kept for the answer: a ChatML exchange of 20 characters is about 85 tokens.
    status, backend, view, chat = _run(["a" * 20, "b" * 20, "c" * 20, "d" * 20, "x" * 250, "e"],
                                       n_ctx=400, max_tokens=200)
    assert status == 0
    assert [e for e in view.events if e == ("note", TRIM_NOTE)] == [("note", TRIM_NOTE)]
    assert all(len(p) <= 200 for p in backend.prompts) and len(backend.prompts) == 5
    assert any("try a shorter one or a larger --ctx" in e[1] for e in view.events if e[0] == "note")
    last = _text(backend.prompts[-1])  # the refused message cost no history
    assert "d" * 20 in last and "c" * 20 not in last and "a" * 20 not in last and "x" * 250 not in last
