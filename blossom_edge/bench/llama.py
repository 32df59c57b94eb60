"""Prompt and generation speed of GGUF models on this device, next to what the device can hold.

The timing follows llama-bench so the figures compare with it on the same file: a fresh
context of n_prompt + n_gen slots per test, one warm-up (the whole prompt, or one generated
token), then repetitions that each start from an empty KV cache; a prompt test decodes random
tokens in batches of n_batch and synchronises at the end, a generation test decodes one token
at a time and synchronises after each. Around every test we sample what llama-bench does not:
available RAM and swap, peak RSS, temperature and frequency caps (throttling), and battery
power for energy per token.
"""

from __future__ import annotations

import ctypes
import logging
import random
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from blossom_edge import device as dev
from blossom_edge.errors import ExternalToolError, ResourceError
from blossom_edge.memory import (
    MemoryEstimate,
    ModelShape,
    bytes_per_token,
    current_rss,
    estimate,
    peak_rss,
    reset_peak_rss,
)
from blossom_edge.output import human_bytes

# A test that ends this hot, or with a lowered frequency cap, ran throttled.
THROTTLE_TEMP_C = 85.0


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


@dataclass
class Sample:
    """The device's state at one moment: memory, heat, clocks, battery draw."""

    ram_available: int | None
    swap_used: int | None
    temp_c: float | None
    caps: dict[int, int | None]
    power_w: float | None
    discharging: bool

    @classmethod
    def take(cls, tree: dev.Tree, cores: list[int]) -> Sample:
        mem = dev.read_memory(tree)
        swap_used = None
        if mem["swap_total"] is not None and mem["swap_free"] is not None:
            swap_used = mem["swap_total"] - mem["swap_free"]
        battery = dev.read_battery(tree)
        return cls(
            ram_available=mem["ram_available"],
            swap_used=swap_used,
            temp_c=dev.cpu_temperature(dev.read_thermal(tree)),
            caps=dev.read_freq_caps(tree, cores),
            power_w=battery.power_w if battery else None,
            discharging=bool(battery and (battery.status or "").lower() == "discharging"),
        )


def default_threads(info: dev.DeviceInfo) -> int:
    """Big cores only: on big.LITTLE the little ones drag every synchronised step down."""
    return max(1, info.default_threads or info.n_cores or 1)


def parse_threads(spec: str | None, info: dev.DeviceInfo) -> tuple[list[int], bool]:
    """`--threads` → counts to run and whether this is a sweep (then report the best)."""
    from blossom_edge.errors import UsageError

    if spec is None:
        return [default_threads(info)], False
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


class _GgmlThreadpoolParams(ctypes.Structure):
    """ggml.h's `struct ggml_threadpool_params` (GGML_MAX_N_THREADS = 512)."""

    _fields_ = [
        ("cpumask", ctypes.c_bool * 512),
        ("n_threads", ctypes.c_int),
        ("prio", ctypes.c_int),
        ("poll", ctypes.c_uint32),
        ("strict_cpu", ctypes.c_bool),
        ("paused", ctypes.c_bool),
    ]


class _ThreadPools:
    """ggml's thread-pool calls, which llama-cpp-python does not bind; found in its own libraries."""

    def __init__(self, base: ctypes.CDLL, cpu: ctypes.CDLL, llama: ctypes.CDLL) -> None:
        base.ggml_threadpool_params_init.argtypes = [ctypes.POINTER(_GgmlThreadpoolParams), ctypes.c_int]
        base.ggml_threadpool_params_init.restype = None
        cpu.ggml_threadpool_new.argtypes = [ctypes.POINTER(_GgmlThreadpoolParams)]
        cpu.ggml_threadpool_new.restype = ctypes.c_void_p
        cpu.ggml_threadpool_free.argtypes = [ctypes.c_void_p]
        cpu.ggml_threadpool_free.restype = None
        llama.llama_attach_threadpool.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        llama.llama_attach_threadpool.restype = None
        self._base, self._cpu, self._llama = base, cpu, llama

    @classmethod
    def load(cls, lib_dir: Path) -> _ThreadPools | None:
        """None when the libraries are laid out differently (then ggml's per-graph threads are used)."""
        def find(stem: str) -> ctypes.CDLL | None:
            for candidate in sorted(lib_dir.glob(f"lib{stem}.*")):
                try:
                    return ctypes.CDLL(str(candidate))
                except OSError:
                    continue
            return None

        libs = [find(name) for name in ("ggml-base", "ggml-cpu", "llama")]
        if any(lib is None for lib in libs):
            return None
        try:
            return cls(*libs)  # type: ignore[arg-type]
        except AttributeError:
            return None

    def new(self, threads: int) -> int | None:
        params = _GgmlThreadpoolParams()
        self._base.ggml_threadpool_params_init(ctypes.byref(params), threads)
        return self._cpu.ggml_threadpool_new(ctypes.byref(params))

    def attach(self, ctx: Any, pool: int) -> None:
        self._llama.llama_attach_threadpool(ctypes.cast(ctx, ctypes.c_void_p), pool, None)

    def free(self, pool: int) -> None:
        self._cpu.ggml_threadpool_free(pool)


