"""Whether llama.cpp may put a model's weights in its extra CPU buffer types, and the switch that says so.

llama.cpp's CPU backend can hold weights in "extra" buffer types: repacked layouts (Q4_0 and
IQ4_NL interleaved for NEON/AVX2 kernels, what makes ARM phones fast) and, in a build made on a
machine with AMX, AMX tiles. The AMX path crashes decoding K-quants and Q8_0 on Sapphire Rapids
class Xeons (ggml-org/llama.cpp#20824, ollama/ollama#17205), the cloud machines publishers rent;
llama-bench's `--repack 0` (`llama_model_params.use_extra_bufts = false`) avoids it. llama.cpp
offers no switch for the AMX buffer type alone, so on an AMX machine all extra buffer types are
off (plain weights, same results) and everywhere else they stay on.

`BLOSSOM_EDGE_REPACK` overrides the choice: `on`, `off` or `auto` (the default, as above).

Reaches below the public API once: `llama_cpp.Llama` takes no `use_extra_bufts` argument and
fills its model parameters from `llama_cpp.llama_cpp.llama_model_default_params()` inside its
constructor, so `open_llama` swaps that function for the construction.
Public replacement: a `use_extra_bufts=` (or `repack=`) argument of `llama_cpp.Llama`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from blossom_edge.base.errors import UsageError

ENV = "BLOSSOM_EDGE_REPACK"
_CHOICES = ("auto", "on", "off")
_AMX_FLAGS = ("amx_int8", "amx_tile", "amx_bf16")


def setting() -> str:
    """The user's choice from BLOSSOM_EDGE_REPACK, checked: auto, on or off."""
    value = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if value not in _CHOICES:
        raise UsageError(f"{ENV} takes auto, on or off, not {value!r}")
    return value


def cpu_model_and_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> tuple[str, set[str]]:
    """The first CPU's model name and feature flags from /proc/cpuinfo (x86 `flags`, ARM `Features`);
    ("unknown CPU", empty) where it cannot be read."""
    model, flags = "unknown CPU", set()
    try:
        with open(cpuinfo, encoding="ascii", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "Hardware") and model == "unknown CPU":
                    model = " ".join(value.split())
                elif key in ("flags", "Features") and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return model, flags


def host_has_amx(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU reports AMX (Intel Sapphire Rapids and later), from /proc/cpuinfo's flags."""
    return any(flag in cpu_model_and_flags(cpuinfo)[1] for flag in _AMX_FLAGS)


@cache
def library_has_amx() -> bool:
    """Whether the llama.cpp we run was compiled with its AMX kernels (a build made on an AMX machine)."""
    import llama_cpp

    return b"AMX_INT8 = 1" in llama_cpp.llama_print_system_info()


def extra_buffers_allowed() -> bool:
    """The decision every model load follows: off on AMX machines (or AMX builds) unless forced on."""
    choice = setting()
    if choice != "auto":
        return choice == "on"
    return not (host_has_amx() or library_has_amx())


def describe() -> str:
    """One phrase for reports and crash lines: what this run did with the weights, and why."""
    choice = setting()
    allowed = extra_buffers_allowed()
    state = "weights repacked" if allowed else "weights not repacked"
    if choice != "auto":
        return f"{state} ({ENV}={choice})"
    return state if allowed else f"{state} (AMX machine)"


def apply(params: Any) -> Any:
    """Set the decision on a `llama_model_params` struct (the low-level API) and return it."""
    params.use_extra_bufts = extra_buffers_allowed()
    return params


@contextmanager
def _model_params_patched() -> Iterator[None]:
    from llama_cpp import llama_cpp as binding

    original = binding.llama_model_default_params

    def defaults() -> Any:
        return apply(original())

    binding.llama_model_default_params = defaults
    try:
        yield
    finally:
        binding.llama_model_default_params = original


def open_llama(**kwargs: Any) -> Any:
    """`llama_cpp.Llama(**kwargs)` with the extra buffer types decided here."""
    from llama_cpp import Llama

    with _model_params_patched():
        return Llama(**kwargs)
