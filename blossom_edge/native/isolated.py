"""llama.cpp's work in a child process, so a native crash ends in one line instead of a signal death.

llama.cpp runs native code on the user's file and CPU. A faulty kernel (the AMX path on some
Xeons), a damaged file or a failed assertion ends the process with SIGSEGV, SIGABRT, SIGILL or
SIGBUS. No Python handler can catch these. In the CLI the user sees a bare "Segmentation fault";
in a release worker Ray retries it in a loop; in the test session the session dies. So every
model load or decode runs in a spawned child (`run_isolated`). The parent waits, relays the
child's progress events, and turns a death by signal into a `NativeCrash`: one line naming what
ran, on which file and CPU, and what to try.

Timings a benchmark reports are taken inside the child, so only the child's start-up is added
to the wall time. The child writes native output (llama.cpp's assertions) to a file the parent
reads for the reason, while Python's stderr (progress bars) still reaches the terminal.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from blossom_edge.base.errors import BlossomError, ExternalToolError

T = TypeVar("T")

# How long a child may take to unwind after the parent asks it to stop, before it is killed.
_STOP_GRACE_S = 10.0
# The tail of the child's native output searched for llama.cpp's reason.
_NATIVE_TAIL = 16384


class NativeCrash(ExternalToolError):
    """llama.cpp ended its process by a signal (or an unexpected exit) while running a model."""


def run_isolated(what: str, path: Path | str | None, fn: Callable[..., T], *args: Any,
                 on_event: Callable[[Any], None] | None = None, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)` in a spawned child; its result or exception comes back as if run here.

    `what` is what the child does ("verifying", "benchmarking"), `path` the model file, both for
    the crash line. With `on_event`, the child's `fn` receives `emit=` and every object it emits
    reaches `on_event` here, in order, before the result (progress bars stay in this process).
    `fn`, its arguments and its result must be picklable (a module-level function and plain data).
    """
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    # Never written: its end closes when this process dies, however it dies, and the child then exits.
    lifeline, held = context.Pipe(duplex=False)
    fd, native_log = tempfile.mkstemp(prefix="blossom-edge-native-", suffix=".log")
    os.close(fd)
    child = context.Process(target=_child_main, name=f"blossom-edge {what}", daemon=True,
                            args=(sender, lifeline, native_log, fn, args, kwargs, on_event is not None))
    try:
        child.start()
        sender.close()
        lifeline.close()
        outcome = _follow(receiver, on_event)
        child.join()
        if outcome is None:
            raise NativeCrash(crash_line(what, path, child.exitcode, _native_tail(native_log)))
        kind, value = outcome
        if kind == "err":
            raise value
        return value
    finally:
        receiver.close()
        _stop(child)
        held.close()
        Path(native_log).unlink(missing_ok=True)


def _follow(receiver: Any, on_event: Callable[[Any], None] | None) -> tuple[str, Any] | None:
    """Relay events until the child's result; None when the child died without sending one."""
    while True:
        try:
            kind, value = pickle.loads(receiver.recv_bytes())
        except EOFError:
            return None
        if kind == "event":
            if on_event is not None:
                on_event(value)
            continue
        return kind, value


def _stop(child: Any) -> None:
    """Make sure the child is gone: asked to unwind (SIGTERM, it cleans its partial files), then killed."""
    if child.pid is None or child.exitcode is not None:
        return
    child.terminate()
    child.join(_STOP_GRACE_S)
    if child.exitcode is None:
        child.kill()
        child.join()


