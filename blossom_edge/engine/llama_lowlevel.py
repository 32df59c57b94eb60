"""The handful of llama.cpp calls that llama-bench- and llama-imatrix-style runs need, through llama-cpp-python.

The high-level `Llama` class cannot do what those tools do (a context per test, random
tokens decoded in batches, a synchronise after each generated token; several sequences per
batch with an eval callback and logits at every position), so they talk to llama.h's
functions as llama-cpp-python binds them, with ctypes buffers for their arguments, and
attach a persistent thread pool (`threadpool.py`) to every context.
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

from blossom_edge.base.errors import ExternalToolError
from blossom_edge.base.signals import deferred
from blossom_edge.engine.llama_log import captured, with_reason
from blossom_edge.engine.threadpool import ThreadPools


class LlamaEngine:
    """Models, contexts and decoding on llama.cpp's own API, with its log kept quiet."""

    def __init__(self) -> None:
        import llama_cpp

        logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
        llama_cpp.llama_backend_init()
        self.lib = llama_cpp
        self._pools = ThreadPools.load(Path(llama_cpp.__file__).parent / "lib")

    def load(self, path: Path, *, vocab_only: bool = False) -> Any:
        from blossom_edge.engine.weight_repack import apply

        params = apply(self.lib.llama_model_default_params())
        params.n_gpu_layers = 0
        params.vocab_only = vocab_only
        with captured() as log:
            model = self.lib.llama_model_load_from_file(str(path).encode(), params)
        if not model:
            raise ExternalToolError(with_reason(f"llama.cpp could not load {path}", log))
        return model

    def free_model(self, model: Any) -> None:
        self.lib.llama_model_free(model)

    @contextmanager
    def context(self, model: Any, n_ctx: int, n_batch: int, n_ubatch: int, threads: int,
                cb_eval: Any = None, n_seq_max: int = 1) -> Iterator[Any]:
        """A context with its own persistent thread pool, as llama-bench sets one up.

        `cb_eval` is a `ggml_backend_sched_eval_callback` (see eval_callback.py); the caller
        keeps it alive for the context's lifetime.
        """
        params = self.lib.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = n_batch
        params.n_ubatch = n_ubatch
        params.n_threads = threads
        params.n_threads_batch = threads
        params.no_perf = True
        params.n_seq_max = n_seq_max
        if cb_eval is not None:
            params.cb_eval = cb_eval
            params.cb_eval_user_data = None
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

    def adds_eos(self, model: Any) -> bool:
        """Whether the tokenizer appends EOS to a text (llama-perplexity refuses such models)."""
        return bool(self.lib.llama_vocab_get_add_eos(self.lib.llama_model_get_vocab(model)))

    def train_context(self, model: Any) -> int:
        """The context length the model was trained on, from its GGUF."""
        return int(self.lib.llama_model_n_ctx_train(model))

    def token_text(self, model: Any, token: int) -> str | None:
        """A token's vocabulary string (special tokens as written), or None outside the vocabulary."""
        vocab = self.lib.llama_model_get_vocab(model)
        if not 0 <= token < self.lib.llama_vocab_n_tokens(vocab):
            return None
        return self.lib.llama_vocab_get_text(vocab, token).decode("utf-8", "replace")

    def clear(self, ctx: Any) -> None:
        self.lib.llama_memory_clear(self.lib.llama_get_memory(ctx), False)

    def decode(self, ctx: Any, tokens: list[int]) -> None:
        array = (self.lib.llama_token * len(tokens))(*tokens)
        with deferred():
            failed = self.lib.llama_decode(ctx, self.lib.llama_batch_get_one(array, len(tokens))) != 0
        if failed:
            raise ExternalToolError("llama_decode failed during the benchmark")

    def decode_scored(self, ctx: Any, tokens: list[int], positions: list[int], seqs: list[int],
                      outputs: list[bool] | None = None) -> None:
        """Decode tokens of one or more sequences, asking for logits where `outputs` says (every position
        when None); `logits` then has one row per output, in batch order.

        With logits only for the last token, llama.cpp drops the other rows before the last
        layer's feed-forward, which an activation statistic must not miss.
        """
        batch = self.lib.llama_batch_init(len(tokens), 0, 1)
        try:
            for i, (token, pos, seq) in enumerate(zip(tokens, positions, seqs)):
                batch.token[i] = token
                batch.pos[i] = pos
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = seq
                batch.logits[i] = True if outputs is None else outputs[i]
            batch.n_tokens = len(tokens)
            # The eval callback runs Python inside this call; a Ctrl-C must wait for it to return.
            with deferred():
                failed = self.lib.llama_decode(ctx, batch) != 0
            if failed:
                raise ExternalToolError(f"llama_decode failed on a batch of {len(tokens)} tokens")
        finally:
            self.lib.llama_batch_free(batch)

    def logits(self, ctx: Any, rows: int, n_vocab: int) -> Any:
        """The last decode's logits as a (rows, n_vocab) float32 view of llama.cpp's buffer, valid until the next decode."""
        import numpy as np

        return np.ctypeslib.as_array(self.lib.llama_get_logits(ctx), shape=(rows, n_vocab))

    def tokenize(self, model: Any, text: str, *, add_special: bool, parse_special: bool) -> list[int]:
        """llama.cpp's tokenizer on `text`, sized in one retry as common_tokenize does."""
        vocab = self.lib.llama_model_get_vocab(model)
        raw = text.encode("utf-8")
        capacity = len(raw) + 2 * int(add_special) + 1
        for _ in range(2):
            out = (self.lib.llama_token * capacity)()
            n = self.lib.llama_tokenize(vocab, raw, len(raw), out, capacity, add_special, parse_special)
            if n >= 0:
                return list(out[:n])
            capacity = -n
        raise ExternalToolError("llama.cpp could not tokenize the calibration text")

    def synchronize(self, ctx: Any) -> None:
        self.lib.llama_synchronize(ctx)
