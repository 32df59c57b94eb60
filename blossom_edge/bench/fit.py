"""Which Blossom model and quant fits this device, and how fast it would generate.

Memory per model × quant is the same estimate bench uses before loading (weights + KV cache
at the asked context + compute + runtime), from the catalog's parameter counts and the
architecture shapes below. Speed comes from this device's stored bench results when there
are any; otherwise from memory bandwidth, because decoding one token reads every weight once:
tokens/s ≈ usable bandwidth ÷ bytes read per token. That figure is an estimate and is
labelled so everywhere it appears.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blossom_edge.base import sizes
from blossom_edge.bench.row import BenchRow
from blossom_edge.model.catalog import MODELS, ModelInfo
from blossom_edge.model.memory import DEFAULT_RUNTIME_BYTES, bytes_per_token, estimate
from blossom_edge.model.naming import gguf_name
from blossom_edge.model.shape import ModelShape
from blossom_edge.quantize.types import parse_qtype

if TYPE_CHECKING:
    from blossom_edge.device.probe import DeviceInfo

# The quants people run on devices, with the quantizer table's whole-file bits per weight.
QUANTS: dict[str, float] = {name: parse_qtype(name).bpw for name in ("Q4_0", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0", "F16")}
# Share of copy bandwidth a CPU decode reaches in practice (bench's bandwidth_share is typically 0.5–0.8).
DECODE_EFFICIENCY = 0.6
# llama.cpp repacks Q4_0 at load into interleaved blocks for dotprod/i8mm kernels on ARM.
ARM_Q4_0_BONUS = 1.15
# Below this a reply reads slower than people read; the recommendation avoids it.
MIN_READABLE_TPS = 4.0
# With --ram, the share of RAM left for a model once the OS and other apps have theirs.
USABLE_SHARE = 0.75


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def shape_for(model: ModelInfo, quant: str) -> ModelShape:
    """The base model's dimensions at the file size this quant type gives it."""
    return model.shape.with_weights(int(model.params_b * 1e9 * QUANTS[quant] / 8))


def estimated_tg(shape: ModelShape, context_tokens: float, bandwidth: float, *, repacked_q4_0: bool = False) -> float:
    """Generation tokens/s from memory bandwidth alone: decoding reads every weight and the KV cache
    so far once per token, at DECODE_EFFICIENCY of copy bandwidth. `fit` and benchmarks/fit.py,
    which checks it against a bench run, both call this, so the check is of this very figure."""
    factor = ARM_Q4_0_BONUS if repacked_q4_0 else 1.0
    return DECODE_EFFICIENCY * factor * bandwidth / bytes_per_token(shape, context_tokens)


def arm_repack(features: list[str], arch: str | None) -> bool:
    return (arch or "").startswith("aarch64") and bool({"dotprod", "i8mm"} & set(features))


def parse_size(text: str) -> int:
    """`--ram SIZE` in bytes: `8G`, `7.5GiB`, `512M`, in powers of 1024 as phones advertise RAM."""
    return sizes.parse_size(text, option="--ram", example="8G", binary=True)


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


def table(budget: int, n_ctx: int, bandwidth: float | None, features: list[str], arch: str | None,
          stored: list[BenchRow]) -> list[FitRow]:
    repack = arm_repack(features, arch)
    rows = []
    for model in (m for m in MODELS if m.shape is not None):
        ctx = min(n_ctx, model.context_length)
        for quant in QUANTS:
            shape = shape_for(model, quant)
            est = estimate(shape, ctx, runtime=DEFAULT_RUNTIME_BYTES)
            file_name = gguf_name(model.name, quant)
            speed, source, note = measured_speed(stored, file_name), "measured", ""
            if speed is None and bandwidth:
                repacked = quant == "Q4_0" and repack
                # A chat fills the context over time: on average half of it is in the KV cache.
                speed = estimated_tg(shape, ctx / 2, bandwidth, repacked_q4_0=repacked)
                source = "estimate"
                if repacked:
                    note = "repacked Q4_0 (dotprod/i8mm)"
            elif speed is None:
                source = "unknown"
            if ctx < n_ctx:
                note = (note + "; " if note else "") + f"context capped at {ctx}"
            rows.append(FitRow(model.alias, model.repo_id, model.params_b, quant, file_name, est.weights,
                               est.kv_cache, est.compute, est.total, budget - est.total, est.total <= budget,
                               speed, source, note))
    return rows


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


def recommend(rows: list[FitRow], repack: bool) -> FitRow | None:
    """The biggest model that fits and still reads fluently; within it the best quant that does.

    A larger model at 4 bits answers better than a smaller one at 8, so size comes first.
    Q4_0 replaces Q4_K_M where llama.cpp's ARM repacking makes it the faster 4-bit file.
    """
    ok = [r for r in rows if r.fits and (r.tg_ts is None or r.tg_ts >= MIN_READABLE_TPS)]
    if not ok:
        return None
    biggest = max(r.params_b for r in ok)
    # Newest release of that size first (catalog order is oldest first).
    order = {m.alias: i for i, m in enumerate(MODELS)}
    same = [r for r in ok if r.params_b == biggest]
    newest = max(same, key=lambda r: order[r.model]).model
    choices = [r for r in same if r.model == newest and r.quant != "F16"] or [r for r in same if r.model == newest]
    best = max(choices, key=lambda r: QUANTS[r.quant])
    if repack and best.quant == "Q4_K_M":
        q4_0 = next((r for r in choices if r.quant == "Q4_0"), None)
        best = q4_0 or best
    return best
