"""Which Blossom model, quant type and context fit this device, and how fast it would generate.

Memory per model × quant × context is the same estimate bench uses before loading (weights +
KV cache + compute + runtime), from the catalog's parameter counts and base-model shapes.
Every quant type llama.cpp's quantizer offers for a general model is weighed, down to the
1-bit IQ1_S, and contexts down to MIN_CTX, so a 4 GB phone still gets an answer. Speed comes
from this device's stored bench result for that very file when there is one; otherwise from
memory bandwidth, because decoding one token reads every weight once: tokens/s ≈ copy bandwidth
× the share of it decoding reaches ÷ bytes read per token, that share being the one `bench`
measured on this device (any model) when it has run. That figure is an estimate and is labelled
so everywhere it appears.

The answer is one pick, or, when nothing fits at a readable speed, the nearest option and what
would make it work (a smaller context, more RAM, a faster device).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from statistics import median
from typing import TYPE_CHECKING, Any

from blossom_edge.base import sizes
from blossom_edge.bench.row import BenchRow
from blossom_edge.model.catalog import MODELS, ModelInfo
from blossom_edge.model.memory import DEFAULT_RUNTIME_BYTES, bytes_per_token, estimate
from blossom_edge.model.naming import gguf_name
from blossom_edge.model.shape import ModelShape
from blossom_edge.quantize.types import QUANT_TYPES

if TYPE_CHECKING:
    from blossom_edge.device.probe import DeviceInfo

# Quantizer types fit leaves out, with why: made for models trained for them, beaten by a K-quant
# of the same size, or no smaller than F16.
NOT_WEIGHED: dict[str, str] = {
    "Q1_0": "1-bit type for models trained for it",
    "Q2_0": "2-bit type for models trained for it",
    "TQ1_0": "ternary type for models trained for it",
    "TQ2_0": "ternary type for models trained for it",
    "MXFP4_MOE": "for MoE models trained in MXFP4",
    "Q4_1": "Q4_K_M is smaller and closer to F16 (llama.cpp's Llama-3-8B table)",
    "Q5_0": "Q5_K_S is as small and closer to F16",
    "Q5_1": "Q5_K_M is smaller and closer to F16",
    "BF16": "same size as F16",
    "F32": "larger than F16",
}
# Every other type, smallest first, with the quantizer table's whole-file bits per weight.
QUANTS: dict[str, float] = {q.name: q.bpw for q in sorted(QUANT_TYPES, key=lambda q: q.bpw)
                            if q.alias_of is None and q.name not in NOT_WEIGHED}
# The types llama.cpp quantizes only with an importance matrix (`quantize` computes one itself).
NEEDS_IMATRIX: frozenset[str] = frozenset(q.name for q in QUANT_TYPES if q.needs_imatrix and q.name in QUANTS)
# Share of copy bandwidth a CPU decode reaches in practice (bench's bandwidth_share is typically 0.5–0.8),
# used until a `bench` run on the device has measured its own share.
DECODE_EFFICIENCY = 0.6
# llama.cpp repacks Q4_0 at load into interleaved blocks for dotprod/i8mm kernels on ARM.
ARM_Q4_0_BONUS = 1.15
# Below this a reply reads slower than people read; the pick avoids it.
MIN_READABLE_TPS = 4.0
# With --ram, the share of RAM left for a model once the OS and other apps have theirs.
USABLE_SHARE = 0.75
# The smallest context fit shrinks to: a system prompt, a question and a full answer still fit.
MIN_CTX = 1024
# Bits at or above which a quant counts as full quality for the pick (Q4_0 and up).
FULL_QUALITY_BITS = 4


@dataclass
class FitRow:
    model: str
    repo_id: str
    params_b: float
    quant: str
    file_name: str
    weights: int
    kv_cache: int
    compute: int
    need: int
    headroom: int
    fits: bool
    tg_ts: float | None
    tg_source: str
    note: str = ""
    ctx: int = 0
    needs_imatrix: bool = False

    @property
    def readable(self) -> bool:
        """Fast enough to read along, or of unknown speed (no bandwidth figure to judge by)."""
        return self.tg_ts is None or self.tg_ts >= MIN_READABLE_TPS

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Advice:
    """fit's last word: a pick, or the nearest option and what would make it work."""

    pick: FitRow | None
    nearest: FitRow | None
    # What the pick gave up (a smaller context) or what the nearest option lacks, in one sentence.
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"pick": self.pick.to_dict() if self.pick else None,
                "nearest": self.nearest.to_dict() if self.nearest else None, "reason": self.reason}


