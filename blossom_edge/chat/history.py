"""The conversation so far, kept within the context: the oldest exchanges go first, the system message never.

A prompt must leave room for the answer, so the history is trimmed until the rendered prompt
fits in the context minus that room. Whole exchanges (a user message and its answer) are
dropped together, so the model never sees an answer without its question.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from blossom_edge.base.errors import UsageError

Message = dict[str, str]


class MessageTooLong(UsageError):
    """Even with no history the message and the system prompt leave no room for an answer."""


@dataclass
class History:
    """The system message (None: the template's own default) and the exchanges, oldest first."""

    system: str | None = None
    exchanges: list[tuple[str, str]] = field(default_factory=list)

    def messages(self, user: str | None = None) -> list[Message]:
        """The conversation as chat-template messages, ending with `user` when given."""
        out: list[Message] = [{"role": "system", "content": self.system}] if self.system is not None else []
        for asked, answered in self.exchanges:
            out += [{"role": "user", "content": asked}, {"role": "assistant", "content": answered}]
        if user is not None:
            out.append({"role": "user", "content": user})
        return out

    def add(self, user: str, answer: str) -> None:
        self.exchanges.append((user, answer))

    def reset(self) -> None:
        """Forget every exchange; the system message stays."""
        self.exchanges.clear()

    def fit(self, user: str, count: Callable[[list[Message]], int], budget: int) -> tuple[list[Message], int, int]:
        """The messages for `user` whose prompt takes at most `budget` tokens (by `count`), dropping the
        oldest exchanges as needed: (messages, their token count, exchanges dropped). A message that does not
        fit even alone is refused with the history untouched."""
        kept = list(self.exchanges)
        while True:
            messages = History(self.system, kept).messages(user)
            used = count(messages)
            if used <= budget:
                break
            if not kept:
                raise MessageTooLong(f"the message takes {used} tokens with the system prompt, and the context "
                                     f"leaves {budget} for a prompt: try a shorter one or a larger --ctx")
            kept.pop(0)
        dropped = len(self.exchanges) - len(kept)
        self.exchanges = kept  # only once the message fits: a refused one costs no history
        return messages, used, dropped
