"""A native crash inside llama.cpp ends in one line and a non-zero exit, and leaves no file under a final name.

The crashes are real: a child process that kills itself with the signal llama.cpp would die of.
Injected into a command run through a `sitecustomize` on PYTHONPATH, which swaps the function the
model-running child executes; the parent (the command) is the shipped code, unchanged.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from blossom_edge.native.isolated import NativeCrash, cpu_summary, run_isolated
from tests import ROOT
from tests.quantize.test_quantize_tiny import write_tiny_gguf


def _dies_of(signum: int) -> None:
    """What llama.cpp does on a bad kernel or a failed assertion: the process ends by a signal."""
    sys.stderr.flush()
    os.write(2, b"/src/ggml-cpu/ops.cpp:123: GGML_ASSERT(ne00 % 32 == 0) failed\n")
    os.kill(os.getpid(), signum)


def _emits_then_returns(n: int, emit) -> int:
    for i in range(n):
        emit(i)
    return n * 10


def _raises_usage() -> None:
    from blossom_edge.base.errors import UsageError

    raise UsageError("a refusal the user can fix")


@pytest.mark.parametrize("signum", [signal.SIGSEGV, signal.SIGABRT, signal.SIGILL, signal.SIGBUS])
def test_a_signal_death_is_one_line_naming_task_file_reason_and_cpu(signum: int) -> None:
    with pytest.raises(NativeCrash) as caught:
        run_isolated("verifying", Path("/models/blossom-X-Q4_K_M.gguf"), _dies_of, signum)
    message = str(caught.value)
    assert "\n" not in message
    assert f"llama.cpp crashed ({signal.Signals(signum).name}) while verifying blossom-X-Q4_K_M.gguf" in message
    assert "GGML_ASSERT(ne00 % 32 == 0) failed" in message  # llama.cpp's own last word, from its stderr
    assert cpu_summary() in message and "AMX" in cpu_summary()  # model name, architecture, AMX or not
    assert "repacked: " in message  # and what to try about it


def test_events_arrive_in_order_before_the_result() -> None:
    seen: list[int] = []
    assert run_isolated("testing", None, _emits_then_returns, 5, on_event=seen.append) == 50
    assert seen == [0, 1, 2, 3, 4]


def test_an_exception_in_the_child_is_raised_here_as_itself() -> None:
    from blossom_edge.base.errors import UsageError

    with pytest.raises(UsageError, match="a refusal the user can fix"):
        run_isolated("testing", None, _raises_usage)


def _crash_injection(tmp_path: Path, *statements: str) -> dict[str, str]:
    """An environment whose Python processes replace the verification child's work with `statements`
    (run with `path`, the file being verified, in scope)."""
    site = tmp_path / "inject"
    site.mkdir()
    body = "".join(f"    {line}\n" for line in statements)
    (site / "sitecustomize.py").write_text(
        "import json, os, signal, time\n"
        "import blossom_edge.quantize.verify as verify\n\n"
        f"def injected(path, *args):\n{body}\n"
        "verify._generate = injected\n")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)]), "HF_HUB_OFFLINE": "1"}


def _quantize_cmd(src: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "blossom_edge", "quantize", str(src), "q4_k_m", "-o", str(out)]


@pytest.mark.slow
def test_quantize_whose_verification_crashes_ends_in_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    src = write_tiny_gguf(tmp_path / "tiny-BF16.gguf")
    out = tmp_path / "out"
    env = _crash_injection(tmp_path, "os.kill(os.getpid(), signal.SIGSEGV)")
    done = subprocess.run(_quantize_cmd(src, out), env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("blossom-edge: error: llama.cpp crashed (SIGSEGV) while verifying tiny-Q4_K_M.gguf")
    assert list(out.iterdir()) == []  # neither the final file, its manifest, nor the partial


@pytest.mark.slow
def test_quantize_killed_during_verification_leaves_no_final_file(tmp_path: Path) -> None:
    """SIGKILL cannot be cleaned up after: the partial may stay, but the final name never appears,
    the verification child does not outlive the command, and the next run takes the partial over."""
    src = write_tiny_gguf(tmp_path / "tiny-BF16.gguf")
    out = tmp_path / "out"
    marker = tmp_path / "verifying.json"
    env = _crash_injection(tmp_path,
                           f'open({str(marker)!r}, "w").write(json.dumps({{"pid": os.getpid(), "path": str(path)}}))',
                           "time.sleep(120)")
    proc = subprocess.Popen(_quantize_cmd(src, out), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert marker.exists(), proc.stderr.read().decode() if proc.poll() is not None else "no verification"
        time.sleep(0.2)
        seen = json.loads(marker.read_text())
        proc.kill()
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert seen["path"].endswith("tiny-Q4_K_M.gguf.partial")  # what was being verified was not the final name
    assert not (out / "tiny-Q4_K_M.gguf").exists()
    assert not (out / "tiny-Q4_K_M.manifest.json").exists()
    deadline = time.monotonic() + 10
    while _alive(seen["pid"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(seen["pid"]), "the verification child outlived the killed command"
    again = subprocess.run(_quantize_cmd(src, out), capture_output=True, text=True, timeout=300,
                           env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in out.iterdir()) == ["tiny-Q4_K_M.gguf", "tiny-Q4_K_M.manifest.json"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return not (status.exists() and status.read_text().split(") ")[-1].startswith("Z"))


@pytest.mark.slow
def test_a_release_whose_verification_crashes_resumes_to_what_quantize_makes_alone(tmp_path: Path) -> None:
    """The crash fails the type in one line with nothing under its final name; the next run redoes
    it, and the file is byte for byte what `quantize` makes alone."""
    from blossom_edge.quantize.pipeline import quantize_pipeline
    from tests.builders.checkpoints import build_checkpoint

    ckpt = build_checkpoint(tmp_path / "ckpt" / "blossom-v5-4b", "qwen2", hidden=256, layers=2)
    out = tmp_path / "release"
    cmd = [sys.executable, "-m", "blossom_edge", "release", str(ckpt), "--quants", "q4_k_m", "-o", str(out)]
    crashed = subprocess.run(cmd, env=_crash_injection(tmp_path, "os.kill(os.getpid(), signal.SIGSEGV)"),
                             capture_output=True, text=True, timeout=600)
    assert crashed.returncode == 1, crashed.stderr
    assert crashed.stderr.count("\n") == 1, crashed.stderr
    assert "llama.cpp crashed (SIGSEGV) while verifying" in crashed.stderr
    assert not list(out.rglob("*-Q4_K_M.gguf*")) or all(".release" in p.parts for p in out.rglob("*-Q4_K_M.gguf*"))
    resumed = subprocess.run(cmd, env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)},
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    alone = quantize_pipeline(str(ckpt), "q4_k_m", tmp_path / "alone").path
    assert (out / "blossom-v5-4b" / alone.name).read_bytes() == alone.read_bytes()
