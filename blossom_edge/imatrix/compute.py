"""An importance matrix computed the way llama-imatrix computes it, through llama-cpp-python.

Same procedure and the same batches, so the same figures: the text is tokenized once (BOS
added as the model asks) and cut into chunks of `ctx` tokens; as many chunks as fill
llama.cpp's default 2048-token batch are decoded together, one sequence each, from an empty
cache, each chunk's first token replaced by BOS and logits asked at every position; the eval
callback sums the squared activations entering every weight of the layers; the perplexity
of each chunk's second half is what llama-imatrix prints as it goes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blossom_edge.base.errors import UsageError
from blossom_edge.base.progress import NO_PROGRESS, Progress
from blossom_edge.imatrix.text import CalibrationText

DEFAULT_CTX = 512
MIN_CTX = 64
# llama-imatrix's defaults (common_params n_batch, n_ubatch): chunks per decode follow from them.
_BATCH, _UBATCH = 2048, 512
# Rows of logits turned into log-probabilities at a time: a bounded float64 copy, whatever the vocabulary.
_SCORE_ROWS = 64


@dataclass(frozen=True)
class ChunkDone:
    """Progress after one chunk: for a bar, and for the running perplexity llama-imatrix prints."""

    done: int
    total: int
    tokens_per_second: float
    perplexity: float


@dataclass(frozen=True)
class ImatrixResult:
    """`chunks` were computed; `chunk_count` is what the file records, llama-imatrix's figure: whole
    chunks' worth of counted tokens (llama.cpp's batch splitting can leave a few rows too small
    to count, so three chunks decoded together may record two, as llama-imatrix's would)."""

    path: Path
    entries: int
    chunks: int
    chunk_count: int
    chunk_size: int
    tokens: int
    perplexity: float
    seconds: float
    # Decoding and statistics only: what llama-imatrix's "seconds per pass" measures.
    seconds_per_chunk: float
    datasets: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "entries": self.entries, "chunks": self.chunks,
                "chunk_count": self.chunk_count, "chunk_size": self.chunk_size,
                "tokens": self.tokens, "perplexity": round(self.perplexity, 4), "seconds": round(self.seconds, 3),
                "seconds_per_chunk": round(self.seconds_per_chunk, 3), "datasets": self.datasets}


