"""Ollama's Modelfile reader, `parser/parser.go` (at `OLLAMA_COMMIT`, `blossom_edge.ollama.go`).

The grammar has no escape character. The parser drops every character Go's `strconv.IsPrint`
rejects (zero-width joiners, U+3000 ideographic space, NBSP), and ends a quoted value at the
first line break where the text so far merely *looks* closed. A Modelfile that Ollama reads
differently from what was written ships a broken chat template without any error message, so
`parse` reproduces the reader: the same commands, case rules, comments, quoting, the same
silently dropped characters and the same error texts and line numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from blossom_edge.base.errors import CorruptFileError
from blossom_edge.ollama.go.strconv import is_print

COMMANDS = ("from", "license", "template", "system", "adapter", "draft", "renderer", "parser",
            "parameter", "message", "requires")
MESSAGE_ROLES = ("system", "user", "assistant")
# The name each command is stored under, back to the keyword that writes it; PARAMETERs are
# stored under their own names instead.
KEYWORDS = {"model": "FROM", "license": "LICENSE", "template": "TEMPLATE", "system": "SYSTEM",
            "adapter": "ADAPTER", "draft": "DRAFT", "renderer": "RENDERER", "parser": "PARSER",
            "requires": "REQUIRES", "message": "MESSAGE"}
# The whitespace the parser keeps inside a value and the characters that end a line.
SPACE = " \t"
NEWLINE = "\r\n"

ERR_INVALID_COMMAND = ("command must be one of " + ", ".join(f'"{c}"' for c in COMMANDS[:-1])
                       + f', or "{COMMANDS[-1]}"')
ERR_INVALID_ROLE = 'message role must be one of "system", "user", or "assistant"'
ERR_MISSING_FROM = "no FROM line"
ERR_EOF = "unexpected EOF"


@dataclass(frozen=True)
class Command:
    """One command as Ollama stores it: FROM is `model`, PARAMETER is the parameter's own name,
    MESSAGE args are `role: content`. `line` is where it starts (not part of equality)."""

    name: str
    args: str
    line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Problem:
    """One finding of the parser or of `create_request.check`; `line` 0 means Ollama names no line for it."""

    line: int
    message: str
    warning: bool = False

    def __str__(self) -> str:
        kind = "warning" if self.warning else "error"
        return f"line {self.line}: {kind}: {self.message}" if self.line else f"{kind}: {self.message}"


class ModelfileError(CorruptFileError):
    """A Modelfile Ollama's parser rejects. `problem` holds Ollama's own text and line (0 where
    Ollama names none); `start` is the line of the command left unfinished, for the reader."""

    def __init__(self, line: int, message: str, start: int = 0) -> None:
        self.problem = Problem(line, message)
        self.start = start
        where = f" (the command that starts on line {start})" if start and not line else ""
        super().__init__(f"Modelfile line {line}: {message}" if line else f"Modelfile: {message}{where}")


def decode(data: bytes) -> str:
    """Bytes to text the way Ollama decodes a Modelfile: a UTF-8 or UTF-16 byte-order mark
    decides the encoding, otherwise UTF-8 with invalid bytes replaced."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith(b"\xff\xfe"):
        return data[2:].decode("utf-16-le", errors="replace")
    if data.startswith(b"\xfe\xff"):
        return data[2:].decode("utf-16-be", errors="replace")
    return data.decode("utf-8", errors="replace")


def _is_alpha(ch: str) -> bool:
    return ("a" <= ch <= "z") or ("A" <= ch <= "Z")


def _unquote(text: str) -> tuple[str, bool]:
    """Ollama's test for "this value is complete": (value, closed)."""
    if text.startswith('"""'):
        if len(text) >= 6 and text.endswith('"""'):
            return text[3:-3], True
        return "", False
    if text.startswith('"'):
        if len(text) >= 2 and text.endswith('"'):
            return text[1:-1], True
        return "", False
    return text, True


_TRIPLE = ['"', '"', '"']


