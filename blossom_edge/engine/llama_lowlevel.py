"""The handful of llama.cpp calls a llama-bench-style measurement needs, through llama-cpp-python.

The high-level `Llama` class cannot time what llama-bench times (a context per test, random
tokens decoded in batches, a synchronise after each generated token), so the benchmark talks
to llama.h's functions as llama-cpp-python binds them, with ctypes buffers for their
arguments, and attaches a persistent thread pool (`threadpool.py`) to every context.
Public replacement: none in llama-cpp-python 0.3.36; a `Llama.bench()` or context-level
API with thread pools would replace this module.
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from blossom_edge.engine.llama_log import captured, with_reason
from blossom_edge.engine.threadpool import ThreadPools
from blossom_edge.errors import ExternalToolError


class LlamaEngine:
    """Models, contexts and decoding on llama.cpp's own API, with its log kept quiet."""

    def __init__(self) -> None:
        import llama_cpp

        logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
        llama_cpp.llama_backend_init()
        self.lib = llama_cpp
        self._pools = ThreadPools.load(Path(llama_cpp.__file__).parent / "lib")

    def load(self, path: Path) -> Any:
        params = self.lib.llama_model_default_params()
        params.n_gpu_layers = 0
        with captured() as log:
            model = self.lib.llama_model_load_from_file(str(path).encode(), params)
        if not model:
            raise ExternalToolError(with_reason(f"llama.cpp could not load {path}", log))
        return model

    def free_model(self, model: Any) -> None:
        self.lib.llama_model_free(model)

    @contextmanager
    def context(self, model: Any, n_ctx: int, n_batch: int, n_ubatch: int, threads: int) -> Iterator[Any]:
        """A context with its own persistent thread pool, as llama-bench sets one up."""
        params = self.lib.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = n_batch
        params.n_ubatch = n_ubatch
        params.n_threads = threads
        params.n_threads_batch = threads
        params.no_perf = True
        with captured() as log:
            ctx = self.lib.llama_init_from_model(model, params)
        if not ctx:
            raise ExternalToolError(with_reason(f"llama.cpp could not create a context of {n_ctx} tokens", log))
        pool = self._pools.new(threads) if self._pools is not None else None
        try:
            if pool:
                self._pools.attach(ctx, pool)
            yield ctx
        finally:
            self.lib.llama_free(ctx)
            if pool:
                self._pools.free(pool)

    def describe(self, model: Any) -> tuple[str, int, int]:
        """llama-bench's model_type, model_size and model_n_params."""
        buf = ctypes.create_string_buffer(256)
        self.lib.llama_model_desc(model, buf, len(buf))
        return buf.value.decode(), self.lib.llama_model_size(model), self.lib.llama_model_n_params(model)

    def vocab(self, model: Any) -> tuple[int, int | None]:
        """(vocabulary size, BOS id if the model adds one)."""
        vocab = self.lib.llama_model_get_vocab(model)
        bos = self.lib.llama_vocab_bos(vocab) if self.lib.llama_vocab_get_add_bos(vocab) else None
        return self.lib.llama_vocab_n_tokens(vocab), bos

    def clear(self, ctx: Any) -> None:
        self.lib.llama_memory_clear(self.lib.llama_get_memory(ctx), False)

    def decode(self, ctx: Any, tokens: list[int]) -> None:
        array = (self.lib.llama_token * len(tokens))(*tokens)
        if self.lib.llama_decode(ctx, self.lib.llama_batch_get_one(array, len(tokens))) != 0:
            raise ExternalToolError("llama_decode failed during the benchmark")

    def synchronize(self, ctx: Any) -> None:
        self.lib.llama_synchronize(ctx)
