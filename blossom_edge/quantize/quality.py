"""How much a quant lost, measured as `llama-perplexity` measures it, so anyone can check the figures.

Perplexity alone hides much: two files can score alike while disagreeing on many tokens. So,
as `llama-perplexity --kl-divergence` does, the reference reads the text once and its
log-probabilities at every scored position are saved (llama.cpp's own base-file format,
`kld_base.py`); each quant then reads the same tokens and is compared with them: KL(ref ‖ quant)
mean, median, p99 and maximum, how often both put the same token on top, Δp. Perplexity is
`llama-perplexity -f TEXT -c CTX`'s: the second half of every n_ctx-token chunk scored
(`quality_pass.py`).

The default text is the small bilingual one the package ships (`data/eval_zh_en.txt`): its
figures rank the quant types of one model. `--text` takes any file, e.g. wikitext-2's test set
with `--ctx 512`, the figures published for llama.cpp models.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from blossom_edge.base.errors import NotFoundError, UsageError
from blossom_edge.base.progress import NO_PROGRESS, Progress
from blossom_edge.quantize.quality_pass import PassResult
from blossom_edge.quantize.quality_stats import KlStats

DEFAULT_TEXT = "eval_zh_en.txt"
# The shipped text is 973 tokens for Qwen2's vocabulary: three 256-token chunks, 381 scored positions;
# llama-perplexity's default 512 would need 1,024 tokens.
DEFAULT_CTX = 256
# Below this a chunk's scored half is a handful of tokens that have almost no context.
MIN_CTX = 16
# A text over this is a mistake, not a corpus (wikitext-2's test set is 1.3 MB).
_MAX_TEXT_BYTES = 256 << 20


@dataclass(frozen=True)
class EvalText:
    """The text, how it is named on a card or a table, and its digest."""

    text: str
    name: str
    sha256: str


def eval_text(path: Path | None = None) -> EvalText:
    """The user's text file, or the shipped bilingual text; one trailing newline dropped, as `-f` does."""
    from blossom_edge.base.bounded_read import read_small_file
    from blossom_edge.base.errors import CorruptFileError

    if path is None:
        raw = (resources.files("blossom_edge") / "data" / DEFAULT_TEXT).read_bytes()
        name = f"blossom-edge:{DEFAULT_TEXT}"
    else:
        path = path.expanduser()
        if not path.exists():
            raise NotFoundError(f"no such text file: {path}")
        if path.is_dir():
            raise UsageError(f"{path} is a directory; --text takes a UTF-8 text file")
        raw = read_small_file(path, _MAX_TEXT_BYTES, what="a text file")
        name = str(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptFileError(f"{name} is not UTF-8 text (byte {exc.start} cannot be decoded)") from None
    text = text[:-1] if text.endswith("\n") else text
    if not text.strip():
        raise UsageError(f"{name} is empty: give a text to measure perplexity on")
    return EvalText(text, name, hashlib.sha256(text.encode("utf-8")).hexdigest())


@dataclass
class QualityRow:
    """One model's figures; `kl` is None for the reference itself."""

    path: Path
    file_size: int
    bits_per_weight: float
    perplexity: float
    perplexity_unc: float
    kl: KlStats | None = None

    def to_dict(self) -> dict[str, Any]:
        kl = self.kl
        return {"path": str(self.path), "file_size": self.file_size, "bits_per_weight": round(self.bits_per_weight, 4),
                "perplexity": self.perplexity, "perplexity_unc": self.perplexity_unc,
                "kl_mean": kl and kl.kld_mean, "kl_median": kl and kl.kld_median, "kl_p99": kl and kl.kld_p99,
                "kl_max": kl and kl.kld_max, "same_top": kl and kl.same_top,
                "kl_divergence": kl.to_dict() if kl else None}


@dataclass
class QualityReport:
    """The rows, and what they were measured on: enough to run llama-perplexity on the same tokens."""

    text: str
    text_sha256: str | None
    ctx: int
    chunks: int
    tokens: int
    rows: list[QualityRow] = field(default_factory=list)
    base: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "text_sha256": self.text_sha256, "ctx": self.ctx, "chunks": self.chunks,
                "tokens": self.tokens, "base": str(self.base) if self.base else None,
                "rows": [r.to_dict() for r in self.rows]}


