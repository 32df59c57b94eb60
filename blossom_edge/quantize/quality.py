"""How much a quant lost: perplexity, and the KL divergence of its next-token distribution from a reference.

Perplexity alone hides much: two files can score alike while disagreeing on many tokens. So,
as llama.cpp's `perplexity --kl-divergence` does, both models read the same text in the same
chunks and every position's full-vocabulary distributions are compared: KL(ref ‖ quant) mean
and 99th percentile, and how often the two agree on the most likely token. The text is the
small bilingual one the package ships (`data/eval_zh_en.txt`), so the figures rank the quant
types of one model; they are not comparable with published WikiText perplexities.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from blossom_edge.base.errors import UnsupportedError
from blossom_edge.base.progress import NO_PROGRESS, Progress

DEFAULT_CHUNK = 256
# Positions at the start of a chunk have too little context to say anything about the weights.
MIN_CONTEXT = 16


@dataclass
class QualityRow:
    """One model's figures; the KL fields are None for the reference itself."""

    path: Path
    file_size: int
    bits_per_weight: float
    perplexity: float
    kl_mean: float | None = None
    kl_p99: float | None = None
    top1_agreement: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "file_size": self.file_size, "bits_per_weight": round(self.bits_per_weight, 4),
                "perplexity": self.perplexity, "kl_mean": self.kl_mean, "kl_p99": self.kl_p99,
                "top1_agreement": self.top1_agreement}


def eval_text() -> str:
    return (resources.files("blossom_edge") / "data" / "eval_zh_en.txt").read_text(encoding="utf-8")


def _log_softmax(logits: Any) -> Any:
    import numpy as np

    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _load(path: Path, n_ctx: int, threads: int | None) -> Any:
    from blossom_edge.base.errors import ExternalToolError
    from blossom_edge.engine.llama_log import captured, with_reason
    from blossom_edge.engine.weight_repack import open_llama

    with captured() as log:
        try:
            return open_llama(model_path=str(path), n_ctx=n_ctx, n_batch=n_ctx, n_threads=threads, logits_all=True,
                              verbose=False)
        except (ValueError, RuntimeError) as exc:
            raise ExternalToolError(with_reason(f"llama.cpp cannot load {path}", log)) from exc


def _chunk_logprobs(llm: Any, tokens: list[int]) -> Any:
    """Log-probabilities of the next token at every position of one chunk, as float32."""
    import numpy as np

    from blossom_edge.base.errors import ExternalToolError

    llm.reset()
    try:
        llm.eval(tokens)
    except RuntimeError as exc:  # llama_cpp raises it when llama_decode fails
        raise ExternalToolError(f"llama.cpp failed while scoring {llm.model_path}: {exc}") from exc
    return _log_softmax(np.array(llm.scores[: len(tokens)], dtype=np.float64)).astype(np.float32)


def measure(reference: Path, quants: list[Path], *, text: str | None = None, chunk: int = DEFAULT_CHUNK,
            threads: int | None = None, progress: Progress = NO_PROGRESS) -> list[QualityRow]:
    """Perplexity of every file and KL/top-1 of each quant against `reference`, on the same tokens.

    The models run in a child process (`isolated.py`), so a native crash is one line here; the
    progress stays in this process, advanced by the child's events.
    """
    import numpy as np

    from blossom_edge.inputs.gguf_info import read_gguf_info
    from blossom_edge.native.isolated import run_isolated

    text = eval_text() if text is None else text
    if threads is None:
        from blossom_edge.device.probe import probe
        from blossom_edge.device.threads import performance_cores

        threads = performance_cores(probe())
    models = [reference, *quants]
    infos = [read_gguf_info(p) for p in models]
    if len({i.vocab_size for i in infos}) != 1:
        raise UnsupportedError("the files have different vocabularies; KL divergence needs the same tokenizer")
    with progress.task("measuring quality") as task:

        def advance(total: int) -> None:
            task.update(total=total)
            task.advance()

        nll, kls, agree, scored = run_isolated("measuring the quality of", reference, _score, models, text, chunk,
                                               threads, on_event=advance)
    rows_out = []
    for k, (path, info) in enumerate(zip(models, infos)):
        row = QualityRow(path, info.file_size, info.bits_per_weight, math.exp(nll[k] / scored))
        if k:
            kl = kls[k - 1].clip(min=0.0)
            row.kl_mean = float(kl.mean())
            row.kl_p99 = float(np.percentile(kl, 99))
            row.top1_agreement = agree[k - 1] / scored
        rows_out.append(row)
    return rows_out


def _score(models: list[Path], text: str, chunk: int, threads: int,
           emit: Callable[[int], None]) -> tuple[list[float], list[Any], list[int], int]:
    """In the child: every model reads the same chunks; per model the summed negative log-likelihood,
    per quant the KL divergence at every scored position and the top-1 agreements, and the count of
    scored positions. `emit` gets the number of model-chunks to do after each one is done."""
    import numpy as np

    llms: list[Any] = []
    try:
        llms.extend(_load(p, chunk, threads) for p in models)
        tokens = llms[0].tokenize(text.encode("utf-8"), add_bos=True, special=False)
        chunks = [tokens[i:i + chunk] for i in range(0, len(tokens), chunk) if len(tokens[i:i + chunk]) > MIN_CONTEXT + 1]
        if not chunks:
            raise UnsupportedError(f"the evaluation text is too short: {len(tokens)} tokens")
        total = len(chunks) * len(models)
        nll = [0.0] * len(models)
        kls: list[list[Any]] = [[] for _ in models[1:]]
        agree = [0] * (len(models) - 1)
        scored = 0
        for piece in chunks:
            targets = np.array(piece[MIN_CONTEXT + 1:])
            rows = slice(MIN_CONTEXT, len(piece) - 1)
            ref = _chunk_logprobs(llms[0], piece)[rows]
            emit(total)
            nll[0] -= float(ref[np.arange(len(targets)), targets].sum())
            ref_p = np.exp(ref)
            for k, llm in enumerate(llms[1:]):
                q = _chunk_logprobs(llm, piece)[rows]
                emit(total)
                nll[k + 1] -= float(q[np.arange(len(targets)), targets].sum())
                kls[k].append((ref_p * (ref - q)).sum(axis=-1))
                agree[k] += int((ref.argmax(axis=-1) == q.argmax(axis=-1)).sum())
            scored += len(targets)
    finally:
        for llm in llms:
            llm.close()
    return nll, [np.concatenate(k) for k in kls], agree, scored