def crash_line(what: str, path: Path | str | None, exitcode: int | None, native: str) -> str:
    """The one line for a child that died: signal, task, file, llama.cpp's reason, CPU, what to try."""
    from blossom_edge.engine import weight_repack

    if exitcode is not None and exitcode < 0:
        try:
            how = f"crashed ({signal.Signals(-exitcode).name})"
        except ValueError:
            how = f"was killed by signal {-exitcode}"
    else:
        how = f"ended its process (exit {exitcode})"
    target = f" {Path(path).name}" if path is not None else ""
    reason = _reason(native)
    try:
        repack = weight_repack.describe()
        hint = "try BLOSSOM_EDGE_REPACK=off" if weight_repack.extra_buffers_allowed() else \
            "check the file with `blossom-edge inspect`"
    except BlossomError:  # a wrong BLOSSOM_EDGE_REPACK, which the child refused too
        repack, hint = "weights as configured", "check BLOSSOM_EDGE_REPACK"
    return f"llama.cpp {how} while {what}{target}{': ' + reason if reason else ''}; {cpu_summary()}, {repack}: {hint}"


def cpu_summary() -> str:
    """This CPU as a crash report needs it: model name, architecture, widest vector unit, AMX or not."""
    import platform

    from blossom_edge.engine.weight_repack import cpu_model_and_flags, host_has_amx

    model, flags = cpu_model_and_flags()
    vector = next((name for flag, name in (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("sve", "SVE"),
                                           ("asimd", "NEON")) if flag in flags), "no SIMD flags")
    amx = "AMX" if host_has_amx() else "no AMX"
    return f"{model} ({platform.machine()}, {vector}, {amx})"


def _reason(native: str) -> str:
    """llama.cpp's own last word before dying: an assertion, else an error line."""
    lines = [ln.strip() for ln in native.splitlines() if ln.strip()]
    for marker in ("GGML_ASSERT", "GGML_ABORT", "error", "Error"):
        found = next((ln for ln in reversed(lines) if marker in ln), None)
        if found:
            return found[-100:]
    return ""


def _native_tail(path: str) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - _NATIVE_TAIL))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


# ----------------------------------------------------------------------------- in the child


def _child_main(sender: Any, lifeline: Any, native_log: str, fn: Callable[..., Any], args: tuple[Any, ...],
                kwargs: dict[str, Any], relay: bool) -> None:
    from blossom_edge.base.signals import signals_as_interrupts

    _exit_with_parent(lifeline)
    _native_output_to(native_log)

    def send(kind: str, value: Any) -> None:
        sender.send_bytes(pickle.dumps((kind, value)))

    if relay:
        kwargs = {**kwargs, "emit": lambda event: send("event", event)}
    with signals_as_interrupts():
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:  # everything goes back to the parent, which decides
            send("err", _transportable(exc))
        else:
            send("ok", result)
    sender.close()


def _transportable(exc: BaseException) -> BaseException:
    """The exception itself if it survives pickling; else one that carries its message.

    A bug's traceback would be lost in the parent, so with BLOSSOM_EDGE_DEBUG it is printed here.
    """
    from blossom_edge.base.errors import one_line

    if one_line(exc) is None and os.environ.get("BLOSSOM_EDGE_DEBUG"):
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    try:
        return pickle.loads(pickle.dumps(exc))
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def _native_output_to(native_log: str) -> None:
    """Native writes to fd 2 go to `native_log`; Python's stderr keeps the terminal (or pipe) it had.

    GGML_NO_BACKTRACE stops llama.cpp's abort handler from attaching gdb to print a backtrace,
    which would stall the child for seconds and print pages the user cannot act on.
    """
    os.environ["GGML_NO_BACKTRACE"] = "1"
    sys.stderr.flush()
    terminal = os.dup(2)
    log_fd = os.open(native_log, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    sys.stderr = open(terminal, "w", buffering=1, encoding=sys.stderr.encoding or "utf-8",  # noqa: SIM115
                      errors="replace")


def _exit_with_parent(lifeline: Any) -> None:
    """Die as soon as the parent does: a SIGKILLed command cannot stop us, and an orphan would
    keep a core busy (and its memory) for a result nobody reads. The watching thread sleeps in a
    read of a pipe the parent never writes, which ends only when the parent's end closes."""

    def watch() -> None:
        try:
            lifeline.recv_bytes()
        except (EOFError, OSError):
            pass
        os._exit(4)

    threading.Thread(target=watch, daemon=True).start()
