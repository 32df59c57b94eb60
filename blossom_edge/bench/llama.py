"""Prompt and generation speed of GGUF models on this device, next to what the device can hold.

The timing follows llama-bench so the figures compare with it on the same file: a fresh
context of n_prompt + n_gen slots per test, one warm-up (the whole prompt, or one generated
token), then repetitions that each start from an empty KV cache; a prompt test decodes random
tokens in batches of n_batch and synchronises at the end, a generation test decodes one token
at a time and synchronises after each. Around every test we sample what llama-bench does not:
available RAM and swap, peak RSS, temperature and frequency caps (throttling), and battery
power for energy per token. llama.cpp itself is reached through `engine/llama_lowlevel.py`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from blossom_edge.base.errors import ResourceError
from blossom_edge.base.output import human_bytes
from blossom_edge.base.progress import NO_PROGRESS, Progress
from blossom_edge.bench.measure import Sample, swap_growth, throttled, timing_stats
from blossom_edge.bench.row import BenchRow
from blossom_edge.device.probe import DeviceInfo
from blossom_edge.device.sensors import read_memory
from blossom_edge.device.threads import performance_cores
from blossom_edge.device.tree import Tree
from blossom_edge.engine.llama_lowlevel import LlamaEngine
from blossom_edge.model.memory import MemoryEstimate, bytes_per_token, current_rss, estimate, peak_rss, reset_peak_rss


@dataclass
class BenchConfig:
    n_prompt: int = 512
    n_gen: int = 128
    reps: int = 5
    threads: list[int] | None = None
    n_batch: int = 2048
    n_ubatch: int = 512
    force: bool = False
    seed: int = 1234


def parse_threads(spec: str | None, info: DeviceInfo) -> tuple[list[int], bool]:
    """`--threads` → counts to run and whether this is a sweep (then report the best)."""
    from blossom_edge.base.errors import UsageError

    if spec is None:
        return [performance_cores(info)], False
    if spec.strip().lower() == "sweep":
        return list(range(1, max(1, info.n_cores) + 1)), True
    try:
        counts = [int(x) for x in spec.split(",") if x.strip()]
    except ValueError as exc:
        raise UsageError(f"--threads takes counts like 1,2,4 or 'sweep', not '{spec}'") from exc
    if not counts or min(counts) < 1:
        raise UsageError(f"--threads takes positive counts like 1,2,4 or 'sweep', not '{spec}'")
    return counts, False


def check_fits(path: Path, need: MemoryEstimate, available: int | None, ram_total: int | None,
               force: bool) -> None:
    """Refuse a run whose model memory (runtime excluded) exceeds available RAM, unless forced."""
    if available is None or force:
        return
    extra = need.total - need.runtime
    if extra <= available:
        return
    total = f" of {human_bytes(ram_total)}" if ram_total else ""
    raise ResourceError(
        f"{path.name} needs about {human_bytes(extra)} (weights {human_bytes(need.weights)}, KV cache "
        f"{human_bytes(need.kv_cache)}, compute {human_bytes(need.compute)}) but only {human_bytes(available)}"
        f"{total} RAM is available; Android's low-memory killer would end Termux. Try a smaller quant or "
        "smaller --pp/--tg, close other apps, or pass --force"
    )


class _Runner:
    """Prompt and generation tests on one context, llama-bench style."""

    def __init__(self, llama: LlamaEngine, model: Any, ctx: Any, rng: random.Random, n_batch: int) -> None:
        self.llama, self.ctx, self.rng, self.n_batch = llama, ctx, rng, n_batch
        self.n_vocab, self.bos = llama.vocab(model)

    def clear(self) -> None:
        self.llama.clear(self.ctx)

    def prompt(self, n_prompt: int) -> None:
        done = 0
        while done < n_prompt:
            n = min(n_prompt - done, self.n_batch)
            tokens = [self.rng.randrange(self.n_vocab) for _ in range(n)]
            if done == 0 and self.bos is not None:
                tokens[0] = self.bos
            self.llama.decode(self.ctx, tokens)
            done += n
        self.llama.synchronize(self.ctx)

    def generate(self, n_gen: int) -> None:
        token = self.bos if self.bos is not None else self.rng.randrange(self.n_vocab)
        for _ in range(n_gen):
            self.llama.decode(self.ctx, [token])
            self.llama.synchronize(self.ctx)
            token = self.rng.randrange(self.n_vocab)


def run(
    models: list[Path],
    cfg: BenchConfig,
    info: DeviceInfo,
    tree: Tree,
    bandwidth: float | None = None,
    progress: Progress = NO_PROGRESS,
) -> list[BenchRow]:
    """Benchmark every model × thread count × test; one llama-bench-like row per test."""
    from blossom_edge.inputs.gguf_info import read_gguf_info

    infos = [(path, read_gguf_info(path)) for path in models]
    n_ctx_max = max(cfg.n_prompt, cfg.n_gen, 1)
    for path, gguf in infos:
        need = estimate(gguf.model_shape(), n_ctx_max, cfg.n_batch, cfg.n_ubatch, runtime=0)
        mem = read_memory(tree)
        check_fits(path, need, mem["ram_available"], mem["ram_total"], cfg.force)

    from blossom_edge.native.isolated import run_isolated

    rows: list[BenchRow] = []
    for index, (path, gguf) in enumerate(infos):
        rows += run_isolated("benchmarking", path, _bench_model, path, gguf, cfg, info, tree, bandwidth,
                             cfg.seed + index, on_event=progress.step)
    return rows


def _bench_model(path: Path, gguf: Any, cfg: BenchConfig, info: DeviceInfo, tree: Tree,
                 bandwidth: float | None, seed: int, emit: Callable[[str], None]) -> list[BenchRow]:
    """In a child process (`isolated.py`): one model's tests; the rows' timings and peak RSS are the child's own."""
    from blossom_edge.engine.weight_repack import extra_buffers_allowed

    llama = LlamaEngine()
    rng = random.Random(seed)
    threads = cfg.threads or [performance_cores(info)]
    rows: list[BenchRow] = []
    shape = gguf.model_shape()
    emit(f"loading {path.name}")
    resident_before = current_rss() or 0
    start = time.perf_counter()
    model = llama.load(path)
    load_s = time.perf_counter() - start
    desc, model_size, n_params = llama.describe(model)
    try:
        for n_threads in threads:
            for n_prompt, n_gen in ((cfg.n_prompt, 0), (0, cfg.n_gen)):
                if n_prompt + n_gen == 0:
                    continue
                row = BenchRow(**_identity(path, desc, model_size, n_params, cfg, n_threads, n_prompt, n_gen),
                               **_device_fields(info, bandwidth))
                row.repack = extra_buffers_allowed()
                row.mtp_layers = gguf.mtp_layers
                emit(f"{path.name}: {row.test}, {n_threads} threads, {cfg.reps} reps")
                est = estimate(shape, n_prompt + n_gen, cfg.n_batch, cfg.n_ubatch, runtime=resident_before)
                _one_test(row, llama, model, rng, cfg, tree, info)
                row.load_time_s, row.est_memory = load_s, est.total
                if n_gen:
                    per_token = bytes_per_token(shape, n_gen / 2)
                    row.bytes_per_token = int(per_token)
                    row.bandwidth_bps = row.avg_ts * per_token
                    row.bandwidth_share = row.bandwidth_bps / bandwidth if bandwidth else None
                rows.append(row)
    finally:
        llama.free_model(model)
    return rows