def reference_logits(model: Path, out: Path, text: EvalText, *, ctx: int = DEFAULT_CTX, chunks: int | None = None,
                     threads: int, progress: Progress = NO_PROGRESS) -> PassResult:
    """Score `text` with the reference and save its log-probabilities to `out` (whole or not at all):
    `llama-perplexity -f TEXT -c CTX --kl-divergence-base OUT`."""
    from blossom_edge.base.atomic import atomic_output, refuse_overwriting
    from blossom_edge.native.isolated import run_isolated
    from blossom_edge.quantize.quality_pass import reference_pass

    if ctx < MIN_CTX:
        raise UsageError(f"--ctx {ctx} is too short: give at least {MIN_CTX} (llama-perplexity's default is 512)")
    if chunks is not None and chunks < 1:
        raise UsageError(f"--chunks must be at least 1, not {chunks}")
    _check_gguf(model)
    refuse_overwriting(out, [model])
    with progress.task(f"reference logits of {model.name}") as task, atomic_output(out) as partial:
        return run_isolated("computing the reference logits of", model, reference_pass, model, text.text, ctx, chunks,
                            threads, partial, on_event=lambda p: task.update(completed=p.done, total=p.total))


def compare(model: Path, base: Path, *, threads: int, progress: Progress = NO_PROGRESS) -> PassResult:
    """`llama-perplexity --kl-divergence --kl-divergence-base BASE -m MODEL`: perplexity and KL statistics."""
    from blossom_edge.native.isolated import run_isolated
    from blossom_edge.quantize.kld_base import read_header, scored_positions
    from blossom_edge.quantize.quality_pass import compare_pass
    from blossom_edge.quantize.quality_stats import MIN_STAT_COUNT

    _check_gguf(model)
    head = read_header(base)
    if head.n_chunk * scored_positions(head.n_ctx) < MIN_STAT_COUNT:
        raise UsageError(f"{base.name} scores {head.n_chunk * scored_positions(head.n_ctx)} positions; KL statistics "
                         f"need {MIN_STAT_COUNT} at least, as llama-perplexity's: a longer text or --ctx")
    with progress.task(f"comparing {model.name}") as task:
        return run_isolated("comparing the logits of", model, compare_pass, model, base, threads,
                            on_event=lambda p: task.update(completed=p.done, total=p.total))


def measure(models: list[Path], *, text: EvalText | None = None, ctx: int = DEFAULT_CTX, chunks: int | None = None,
            base: Path | None = None, save_base: Path | None = None, threads: int | None = None,
            progress: Progress = NO_PROGRESS) -> QualityReport:
    """Perplexity of every model and KL against the reference: the first model, whose logits are saved to
    `save_base` (or a temporary file), or the reference whose logits `base` holds (then every model is compared).

    Each model runs in its own child process (`isolated.py`), one after the other, so only one
    is in memory and a native crash is one line here.
    """
    from blossom_edge.inputs.gguf_info import read_gguf_info

    if not models:
        raise UsageError("give the reference GGUF and the quants to compare with it")
    if base is not None and save_base is not None:
        raise UsageError("--base reads a reference's saved logits and --save-base writes them: give one")
    if threads is None:
        from blossom_edge.device.probe import probe
        from blossom_edge.device.threads import performance_cores

        threads = performance_cores(probe())
    with tempfile.TemporaryDirectory(prefix="blossom-edge-quality-") as scratch:
        rows: list[QualityRow] = []
        if base is None:
            text = text or eval_text()
            base = save_base or Path(scratch) / "reference.kld"
            ref = reference_logits(models[0], base, text, ctx=ctx, chunks=chunks, threads=threads, progress=progress)
            rows.append(_row(models[0], ref, read_gguf_info))
            report = QualityReport(text.name, text.sha256, ref.n_ctx, ref.chunks, ref.tokens, rows, save_base)
            models = models[1:]
        else:
            from blossom_edge.quantize.kld_base import read_header

            head = read_header(base)
            report = QualityReport(f"the tokens saved in {base}", None, head.n_ctx, head.n_chunk,
                                   head.n_ctx * head.n_chunk, rows, base)
        for model in models:
            rows.append(_row(model, compare(model, base, threads=threads, progress=progress), read_gguf_info))
    return report


def _row(path: Path, result: PassResult, read_gguf_info: Any) -> QualityRow:
    info = read_gguf_info(path)
    return QualityRow(path, info.file_size, info.bits_per_weight, result.perplexity, result.perplexity_unc,
                      result.kl)


def _check_gguf(path: Path) -> None:
    """A missing or damaged file is one line here, not a llama.cpp abort in the child."""
    from blossom_edge.inputs.gguf_info import read_gguf_info

    if not path.is_file():
        raise NotFoundError(f"no such GGUF file: {path}")
    read_gguf_info(path)
