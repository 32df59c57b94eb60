"""How much memory a llama.cpp run needs, before loading anything, and how many bytes a token reads.

bench refuses a run that would not fit (Android's low-memory killer takes Termux down with
it rather than failing an allocation), and fit answers "which quant fits" for every catalog
model, so both need the figure in advance. The parts follow llama.cpp's own buffers:

* weights: every tensor byte; they are mmap-ed and a full forward pass touches them all, so
  they end up in the resident set;
* weights of a mixture of experts: all of them, though a token reads only the routed ones;
* KV cache: K and V in F16 for every attention layer and context slot (context padded to
  256), plus the fixed f32 state of each linear-attention layer, which has no KV cache;
* compute buffer: llama.cpp reserves room for the logits of a whole micro-batch, but a
  chat or benchmark asks for the last token's logits only, so those pages are never
  touched; what becomes resident is the activations of one micro-batch (three of width
  n_ff in the feed-forward block, a few of width n_embd) and the F16 attention mask;
* output buffer: one row of logits;
* runtime: the process itself (interpreter, libraries) before the model is loaded.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from blossom_edge.model.shape import ModelShape

MiB = 1024 * 1024
# What a Python process with llama-cpp-python imported holds before a model is loaded
# (45 MiB measured on x86-64 Linux, Python 3.11; bench uses the live figure instead).
DEFAULT_RUNTIME_BYTES = 64 * MiB
CTX_PAD = 256
F16 = 2
F32 = 4


@dataclass(frozen=True)
class MemoryEstimate:
    weights: int
    kv_cache: int
    compute: int
    output: int
    runtime: int

    @property
    def total(self) -> int:
        return self.weights + self.kv_cache + self.compute + self.output + self.runtime

    def to_dict(self) -> dict[str, int]:
        return {**asdict(self), "total": self.total}


def padded_ctx(n_ctx: int) -> int:
    return -(-max(n_ctx, 1) // CTX_PAD) * CTX_PAD


def estimate(
    shape: ModelShape,
    n_ctx: int,
    n_batch: int = 2048,
    n_ubatch: int = 512,
    runtime: int = DEFAULT_RUNTIME_BYTES,
) -> MemoryEstimate:
    """Peak resident memory of a CPU run at this context and batch size."""
    ctx = padded_ctx(n_ctx)
    ubatch = min(n_ubatch, n_batch, ctx)
    n_ff = shape.n_ff or 4 * shape.n_embd
    compute = F32 * ubatch * (3 * n_ff + 4 * shape.n_embd) + ubatch * ctx * F16 // 4
    return MemoryEstimate(
        weights=shape.weight_bytes,
        kv_cache=ctx * shape.kv_bytes_per_token() + shape.state_bytes(),
        compute=compute,
        output=F32 * shape.n_vocab,
        runtime=runtime,
    )


def bytes_per_token(shape: ModelShape, context_tokens: float) -> float:
    """What generating one token reads from memory: the weights it uses once, and the cache so far.

    Decode is memory-bound, so tokens/s × this figure is the bandwidth the run achieved. A
    mixture of experts reads only its routed experts' share; a linear-attention layer reads
    (and writes) its fixed state instead of a growing KV cache.
    """
    embd_row = shape.embd_only_bytes / shape.n_vocab if shape.n_vocab and shape.embd_only_bytes else 0
    weights = shape.weight_bytes - shape.embd_only_bytes - shape.unread_expert_bytes() + embd_row
    return weights + context_tokens * shape.kv_bytes_per_token() + shape.state_bytes()


def current_rss() -> int | None:
    """This process's resident set now (the runtime part of an estimate made from inside bench)."""
    return _status_field("VmRSS")


def peak_rss() -> int | None:
    """The resident-set high-water mark since start or since `reset_peak_rss()`."""
    value = _status_field("VmHWM")
    if value is not None:
        return value
    import resource
    import sys

    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss if sys.platform == "darwin" else maxrss * 1024


def reset_peak_rss() -> bool:
    """Start a new high-water mark (Linux ≥ 4.0, Android included); False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _status_field(name: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(name + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None