def _one_test(row: BenchRow, llama: LlamaEngine, model: Any, rng: random.Random, cfg: BenchConfig,
              tree: Tree, info: DeviceInfo) -> None:
    """Warm up, time `cfg.reps` repetitions, and fill the row's timings and device state."""
    n_prompt, n_gen = row.n_prompt, row.n_gen
    before = Sample.take(tree, info.perf_cores)
    reset_peak_rss()
    with llama.context(model, n_prompt + n_gen, cfg.n_batch, cfg.n_ubatch, row.n_threads) as ctx:
        runner = _Runner(llama, model, ctx, rng, cfg.n_batch)
        runner.clear()
        if n_prompt:
            runner.prompt(n_prompt)
        else:
            runner.generate(1)
        samples: list[int] = []
        for _ in range(cfg.reps):
            runner.clear()
            start = time.perf_counter_ns()
            if n_prompt:
                runner.prompt(n_prompt)
            else:
                runner.generate(n_gen)
            samples.append(time.perf_counter_ns() - start)
        row.peak_rss = peak_rss()
    after = Sample.take(tree, info.perf_cores)
    for key, value in timing_stats(samples, n_prompt + n_gen).items():
        setattr(row, key, value)
    if before.power_w is not None and after.power_w is not None and before.discharging and after.discharging:
        watts = (before.power_w + after.power_w) / 2
        row.energy_j_per_token = watts * sum(samples) * 1e-9 / (cfg.reps * (n_prompt + n_gen))
    row.swap_growth = swap_growth(before, after)
    row.ram_available_before, row.ram_available_after = before.ram_available, after.ram_available
    row.temp_before_c, row.temp_after_c = before.temp_c, after.temp_c
    row.throttled = throttled(before, after)


def _identity(path: Path, desc: str, model_size: int, n_params: int, cfg: BenchConfig,
              n_threads: int, n_prompt: int, n_gen: int) -> dict[str, Any]:
    """The fields llama-bench itself prints, under its names."""
    import llama_cpp

    return {
        "backends": "CPU",
        "llama_cpp_python": llama_cpp.__version__,
        "model_filename": str(path),
        "model_type": desc,
        "model_size": model_size,
        "model_n_params": n_params,
        "n_batch": cfg.n_batch,
        "n_ubatch": cfg.n_ubatch,
        "n_threads": n_threads,
        "type_k": "f16",
        "type_v": "f16",
        "n_gpu_layers": 0,
        "n_prompt": n_prompt,
        "n_gen": n_gen,
        "n_depth": 0,
        "test_time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _device_fields(info: DeviceInfo, bandwidth: float | None) -> dict[str, Any]:
    return {
        "cpu_info": info.cpu_model,
        "device": info.name,
        "device_id": info.device_id,
        "soc": info.soc,
        "device_ram_total": info.ram_total,
        "device_bandwidth_bps": bandwidth,
    }


def best_by_model(rows: list[BenchRow]) -> dict[tuple[str, str], BenchRow]:
    """For a sweep: the fastest thread count per model and test."""
    best: dict[tuple[str, str], BenchRow] = {}
    for row in rows:
        key = (row.model_filename, "pp" if row.n_prompt else "tg")
        if key not in best or row.avg_ts > best[key].avg_ts:
            best[key] = row
    return best