def quant_bits(quant: str) -> int:
    """The nominal bits of a type's name: 2 for IQ2_XXS, 4 for Q4_K_M, 16 for F16."""
    return int(re.search(r"\d+", quant).group())


def shape_for(model: ModelInfo, quant: str) -> ModelShape:
    """The base model's dimensions at the file size this quant type gives it."""
    return model.shape.with_weights(int(model.params_b * 1e9 * QUANTS[quant] / 8))


def estimated_tg(shape: ModelShape, context_tokens: float, bandwidth: float, *, repacked_q4_0: bool = False,
                 efficiency: float = DECODE_EFFICIENCY) -> float:
    """Generation tokens/s from memory bandwidth alone: decoding reads every weight and the KV cache
    so far once per token, at `efficiency` of copy bandwidth. `fit` and benchmarks/fit.py, which
    checks it against a bench run, both call this, so the check is of this very figure."""
    factor = ARM_Q4_0_BONUS if repacked_q4_0 else 1.0
    return efficiency * factor * bandwidth / bytes_per_token(shape, context_tokens)


def file_quant(file_name: str | None) -> str | None:
    """The quant type a GGUF's name ends with (`blossom-v5-4b-Q4_K_M.gguf` → Q4_K_M), if any."""
    stem = Path(str(file_name or "")).name.upper().removesuffix(".GGUF")
    return next((q for q in sorted(QUANTS, key=len, reverse=True) if stem.endswith(q)), None)


def decode_efficiency(stored: list[BenchRow], quant: str | None = None) -> tuple[float, str]:
    """The share of copy bandwidth decoding reaches on this device, and where that figure comes from.

    Every `bench` generation row records it (bytes read per token × tokens/s ÷ copy bandwidth, the
    very quantity `estimated_tg` multiplies by): on a VM with shared cores or a phone that throttles
    it can sit far from the typical DECODE_EFFICIENCY, so a measured one wins. Types differ in the
    arithmetic per byte they cost (a Q8_0 file reaches a smaller share than an F16 one on the same
    cores), so runs of `quant` itself come first, then runs of any type.
    """
    rows = [r for r in stored if r.n_gen and r.bandwidth_share]
    same = [r for r in rows if quant and file_quant(r.model_filename) == quant]
    shares = [r.bandwidth_share for r in (same or rows)]
    if not shares:
        return DECODE_EFFICIENCY, "typical for CPU decoding"
    runs = f"{len(shares)} bench run{'s' if len(shares) > 1 else ''}"
    return median(shares), f"median of {runs} of {quant} on this device" if same else f"median of {runs} on this device"


def arm_repack(features: list[str], arch: str | None) -> bool:
    return (arch or "").startswith("aarch64") and bool({"dotprod", "i8mm"} & set(features))


def parse_size(text: str) -> int:
    """`--ram SIZE` in bytes: `8G`, `7.5GiB`, `512M`, in powers of 1024 as phones advertise RAM.

    A bare number is refused with the units spelled out for that very number (`4` → 4G, 4GiB or
    4096M): read as bytes or as gigabytes, it surprises someone either way.
    """
    bare = re.fullmatch(r"\s*([0-9]+)\s*", text) if len(text) <= sizes.MAX_TEXT else None
    example = f"{bare.group(1)}G, {bare.group(1)}GiB or {int(bare.group(1)) * 1024}M" if bare else "8G"
    return sizes.parse_size(text, option="--ram", example=example, binary=True)