class _Llama:
    """The handful of llama.cpp calls a benchmark needs, with its log kept quiet."""

    def __init__(self) -> None:
        import llama_cpp

        logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
        llama_cpp.llama_backend_init()
        self.lib = llama_cpp
        self._pools = _ThreadPools.load(Path(llama_cpp.__file__).parent / "lib")

    def load(self, path: Path) -> Any:
        params = self.lib.llama_model_default_params()
        params.n_gpu_layers = 0
        model = self.lib.llama_model_load_from_file(str(path).encode(), params)
        if not model:
            raise ExternalToolError(f"llama.cpp could not load {path}")
        return model

    @contextmanager
    def context(self, model: Any, n_ctx: int, cfg: BenchConfig, threads: int) -> Iterator[Any]:
        """A context with its own persistent thread pool, as llama-bench sets one up.

        Without an attached pool ggml starts and joins its worker threads for every graph,
        which costs a few percent of generation speed at each token.
        """
        params = self.lib.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = cfg.n_batch
        params.n_ubatch = cfg.n_ubatch
        params.n_threads = threads
        params.n_threads_batch = threads
        params.no_perf = True
        ctx = self.lib.llama_init_from_model(model, params)
        if not ctx:
            raise ExternalToolError(f"llama.cpp could not create a context of {n_ctx} tokens")
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
        buf = ctypes.create_string_buffer(256)
        self.lib.llama_model_desc(model, buf, len(buf))
        return buf.value.decode(), self.lib.llama_model_size(model), self.lib.llama_model_n_params(model)


class _Runner:
    """Prompt and generation tests on one context, llama-bench style."""

    def __init__(self, lib: Any, model: Any, ctx: Any, rng: random.Random, n_batch: int) -> None:
        self.lib, self.ctx, self.rng, self.n_batch = lib, ctx, rng, n_batch
        vocab = lib.llama_model_get_vocab(model)
        self.n_vocab = lib.llama_vocab_n_tokens(vocab)
        self.bos = lib.llama_vocab_bos(vocab) if lib.llama_vocab_get_add_bos(vocab) else None

    def clear(self) -> None:
        self.lib.llama_memory_clear(self.lib.llama_get_memory(self.ctx), False)

    def _decode(self, tokens: list[int]) -> None:
        array = (self.lib.llama_token * len(tokens))(*tokens)
        if self.lib.llama_decode(self.ctx, self.lib.llama_batch_get_one(array, len(tokens))) != 0:
            raise ExternalToolError("llama_decode failed during the benchmark")

    def prompt(self, n_prompt: int) -> None:
        done = 0
        while done < n_prompt:
            n = min(n_prompt - done, self.n_batch)
            tokens = [self.rng.randrange(self.n_vocab) for _ in range(n)]
            if done == 0 and self.bos is not None:
                tokens[0] = self.bos
            self._decode(tokens)
            done += n
        self.lib.llama_synchronize(self.ctx)

    def generate(self, n_gen: int) -> None:
        token = self.bos if self.bos is not None else self.rng.randrange(self.n_vocab)
        for _ in range(n_gen):
            self._decode([token])
            self.lib.llama_synchronize(self.ctx)
            token = self.rng.randrange(self.n_vocab)


def _stats(samples_ns: list[int], n_tokens: int) -> dict[str, Any]:
    ts = [1e9 * n_tokens / ns for ns in samples_ns]
    return {
        "avg_ns": int(statistics.fmean(samples_ns)),
        "stddev_ns": int(statistics.stdev(samples_ns)) if len(samples_ns) > 1 else 0,
        "avg_ts": statistics.fmean(ts),
        "stddev_ts": statistics.stdev(ts) if len(ts) > 1 else 0.0,
        "samples_ns": samples_ns,
        "samples_ts": ts,
    }


def _throttled(before: Sample, after: Sample) -> bool:
    capped = any(
        (before.caps.get(cpu) or 0) > (after.caps.get(cpu) or 0) > 0 for cpu in before.caps
    )
    return capped or (after.temp_c is not None and after.temp_c >= THROTTLE_TEMP_C)


