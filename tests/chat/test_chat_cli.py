"""`blossom-edge chat` as a user meets it: in a pseudo-terminal (two turns, /reset, /exit, Ctrl-D), and
`--prompt` from a script with no terminal; bad inputs end in one line.

The prompts llama.cpp evaluates are captured by the hidden `--debug-prompt` hook in the real
command and compared with the model's Jinja template rendered as transformers renders it.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from blossom_edge.cli import main
from tests import ROOT
from tests.chat.conftest import demo_template, reference_render

EOS = "<|endoftext|>"
# One thread and a seed: the same prompt gives the same answer in every run, terminal or not.
FIXED = ["--threads", "1", "--seed", "11", "--max-tokens", "6", "--system", "Be brief."]
SYSTEM = {"role": "system", "content": "Be brief."}


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "COLUMNS": "60", "TERM": "xterm"}


class Terminal:
    """The command on a pseudo-terminal, as over ssh or in Termux: reads what it prints, types lines."""

    def __init__(self, *args: str, cwd: Path) -> None:
        self.master, slave = pty.openpty()
        # Its own session with the terminal as controlling tty, as a login shell gives it: Ctrl-C then
        # reaches its foreground process group (the command and its model's child) as SIGINT.
        self.proc = subprocess.Popen([sys.executable, "-m", "blossom_edge", *args], stdin=slave, stdout=slave,
                                     stderr=slave, cwd=cwd, env=_env(), close_fds=True, start_new_session=True,
                                     preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        os.close(slave)
        self.seen = ""

    def expect(self, pattern: str, timeout: float = 60.0) -> str:
        """Wait until `pattern` (a regex) appears after what was matched before; everything read so far."""
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.seen, re.S):
            left = deadline - time.monotonic()
            assert left > 0, f"no {pattern!r} in {self.seen[-2000:]!r}"
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # the child closed the terminal
                    chunk = b""
                assert chunk, f"the command ended without {pattern!r}: {self.seen[-2000:]!r}"
                self.seen += chunk.decode("utf-8", "replace")
        found = re.search(pattern, self.seen, re.S)
        consumed, self.seen = self.seen[:found.end()], self.seen[found.end():]
        return consumed

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def status(self, timeout: float = 30.0) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            os.close(self.master)


def _prompts(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


def _once(gguf: Path, prompt: str, *extra: str, cwd: Path) -> subprocess.Popen[str]:
    """`chat --prompt` from a script: stdin is not a terminal, stdout and stderr are pipes."""
    return subprocess.Popen([sys.executable, "-m", "blossom_edge", "chat", str(gguf), "--prompt", prompt, *FIXED, *extra],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=cwd, env=_env())


def test_two_turns_reset_and_exit_in_a_terminal_prompt_as_the_template_does(chat_gguf: Path, tmp_path: Path) -> None:
    log = tmp_path / "prompts.jsonl"
    term = Terminal("chat", str(chat_gguf), *FIXED, "--debug-prompt", str(log), cwd=tmp_path)
    banner = term.expect(r"> ")
    assert "tiny-chat.gguf: its own chat template, ctx 512" in banner and "/reset" in banner
    term.type("hello there\r")
    first = term.expect(r"t/s.*\n> ")
    assert "t/s · answer" in first
    term.type("and again\r")
    term.expect(r"t/s.*\n> ")
    term.type("/reset\r")
    term.expect(r"history cleared.*> ")
    term.type("fresh start\r")
    term.expect(r"t/s.*\n> ")
    term.type("/exit\r")
    assert term.status() == 0

    u1, u2, u3 = ({"role": "user", "content": c} for c in ("hello there", "and again", "fresh start"))
    seen = _prompts(log)
    p1, p2, p3 = (p["text"] for p in seen)
    assert p1 == reference_render(demo_template(), [SYSTEM, u1], eos_token=EOS)
    # The second prompt holds the first answer: the one streamed to the terminal, closed by the template.
    turn = f"{EOS}\n|Human|: and again\n|Bot|: "
    assert p2.startswith(p1) and p2.endswith(turn)
    a1 = {"role": "assistant", "content": p2[len(p1):-len(turn)]}
    assert a1["content"] and a1["content"].replace("\n", "\r\n") in first
    assert p2 == reference_render(demo_template(), [SYSTEM, u1, a1, u2], eos_token=EOS)
    assert p3 == reference_render(demo_template(), [SYSTEM, u3], eos_token=EOS)  # /reset forgot both turns
    assert all(p["tokens"] and len(p["tokens"]) <= len(p["text"].encode()) for p in seen)


def test_prompt_answers_once_without_a_terminal_in_text_and_json(chat_gguf: Path, tmp_path: Path) -> None:
    runs = [_once(chat_gguf, "你好", cwd=tmp_path), _once(chat_gguf, "你好", "--json", cwd=tmp_path)]
    (plain_out, plain_err), (json_out, json_err) = (run.communicate(timeout=120) for run in runs)
    assert [run.returncode for run in runs] == [0, 0], plain_err + json_err
    record = json.loads(json_out)
    assert record["model"] == str(chat_gguf) and record["prompt"] == "你好"
    assert record["tokens"]["prompt"] > 0 and record["tokens"]["answer"] >= 6
    assert record["tokens_per_second"]["prompt"] > 0 and record["tokens_per_second"]["generation"] > 0
    assert plain_out == record["answer"] + "\n"  # the answer alone on stdout, figures on stderr
    assert re.fullmatch(r"prompt \d+ tok [\d.]+ t/s · answer \d+ tok [\d.]+ t/s\n", plain_err)


@pytest.mark.parametrize("make, args, expected", [
    (None, ["missing.gguf"], "no such GGUF file"),
    ("text", ["notes.gguf"], "is not a GGUF file"),
    (None, ["v5-4x"], "unknown model alias 'v5-4x'"),
    (None, ["4b"], "run `blossom-edge quantize 4b q4_k_m` first"),
    ("gguf", ["tiny.gguf", "--json"], "--json needs --prompt"),
])
def test_bad_inputs_end_in_one_line(make, args, expected, chat_gguf: Path, tmp_path: Path, capsys,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    if make == "text":
        (tmp_path / "notes.gguf").write_text("not a model\n")
    elif make == "gguf":
        (tmp_path / "tiny.gguf").symlink_to(chat_gguf)
    assert main(["chat", *args]) != 0
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1, err


def test_a_native_crash_while_answering_is_one_line(chat_gguf: Path, tmp_path: Path) -> None:
    """The model's child dies of SIGSEGV mid-answer, as llama.cpp would on a bad kernel: injected through a
    `sitecustomize` the spawned child imports; the command itself is the shipped code."""
    site = tmp_path / "inject"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import os, signal, sys\n"
        "import blossom_edge.chat.worker as worker\n\n"
        "def dies(self, tokens, sampling, stops, emit, stopped):\n"
        "    emit('partial ')\n"
        "    sys.stderr.flush()\n"
        "    os.write(2, b'ggml/src/ggml-cpu/ops.cpp:99: GGML_ASSERT(ne00 % 32 == 0) failed\\n')\n"
        "    os.kill(os.getpid(), signal.SIGSEGV)\n\n"
        "worker.ChatModel.answer = dies\n")
    env = {**_env(), "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    done = subprocess.run([sys.executable, "-m", "blossom_edge", "chat", str(chat_gguf), "--prompt", "hi", *FIXED],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert done.returncode != 0 and done.stdout == "partial "
    assert done.stderr.count("\n") == 1, done.stderr
    assert "llama.cpp crashed (SIGSEGV) while chatting with tiny-chat.gguf: " in done.stderr
    assert "GGML_ASSERT(ne00 % 32 == 0) failed" in done.stderr


def test_ctrl_c_stops_an_answer_the_chat_goes_on_and_ctrl_d_ends_it_with_0(chat_gguf: Path, tmp_path: Path) -> None:
    # Greedy on random weights never ends by itself: only Ctrl-C stops this answer before the context is full.
    term = Terminal("chat", str(chat_gguf), "--threads", "1", "--temperature", "0", "--ctx", "16384", cwd=tmp_path)
    term.expect(r"> ")
    term.type("go on forever\r")
    term.expect(r"go on forever\r\n.")  # the answer has started streaming
    term.type("\x03")
    stats = term.expect(r"t/s.*\n> ")
    # At 60 columns the dim figures line may wrap before "stopped": read it without colours and line breaks.
    plain = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", stats).split())
    answered = re.search(r"answer (\d+) tok [^>]*· stopped", plain)
    assert answered and int(answered.group(1)) < 16000, stats[-300:]
    term.type("\x04")
    assert term.status() == 0