def budget(ram: int | None, info: DeviceInfo) -> tuple[int, int, str]:
    """(RAM total, bytes a model may take, how that was decided) for `--ram` (parsed) or this device."""
    from blossom_edge.base.output import human_bytes

    if ram is not None:
        return ram, int(ram * USABLE_SHARE), (f"{int(USABLE_SHARE * 100)}% of the {human_bytes(ram)} you gave "
                                              "(the OS and apps keep the rest)")
    total = info.ram_total or 0
    return total, info.ram_available or int(total * USABLE_SHARE), "RAM available now on this device"


def measured_speed(rows: list[BenchRow], file_name: str) -> float | None:
    """The best stored generation rate for a file of this name on this device."""
    rates = [r.avg_ts for r in rows if r.n_gen and r.avg_ts is not None
             and Path(str(r.model_filename or "")).name.lower() == file_name.lower()]
    return max(rates) if rates else None


def contexts(n_ctx: int, model_ctx: int) -> list[int]:
    """The contexts weighed for one model: the asked one (never past the model's own), then halves
    down to MIN_CTX (or the model's context, when that is smaller)."""
    top = min(n_ctx, model_ctx)
    floor = min(MIN_CTX, top)
    out = [top]
    while out[-1] > floor:
        out.append(max(out[-1] // 2, floor))
    return out


def row(model: ModelInfo, quant: str, ctx: int, n_ctx: int, budget: int, bandwidth: float | None, repack: bool,
        stored: list[BenchRow], efficiency: float = DECODE_EFFICIENCY) -> FitRow:
    """One candidate: memory against the budget and speed at this context."""
    shape = shape_for(model, quant)
    est = estimate(shape, ctx, runtime=DEFAULT_RUNTIME_BYTES)
    file_name = gguf_name(model.name, quant)
    speed, source, notes = measured_speed(stored, file_name), "measured", []
    if speed is None and bandwidth:
        repacked = quant == "Q4_0" and repack
        # A chat fills the context over time: on average half of it is in the KV cache.
        speed = estimated_tg(shape, ctx / 2, bandwidth, repacked_q4_0=repacked, efficiency=efficiency)
        source = "estimate"
        if repacked:
            notes.append("repacked Q4_0 (dotprod/i8mm)")
    elif speed is None:
        source = "unknown"
    if ctx < n_ctx and ctx == model.context_length:
        notes.append(f"context capped at {ctx}")
    elif ctx < n_ctx:
        notes.append(f"context {ctx}")
    if quant in NEEDS_IMATRIX:
        notes.append("imatrix")
    return FitRow(model.alias, model.repo_id, model.params_b, quant, file_name, est.weights, est.kv_cache,
                  est.compute, est.total, budget - est.total, est.total <= budget, speed, source, "; ".join(notes),
                  ctx, quant in NEEDS_IMATRIX)


def candidates(budget: int, n_ctx: int, bandwidth: float | None, features: list[str], arch: str | None,
               stored: list[BenchRow]) -> list[FitRow]:
    """Every catalog model with a shape × every weighed quant × every context down to MIN_CTX."""
    repack, efficiency = arm_repack(features, arch), {q: decode_efficiency(stored, q)[0] for q in QUANTS}
    return [row(model, quant, ctx, n_ctx, budget, bandwidth, repack, stored, efficiency[quant])
            for model in MODELS if model.shape is not None
            for ctx in contexts(n_ctx, model.context_length)
            for quant in QUANTS]


def table(budget: int, n_ctx: int, bandwidth: float | None, features: list[str], arch: str | None,
          stored: list[BenchRow]) -> list[FitRow]:
    """Every model × quant at the asked context (capped at each model's own): the table `fit` shows."""
    repack, efficiency = arm_repack(features, arch), {q: decode_efficiency(stored, q)[0] for q in QUANTS}
    return [row(model, quant, min(n_ctx, model.context_length), n_ctx, budget, bandwidth, repack, stored,
                efficiency[quant])
            for model in MODELS if model.shape is not None for quant in QUANTS]


def best_per_model(rows: list[FitRow]) -> list[tuple[str, FitRow | None]]:
    """One answer per model, in catalog order: its highest-precision quant that fits (F16 only when
    nothing smaller is listed), or None when none does."""
    out = []
    for alias in dict.fromkeys(r.model for r in rows):
        fitting = [r for r in rows if r.model == alias and r.fits]
        quantized = [r for r in fitting if r.quant != "F16"] or fitting
        out.append((alias, max(quantized, key=lambda r: QUANTS[r.quant]) if quantized else None))
    return out


def without_shape() -> list[str]:
    """Aliases `fit` cannot estimate: no dimensions are recorded for their base model."""
    return [m.alias for m in MODELS if m.shape is None]


def _full_ctx(r: FitRow, n_ctx: int) -> bool:
    return r.ctx >= min(n_ctx, next(m.context_length for m in MODELS if m.alias == r.model))


def _rank(r: FitRow, n_ctx: int) -> tuple:
    """Better answers sort higher: 4 bits or more before 3 before 2 before 1 (below 4 bits a
    model loses quality fast); then the asked context; then the bigger model (a larger model at
    4 bits answers better than a smaller one at 8) and the newer release of that size; then the
    higher-precision quant (F16 last: it buys nothing over Q8_0 but size); then the longer context."""
    order = {m.alias: i for i, m in enumerate(MODELS)}
    bits = min(quant_bits(r.quant), FULL_QUALITY_BITS)
    return (bits, _full_ctx(r, n_ctx), r.params_b, order[r.model], r.quant != "F16", QUANTS[r.quant], r.ctx)


def advise(rows: list[FitRow], n_ctx: int, repack: bool, budget: int, ram_given: bool) -> Advice:
    """One pick among every candidate (model × quant × context), or the nearest option and what
    would make it work. Q4_0 replaces Q4_K_M where llama.cpp's ARM repacking makes it the faster
    4-bit file."""
    from blossom_edge.base.output import human_bytes

    ok = [r for r in rows if r.fits and r.readable]
    if ok:
        pick = max(ok, key=lambda r: _rank(r, n_ctx))
        if repack and pick.quant == "Q4_K_M":
            pick = next((r for r in ok if (r.model, r.ctx, r.quant) == (pick.model, pick.ctx, "Q4_0")), pick)
        reason = ""
        if not _full_ctx(pick, n_ctx):
            at_full = [r for r in ok if _full_ctx(r, n_ctx)]
            reason = (f"a smaller context than {n_ctx}, where only lower-bit quants fit at a readable speed"
                      if at_full else f"a smaller context than {n_ctx}, where nothing fits at a readable speed")
        return Advice(pick, None, reason)
    fitting = [r for r in rows if r.fits]
    if fitting:
        nearest = max(fitting, key=lambda r: r.tg_ts or 0.0)
        return Advice(None, nearest, f"it fits but runs about {nearest.tg_ts:.1f} tokens/s, under the "
                                     f"{MIN_READABLE_TPS:g} tokens/s threshold; no smaller Blossom model is faster, "
                                     "so only a device with more memory bandwidth makes it readable")
    readable = [r for r in rows if r.readable] or rows
    if not readable:
        return Advice(None, None, "no Blossom model has recorded dimensions to estimate")
    nearest = min(readable, key=lambda r: r.need)
    short = nearest.need - budget
    more = (f"--ram {math.ceil(nearest.need / USABLE_SHARE / 2**30 * 10) / 10:g}G or more" if ram_given
            else f"{human_bytes(short)} more free RAM")
    return Advice(None, nearest, f"the smallest option, {human_bytes(short)} over the budget; it would fit with "
                                 f"{more}; no smaller Blossom model is in the catalog")