def run(
    models: list[Path],
    cfg: BenchConfig,
    info: dev.DeviceInfo,
    tree: dev.Tree,
    bandwidth: float | None = None,
    progress: Callable[[str], None] = lambda _msg: None,
) -> list[dict[str, Any]]:
    """Benchmark every model × thread count × test; one llama-bench-like row per test."""
    from blossom_edge.gguf_info import read_gguf_info

    infos = [(path, read_gguf_info(path)) for path in models]
    n_ctx_max = max(cfg.n_prompt, cfg.n_gen, 1)
    for path, gguf in infos:
        need = estimate(ModelShape.from_gguf(gguf), n_ctx_max, cfg.n_batch, cfg.n_ubatch, runtime=0)
        mem = dev.read_memory(tree)
        check_fits(path, need, mem["ram_available"], mem["ram_total"], cfg.force)

    llama = _Llama()
    rng = random.Random(cfg.seed)
    threads = cfg.threads or [default_threads(info)]
    rows: list[dict[str, Any]] = []
    for path, gguf in infos:
        shape = ModelShape.from_gguf(gguf)
        progress(f"loading {path.name}")
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
                    label = f"pp{n_prompt}" if n_prompt else f"tg{n_gen}"
                    progress(f"{path.name}: {label}, {n_threads} threads, {cfg.reps} reps")
                    est = estimate(shape, n_prompt + n_gen, cfg.n_batch, cfg.n_ubatch, runtime=resident_before)
                    row = _one_test(llama, model, rng, cfg, tree, info, n_threads, n_prompt, n_gen)
                    row.update(_identity(path, desc, model_size, n_params, cfg, n_threads, n_prompt, n_gen))
                    row.update(load_time_s=load_s, est_memory=est.total)
                    if n_gen:
                        per_token = bytes_per_token(shape, n_gen / 2)
                        row["bytes_per_token"] = int(per_token)
                        row["bandwidth_bps"] = row["avg_ts"] * per_token
                        row["bandwidth_share"] = row["bandwidth_bps"] / bandwidth if bandwidth else None
                    rows.append(row)
        finally:
            llama.lib.llama_model_free(model)
    for row in rows:
        row.update(_device_fields(info, bandwidth))
    return rows


def _one_test(llama: _Llama, model: Any, rng: random.Random, cfg: BenchConfig, tree: dev.Tree,
              info: dev.DeviceInfo, n_threads: int, n_prompt: int, n_gen: int) -> dict[str, Any]:
    before = Sample.take(tree, info.perf_cores)
    reset_peak_rss()
    with llama.context(model, n_prompt + n_gen, cfg, n_threads) as ctx:
        runner = _Runner(llama.lib, model, ctx, rng, cfg.n_batch)
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
        peak = peak_rss()
    after = Sample.take(tree, info.perf_cores)
    stats = _stats(samples, n_prompt + n_gen)
    energy = None
    if before.power_w is not None and after.power_w is not None and before.discharging and after.discharging:
        watts = (before.power_w + after.power_w) / 2
        energy = watts * sum(samples) * 1e-9 / (cfg.reps * (n_prompt + n_gen))
    swap_growth = None
    if before.swap_used is not None and after.swap_used is not None:
        swap_growth = after.swap_used - before.swap_used
    return {
        **stats,
        "peak_rss": peak,
        "ram_available_before": before.ram_available,
        "ram_available_after": after.ram_available,
        "swap_growth": swap_growth,
        "temp_before_c": before.temp_c,
        "temp_after_c": after.temp_c,
        "throttled": _throttled(before, after),
        "energy_j_per_token": energy,
    }


def _identity(path: Path, desc: str, model_size: int, n_params: int, cfg: BenchConfig,
              n_threads: int, n_prompt: int, n_gen: int) -> dict[str, Any]:
    """The fields llama-bench itself prints, under its names."""
    import llama_cpp

    return {
        "build_commit": None,
        "build_number": None,
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


def _device_fields(info: dev.DeviceInfo, bandwidth: float | None) -> dict[str, Any]:
    return {
        "cpu_info": info.cpu_model,
        "device": info.name,
        "device_id": info.device_id,
        "soc": info.soc,
        "device_ram_total": info.ram_total,
        "device_bandwidth_bps": bandwidth,
    }


def best_by_model(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """For a sweep: the fastest thread count per model and test."""
    best: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        key = (row["model_filename"], "pp" if row["n_prompt"] else "tg")
        if key not in best or row["avg_ts"] > best[key]["avg_ts"]:
            best[key] = row
    return best


# The column order of --csv: llama-bench's fields first, then ours.
CSV_FIELDS = (
    "build_commit", "build_number", "cpu_info", "backends", "model_filename", "model_type", "model_size",
    "model_n_params", "n_batch", "n_ubatch", "n_threads", "type_k", "type_v", "n_gpu_layers", "n_prompt",
    "n_gen", "n_depth", "test_time", "avg_ns", "stddev_ns", "avg_ts", "stddev_ts", "samples_ns", "samples_ts",
    "device", "device_id", "soc", "device_ram_total", "load_time_s", "est_memory", "peak_rss",
    "ram_available_before", "ram_available_after", "swap_growth", "temp_before_c", "temp_after_c", "throttled",
    "energy_j_per_token", "bytes_per_token", "bandwidth_bps", "bandwidth_share", "device_bandwidth_bps",
    "engine",
)
