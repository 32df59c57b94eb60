"""llama.cpp's quantizer in a child process (`python -m blossom_edge.quantize.child SPEC`), and its log.

llama.cpp aborts the whole process on some bad inputs; in a child that becomes one line of
error and a removed partial file. The child's log is read line by line to advance the caller's
progress and to learn which type llama.cpp chose for each tensor, which verification then checks
against the file.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from blossom_edge.base.atomic import atomic_output
from blossom_edge.base.errors import ExternalToolError
from blossom_edge.base.progress import NO_PROGRESS, Progress
from blossom_edge.device.threads import all_cores
from blossom_edge.quantize.types import QuantType, require_imatrix

CHILD_MODULE = "blossom_edge.quantize.child"

_TENSOR_LINE = re.compile(
    r"\[\s*(\d+)/\s*(\d+)\]\s+(\S+)\s+- \[[^\]]*\], type =\s*(\w+),\s*(?:converting to (\w+))?"
)
_FAIL_LINE = re.compile(r"failed to quantize:\s*(.+)")
# With an importance matrix, a note ("====== did not find weights for …") can split a tensor's
# line; its "converting to" then starts a later line and belongs to the tensor announced last.
_CONVERTING = re.compile(r"^converting to (\w+)")


@dataclass
class QuantizeRun:
    """What one quantizer run produced: the file, the type chosen per tensor, and its time."""

    path: Path
    qtype: QuantType
    chosen_types: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def quantize_gguf(
    src: Path,
    dst: Path,
    qtype: QuantType,
    *,
    threads: int | None = None,
    imatrix: Path | None = None,
    progress: Progress = NO_PROGRESS,
) -> QuantizeRun:
    """Quantize one GGUF file with llama.cpp's quantizer; `dst` appears only if it succeeded."""
    with atomic_output(dst) as partial:
        done = quantize_into(src, partial, qtype, threads=threads, imatrix=imatrix, progress=progress)
    return QuantizeRun(dst, qtype, done.chosen_types, done.seconds)


def quantize_into(
    src: Path,
    out: Path,
    qtype: QuantType,
    *,
    threads: int | None = None,
    imatrix: Path | None = None,
    progress: Progress = NO_PROGRESS,
) -> QuantizeRun:
    """Quantize into `out` exactly, for a caller that owns the output's atomicity (a partial it verifies)."""
    require_imatrix(qtype, imatrix)
    spec = {
        "input": str(src),
        "output": str(out),
        "ftype": qtype.ftype,
        "threads": threads or all_cores(),
        "imatrix": str(imatrix) if imatrix else None,
    }
    start = time.perf_counter()
    chosen, _ = _run_child(spec, label=f"quantizing to {qtype.name}", progress=progress)
    return QuantizeRun(out, qtype, chosen, time.perf_counter() - start)


def _run_child(spec: dict[str, Any], *, label: str, progress: Progress) -> tuple[dict[str, str], list[str]]:
    """Run the quantizer child, follow its log, and turn any failure into one line."""
    cmd = [sys.executable, "-m", CHILD_MODULE, json.dumps(spec)]
    chosen: dict[str, str] = {}
    log: list[str] = []
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
    try:
        with progress.task(label) as task:
            assert proc.stdout is not None
            for line in proc.stdout:
                log.append(line.rstrip("\n"))
                match = _TENSOR_LINE.search(line)
                if match:
                    index, total, name, old_type, new_type = match.groups()
                    chosen[name] = (new_type or old_type).upper()
                    task.update(completed=int(index), total=int(total))
                    continue
                resumed = _CONVERTING.match(line)
                if resumed and chosen:
                    chosen[next(reversed(chosen))] = resumed.group(1).upper()
        code = proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if code != 0:
        raise ExternalToolError(failure_line(spec["input"], code, log))
    return chosen, log


def failure_line(src: str, code: int, log: list[str]) -> str:
    """The most telling line of a failed run: llama.cpp's own reason, else its last words."""
    for line in reversed(log):
        match = _FAIL_LINE.search(line)
        if match:
            return f"llama.cpp could not quantize {src}: {match.group(1).strip()}"
    last = next((ln.strip() for ln in reversed(log) if ln.strip() and not ln.startswith("[")), "")
    for line in log:
        if "GGML_ASSERT" in line or "error" in line.lower():
            last = line.strip()
            break
    how = f"was killed by signal {-code}" if code < 0 else f"failed (exit {code})"
    detail = f": {last}" if last else ""
    return f"llama.cpp's quantizer {how} on {src}{detail}"


def _exit_when_orphaned(parent: int, interval: float = 0.1) -> None:
    """Die as soon as the parent does (a SIGKILLed release worker cannot remove us).

    A retried task writes the same `.partial`; an orphan still writing into it would corrupt
    the retry's output, so the child checks its parent while llama.cpp works (foreign calls
    release the GIL, so this thread runs meanwhile).
    """
    import os
    import threading

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(4)

    threading.Thread(target=watch, daemon=True).start()


def _child_main(spec: dict[str, Any]) -> int:
    """Inside the child: the importance matrix read, then llama.cpp's quantizer with its log on stdout."""
    import os

    from blossom_edge.engine.quantizer import quantize

    _exit_when_orphaned(os.getppid())
    from blossom_edge.imatrix.reader import load_imatrix, provenance_keys

    imatrix = kv = None
    if spec.get("imatrix"):
        meta = load_imatrix(Path(spec["imatrix"]))
        imatrix, kv = meta["entries"], provenance_keys(meta)
    code = quantize(spec["input"], spec["output"], int(spec["ftype"]), int(spec["threads"]), imatrix=imatrix, kv=kv)
    return 0 if code == 0 else 3


if __name__ == "__main__":
    sys.exit(_child_main(json.loads(sys.argv[1])))
