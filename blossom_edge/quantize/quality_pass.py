"""One model reading a text the way llama-perplexity reads it (runs in the child `isolated.py` starts).

The text is tokenized once, whole, with BOS as the model asks; it is cut into chunks of n_ctx
tokens (as many whole chunks as it holds, or `--chunks`), and a chunk's first token is replaced
by BOS when the model has one. As many chunks as fill llama-perplexity's 2048-token batch are
decoded together, one sequence each, from an empty cache, logits asked only from the middle
of each chunk on; every position of the second half predicts the next token and is scored.

The reference's pass writes its log-probabilities to a base file (`kld_base.py`) and sums its
perplexity; a quant's pass evaluates the tokens stored in that file and compares with its rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blossom_edge.base.errors import UnsupportedError, UsageError
from blossom_edge.quantize.quality_stats import KlStats, KlTally, PerplexityTally

# llama-perplexity's defaults (common_params n_batch, n_ubatch): how many chunks share a decode follows from them.
BATCH, UBATCH = 2048, 512
# Rows turned into log-probabilities at a time: bounded float copies whatever the vocabulary.
_ROWS = 64


@dataclass(frozen=True)
class Progress:
    """Chunks done of all, after each decode."""

    done: int
    total: int


@dataclass(frozen=True)
class PassResult:
    """What one model's pass measured: perplexity (± as llama-perplexity prints it) and, for a quant, KL."""

    tokens: int
    chunks: int
    n_ctx: int
    perplexity: float
    perplexity_unc: float
    kl: KlStats | None = None