def compute_imatrix(
    model_path: Path,
    out: Path,
    text: CalibrationText,
    *,
    ctx: int = DEFAULT_CTX,
    chunks: int | None = None,
    threads: int,
    provenance: Mapping[str, str | int] | None = None,
    on_chunk: Callable[[ChunkDone], None] | None = None,
) -> ImatrixResult:
    """Compute the matrix of `model_path` on `text` and write it to `out` (whole or not at all)."""
    import numpy as np

    from blossom_edge.engine.eval_callback import MatmulTap
    from blossom_edge.engine.llama_lowlevel import LlamaEngine
    from blossom_edge.imatrix.collector import Collector
    from blossom_edge.imatrix.writer import write_imatrix

    if ctx < MIN_CTX:
        raise UsageError(f"--ctx {ctx} is too short: llama-imatrix's statistics need chunks of at least {MIN_CTX} "
                         "tokens (512 is its default)")
    if chunks is not None and chunks < 1:
        raise UsageError(f"--chunks must be at least 1, not {chunks}")
    started = time.perf_counter()
    engine = LlamaEngine()
    model = engine.load(model_path)
    try:
        n_vocab, bos = engine.vocab(model)
        tokens = engine.tokenize(model, text.text, add_special=True, parse_special=False)
        if len(tokens) < 2 * ctx:
            raise UsageError(f"the calibration text is {len(tokens)} tokens for this model; --ctx {ctx} needs at "
                             f"least {2 * ctx} (two chunks): give more text or a shorter --ctx")
        total = min(chunks or len(tokens) // ctx, len(tokens) // ctx)
        n_seq = max(1, _BATCH // ctx)
        n_batch = min(_BATCH, n_seq * ctx)
        collector = Collector(chunk_size=ctx)
        tap = MatmulTap(collector)
        nll, scored, chunk_seconds = 0.0, 0, 0.0
        first = ctx // 2
        with engine.context(model, n_ctx=n_seq * ctx, n_batch=n_batch, n_ubatch=_UBATCH, threads=threads,
                            cb_eval=tap.callback, n_seq_max=n_seq) as context:
            for index in range(0, total, n_seq):
                t0 = time.perf_counter()
                seqs = min(n_seq, total - index)
                engine.clear(context)
                for batch_start in range(0, ctx, n_batch):
                    size = min(ctx - batch_start, n_batch)
                    fed, positions, seq_ids = [], [], []
                    for seq in range(seqs):
                        start = (index + seq) * ctx + batch_start
                        piece = tokens[start:start + size]
                        if bos is not None and batch_start == 0:
                            piece = [bos, *piece[1:]]
                        fed += piece
                        positions += range(batch_start, batch_start + size)
                        seq_ids += [seq] * size
                    engine.decode_scored(context, fed, positions, seq_ids)
                    tap.raise_pending()
                    # Scored now, from llama.cpp's own buffer: the next decode overwrites it.
                    logits = engine.logits(context, len(fed), n_vocab)
                    lo, hi = max(first, batch_start), min(ctx - 1, batch_start + size)
                    for seq in range(seqs if hi > lo else 0):
                        base = (index + seq) * ctx
                        rows = logits[seq * size + lo - batch_start:seq * size + hi - batch_start]
                        nll -= _log_likelihood(rows, np.asarray(tokens[base + lo + 1:base + hi + 1]))
                        scored += hi - lo
                elapsed = time.perf_counter() - t0
                chunk_seconds += elapsed
                if on_chunk is not None:
                    on_chunk(ChunkDone(index + seqs, total, seqs * ctx / elapsed, math.exp(nll / scored)))
    finally:
        engine.free_model(model)
    if not collector.entries:
        raise UsageError(f"{model_path.name}: llama.cpp ran no weight multiplication the statistics can use")
    write_imatrix(out, collector.entries, datasets=text.datasets, chunks=collector.chunk_count, chunk_size=ctx,
                  provenance={"text_sha256": text.sha256, "ctx": ctx, "chunks": total, **(provenance or {})})
    seconds = time.perf_counter() - started
    return ImatrixResult(out, len(collector.entries), total, collector.chunk_count, ctx, total * ctx, math.exp(nll / scored),
                         seconds, chunk_seconds / total, text.datasets)


def _log_likelihood(logits: Any, targets: Any) -> float:
    """Sum of log p(target) under each row's softmax, a few rows at a time.

    float32 exponentials summed in float64, as llama-imatrix does (expf, a double sum): the
    same perplexity to 1e-9 at an eighth of the cost of doing it all in float64.
    """
    import numpy as np

    total = 0.0
    for lo in range(0, len(targets), _SCORE_ROWS):
        rows = logits[lo:lo + _SCORE_ROWS]
        top = rows.max(axis=1)
        shifted = np.subtract(rows, top[:, None])
        np.exp(shifted, out=shifted)
        picked = rows[np.arange(len(rows)), targets[lo:lo + _SCORE_ROWS]].astype(np.float64) - top
        total += float((picked - np.log(shifted.sum(axis=1, dtype=np.float64))).sum())
    return total


def make_imatrix(
    model_path: Path,
    out: Path | None,
    text: CalibrationText,
    *,
    ctx: int = DEFAULT_CTX,
    chunks: int | None = None,
    threads: int,
    provenance: Mapping[str, str | int] | None = None,
    progress: Progress = NO_PROGRESS,
    text_files: list[Path] | None = None,
) -> ImatrixResult:
    """`compute_imatrix` for a user-named model: checked paths, default name, progress.

    The progress shows chunks, tokens/s and the running perplexity, as llama-imatrix prints them.
    The model runs in a child process (`isolated.py`), so a native crash is one line here.
    """
    from blossom_edge.base.atomic import refuse_overwriting
    from blossom_edge.inputs.gguf_info import read_gguf_info
    from blossom_edge.model.naming import imatrix_name
    from blossom_edge.native.isolated import run_isolated

    model_path = model_path.expanduser()
    read_gguf_info(model_path)  # a damaged file is one line here, not a llama.cpp abort
    out = (out.expanduser() if out is not None else Path.cwd() / imatrix_name(model_path.stem))
    refuse_overwriting(out, [model_path, *(text_files or [])])
    with progress.task("importance matrix", chunks) as task:

        def advance(done: ChunkDone) -> None:
            task.update(completed=done.done, total=done.total,
                        detail=f"{done.tokens_per_second:.0f} tokens/s  ppl {done.perplexity:.3f}")

        return run_isolated("computing the importance matrix of", model_path, _compute_in_child, model_path, out,
                            text, ctx, chunks, threads, dict(provenance or {}), on_event=advance)


def _compute_in_child(model_path: Path, out: Path, text: CalibrationText, ctx: int, chunks: int | None, threads: int,
                      provenance: dict[str, str | int], emit: Callable[[ChunkDone], None]) -> ImatrixResult:
    """`compute_imatrix` in the child process `make_imatrix` starts; each chunk's progress goes back as an event."""
    return compute_imatrix(model_path, out, text, ctx=ctx, chunks=chunks, threads=threads, provenance=provenance,
                           on_chunk=emit)
