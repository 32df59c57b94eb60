"""The answer's text as the worker streams it: characters split across tokens kept whole, a stop
sequence never shown even when it arrives in pieces, everything else shown exactly once."""

from __future__ import annotations

from blossom_edge.chat.worker import StreamedText


def _stream(pieces: list[bytes], stops: list[str]) -> tuple[list[str], str, bool]:
    shown: list[str] = []
    text = StreamedText(stops, shown.append)
    stopped = any(text.add(p) for p in pieces)
    return shown, text.finish(), stopped


def test_a_character_split_across_tokens_is_shown_whole() -> None:
    raw = "你好".encode()
    shown, answer, stopped = _stream([raw[:1], raw[1:4], raw[4:]], [])
    assert answer == "你好" and "".join(shown) == "你好" and not stopped
    assert all("\ufffd" not in piece for piece in shown)


def test_a_stop_sequence_arriving_in_pieces_ends_the_answer_unseen() -> None:
    shown, answer, stopped = _stream([b"Sure.", b"\n|Hu", b"man", b"|: next"], ["|Human|:", "<|endoftext|>"])
    assert stopped and answer == "Sure.\n" and "".join(shown) == "Sure.\n"


def test_text_that_only_looked_like_a_stop_is_shown_in_the_end() -> None:
    shown, answer, stopped = _stream([b"a |Hu", b"go"], ["|Human|:"])
    assert not stopped and answer == "a |Hugo" == "".join(shown)
    shown, answer, _ = _stream([b"tail |Hum"], ["|Human|:"])  # the answer ends (length, EOS) mid-prefix
    assert answer == "tail |Hum" == "".join(shown)