def reference_pass(model_path: Path, text: str, n_ctx: int, chunks: int | None, threads: int, base_out: Path,
                   emit: Callable[[Progress], None]) -> PassResult:
    """Tokenize `text`, score it, and write the base file to `base_out` (the caller renames it into place)."""
    import numpy as np

    from blossom_edge.engine.llama_lowlevel import LlamaEngine
    from blossom_edge.quantize.kld_base import BaseWriter, encode

    engine = LlamaEngine()
    model = engine.load(model_path)
    try:
        n_vocab, bos = _check_model(engine, model, model_path, n_ctx)
        tokens = np.asarray(engine.tokenize(model, text, add_special=True, parse_special=False), dtype=np.int32)
        if len(tokens) < 2 * n_ctx:
            raise UsageError(f"the text is {len(tokens)} tokens for {model_path.name}; --ctx {n_ctx} needs at least "
                             f"{2 * n_ctx} (llama-perplexity's minimum): give a longer text or a shorter --ctx")
        n_chunk = min(chunks or len(tokens) // n_ctx, len(tokens) // n_ctx)
        tally = PerplexityTally()
        with open(base_out, "wb") as fh:
            writer = BaseWriter(fh, n_ctx, n_vocab, n_chunk, tokens)

            def score(_lo: int, logits: Any, targets: Any) -> None:
                rows, lse, top = encode(logits)
                tally.add((top + lse) - logits[np.arange(len(targets)), targets])
                writer.rows(rows)

            _evaluate(engine, model, tokens, n_ctx, n_chunk, threads, bos, n_vocab, score, emit)
    finally:
        engine.free_model(model)
    ppl, unc = tally.perplexity()
    return PassResult(len(tokens), n_chunk, n_ctx, ppl, unc)


def compare_pass(model_path: Path, base: Path, threads: int, emit: Callable[[Progress], None]) -> PassResult:
    """Evaluate the base file's tokens with `model_path` and compare every scored position with its rows."""
    from blossom_edge.engine.llama_lowlevel import LlamaEngine
    from blossom_edge.quantize.kld_base import BaseReader

    engine = LlamaEngine()
    model = engine.load(model_path)
    try:
        with open(base, "rb") as fh:
            reader = BaseReader(fh, base)
            head = reader.header
            n_vocab, bos = _check_model(engine, model, model_path, head.n_ctx)
            if n_vocab != head.n_vocab:
                raise UnsupportedError(f"{model_path.name} has {n_vocab} tokens, the reference in {base.name} "
                                       f"{head.n_vocab}: KL divergence needs the same vocabulary")
            tally = KlTally(n_vocab)
            stored = reader.chunks()
            current: list[Any] = []

            def score(lo: int, logits: Any, targets: Any) -> None:
                if lo == 0:
                    current[:] = [next(stored)]
                tally.add(logits, current[0][lo:lo + len(targets)], targets)

            _evaluate(engine, model, head.tokens, head.n_ctx, head.n_chunk, threads, bos, n_vocab, score, emit)
    finally:
        engine.free_model(model)
    stats = tally.stats()
    return PassResult(len(head.tokens), head.n_chunk, head.n_ctx, stats.ppl, stats.ppl_unc, stats)


def _check_model(engine: Any, model: Any, path: Path, n_ctx: int) -> tuple[int, int | None]:
    """(vocabulary size, BOS or None), after llama-perplexity's refusals and ours."""
    if engine.adds_eos(model):
        raise UnsupportedError(f"{path.name}'s tokenizer appends EOS to every text; llama-perplexity cannot "
                               "score such a model either")
    trained = engine.train_context(model)
    if n_ctx > trained:
        raise UsageError(f"--ctx {n_ctx} is longer than {path.name} was trained on ({trained} tokens): "
                         f"give --ctx {trained} or less")
    return engine.vocab(model)


def _evaluate(engine: Any, model: Any, tokens: Any, n_ctx: int, n_chunk: int, threads: int, bos: int | None,
              n_vocab: int, score: Callable[[int, Any, Any], None], emit: Callable[[Progress], None]) -> None:
    """llama-perplexity's loop: decode chunks `n_seq` at a time and hand each chunk's scored rows to `score`
    (the row's offset in its chunk's scored rows, float32 logits of a few rows, the tokens they predict)."""
    import numpy as np

    n_parallel = max(1, BATCH // n_ctx)
    n_batch = min(BATCH, n_parallel * n_ctx)
    n_seq = max(1, n_batch // n_ctx)
    first = n_ctx // 2
    scored = n_ctx - 1 - first
    with engine.context(model, n_ctx=n_parallel * n_ctx, n_batch=n_batch, n_ubatch=UBATCH, threads=threads,
                        n_seq_max=n_parallel) as context:
        for index in range(0, n_chunk, n_seq):
            seqs = min(n_seq, n_chunk - index)
            start = index * n_ctx
            engine.clear(context)
            kept: list[Any] = []
            for batch_start in range(0, n_ctx, n_batch):
                size = min(n_ctx - batch_start, n_batch)
                fed: list[int] = []
                positions: list[int] = []
                seq_ids: list[int] = []
                for seq in range(seqs):
                    piece = tokens[start + seq * n_ctx + batch_start:][:size].tolist()
                    if bos is not None and batch_start == 0:
                        piece[0] = bos
                    fed += piece
                    positions += range(batch_start, batch_start + size)
                    seq_ids += [seq] * size
                wanted = [p >= first for p in positions]
                engine.decode_scored(context, fed, positions, seq_ids, wanted)
                outputs = sum(wanted)
                if outputs:
                    kept.append(engine.logits(context, outputs, n_vocab))
                    if n_batch < n_ctx:  # a chunk over several decodes: each overwrites llama.cpp's buffer
                        kept[-1] = kept[-1].copy()
            # One decode per chunk (the usual case): scored from llama.cpp's own buffer, before the next.
            logits = kept[0] if len(kept) == 1 else np.concatenate(kept)
            per_seq = n_ctx - first
            for seq in range(seqs):
                chunk = start + seq * n_ctx
                targets = tokens[chunk + first + 1:chunk + n_ctx]
                for lo in range(0, scored, _ROWS):
                    hi = min(scored, lo + _ROWS)
                    score(lo, logits[seq * per_seq + lo:seq * per_seq + hi], targets[lo:hi])
            emit(Progress(index + seqs, n_chunk))