def _closed(buf: list[str], first: int, last: int) -> bool:
    """`_unquote(text)[1]` for text = the stripped value, told by where its ends are in `buf`.

    `first` and `last` index the first and last character that `strip` keeps (-1 when none
    is), so deciding at every line break costs constant time instead of re-joining the
    whole value, which made a value of many lines quadratic.
    """
    if first < 0:
        return True
    length = last - first + 1
    if buf[first:first + 3] == _TRIPLE:
        return length >= 6 and buf[last - 2:last + 1] == _TRIPLE
    if buf[first] == '"':
        return length >= 2 and buf[last] == '"'
    return True


# Parser states, named after what is being read.
_IDLE, _KEYWORD_STATE, _VALUE, _PARAM_NAME, _ROLE, _COMMENT = range(6)


def parse(text: str) -> list[Command]:
    """Read Modelfile text into commands exactly as Ollama's parser does, or raise ModelfileError.

    Quirks kept on purpose because Ollama has them: `#` starts a comment only where a command
    could start; a quoted value ends at the first line break where the trimmed text so far is
    closed (`"..."` or `\"\"\"...\"\"\"`), so nothing may follow a closing quote on its line;
    characters that are not printable are dropped outside the whitespace Ollama keeps; `\\r`
    and `\\n` each count as a line, so CRLF files report doubled line numbers, as Ollama does.
    Time is linear in the text: each character is looked at once, and a value is joined once.
    """
    commands: list[Command] = []
    state = _IDLE
    buf: list[str] = []
    line = 1
    start = 1
    name = role = ""
    # Where the value's stripped text begins and ends in `buf` (-1: only whitespace so far).
    first = last = -1

    def finish_value() -> None:
        value, _ = _unquote("".join(buf).strip(SPACE + NEWLINE))
        commands.append(Command(name, f"{role}: {value}" if role else value, start))

    for ch in text:
        if ch in NEWLINE:
            line += 1
        if state == _IDLE:
            if ch == "#":
                state = _COMMENT
            elif ch not in SPACE + NEWLINE:
                state, start, role = _KEYWORD_STATE, line, ""
                buf = [ch] if is_print(ch) else []
        elif state == _COMMENT:
            if ch in NEWLINE:
                state = _IDLE
        elif state == _KEYWORD_STATE:
            if _is_alpha(ch):
                buf.append(ch)
            elif ch in SPACE and "".join(buf).lower() in COMMANDS:
                word = "".join(buf).lower()
                buf = []
                if word == "parameter":
                    state = _PARAM_NAME
                elif word == "message":
                    name, state = "message", _ROLE
                else:
                    name, state = ("model" if word == "from" else word), _VALUE
            else:
                raise ModelfileError(line, ERR_INVALID_COMMAND)
        elif state == _PARAM_NAME:
            if _is_alpha(ch) or (ch.isascii() and ch.isdigit()) or ch == "_":
                buf.append(ch)
            elif ch in SPACE:
                name, buf, state = "".join(buf), [], _VALUE
            else:
                raise ModelfileError(0, f"{ERR_EOF}: {''.join(buf)}", start)
        elif state == _ROLE:
            if _is_alpha(ch):
                buf.append(ch)
            elif ch in SPACE:
                if "".join(buf) not in MESSAGE_ROLES:
                    raise ModelfileError(line, ERR_INVALID_ROLE)
                role, buf, state = "".join(buf), [], _VALUE
            else:
                raise ModelfileError(0, f"{ERR_EOF}: {''.join(buf)}", start)
        elif ch in SPACE:
            buf.append(ch)
        elif ch in NEWLINE:
            if _closed(buf, first, last):
                finish_value()
                buf, state, first, last = [], _IDLE, -1, -1
            else:
                buf.append(ch)
        elif is_print(ch):
            first = len(buf) if first < 0 else first
            last = len(buf)
            buf.append(ch)

    if state == _VALUE:
        if not _closed(buf, first, last):
            raise ModelfileError(0, ERR_EOF, start)
        finish_value()
    elif state in (_KEYWORD_STATE, _PARAM_NAME, _ROLE):
        raise ModelfileError(0, ERR_EOF, start)
    if not any(c.name == "model" for c in commands):
        raise ModelfileError(0, ERR_MISSING_FROM)
    return commands
