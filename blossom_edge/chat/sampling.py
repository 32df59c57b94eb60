"""How a chat samples, and how long its context is: flags, else the publisher's PARAMETERs, else llama.cpp.

The publisher's Ollama Modelfiles set PARAMETERs (temperature, top_p, num_ctx, …) for some
releases; where the catalog records them with a source (`ModelInfo.parameters`), a chat with
that model uses them, so it answers as `ollama run` would. Everything else keeps llama.cpp's
own defaults (common_params_sampling: temperature 0.8, top_k 40, top_p 0.95, min_p 0.05, no
repeat penalty), which llama-cpp-python shares.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from blossom_edge.model.catalog import ModelInfo

# Ollama's PARAMETER names → Sampling's fields (num_ctx is the context, read by `context_size`).
_OLLAMA_NAMES = {"temperature": "temperature", "top_p": "top_p", "top_k": "top_k", "min_p": "min_p",
                 "repeat_penalty": "repeat_penalty", "seed": "seed", "num_predict": "max_tokens"}


@dataclass(frozen=True)
class Sampling:
    """The sampler settings of every answer; `max_tokens` None means until the model stops or the context ends."""

    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.0
    seed: int | None = None
    max_tokens: int | None = None
    origin: str = "llama.cpp's defaults"

    def completion_args(self) -> dict[str, Any]:
        """The keyword arguments of llama-cpp-python's `create_completion`."""
        args = asdict(self)
        del args["origin"]
        return args


def _published(model: ModelInfo | None) -> dict[str, float | int]:
    return dict(model.parameters) if model is not None else {}


def sampling_for(model: ModelInfo | None, **given: float | int | None) -> Sampling:
    """The catalog's published PARAMETERs for `model` over llama.cpp's defaults, then the flags `given`
    (Sampling's field names; None means not given)."""
    published = {_OLLAMA_NAMES[k]: v for k, v in _published(model).items() if k in _OLLAMA_NAMES}
    chosen = Sampling()
    if published and model is not None:
        chosen = replace(chosen, **published, origin=f"{model.alias}'s published parameters")
    flags = {k: v for k, v in given.items() if v is not None}
    if flags:
        chosen = replace(chosen, **flags, origin=f"{chosen.origin} with {', '.join(sorted(flags))} from flags")
    return chosen


def context_size(model: ModelInfo | None, trained: int, given: int | None) -> int:
    """--ctx, else the published num_ctx, else the model's trained context up to the Modelfiles' default
    (the KV cache is reserved for all of it at load time)."""
    from blossom_edge.ollama.modelfile import DEFAULT_NUM_CTX

    if given is not None:
        return given
    published = _published(model).get("num_ctx")
    if published:
        return int(published)
    return min(trained, DEFAULT_NUM_CTX) if trained > 0 else DEFAULT_NUM_CTX
