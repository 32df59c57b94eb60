"""`bench --ollama TAG`: the same prompt/generation measurement through a running Ollama server.

Ollama's /api/generate returns its own nanosecond timings (prompt_eval_count/_duration,
eval_count/_duration, load_duration), measured inside the server around llama.cpp, so the
figures exclude HTTP overhead. Each repetition gets a fresh random prefix so Ollama's prompt
cache cannot skip the prompt evaluation we are timing.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable
from typing import Any

from blossom_edge.base.errors import NotFoundError
from blossom_edge.bench.llama import BenchConfig
from blossom_edge.bench.measure import Sample, swap_growth, throttled, timing_stats
from blossom_edge.bench.row import BenchRow
from blossom_edge.device.probe import DeviceInfo
from blossom_edge.device.threads import performance_cores
from blossom_edge.device.tree import Tree

_WORDS = ("river", "garden", "blossom", "light", "stone", "cloud", "orchard", "wind", "lantern", "meadow")


def _generate(client: Any, url: str, payload: dict[str, Any]) -> dict[str, Any]:
    """One non-streamed /api/generate through the official client, failures as one line."""
    import ollama

    from blossom_edge.ollama.client import talking

    with talking(url, "generate"):
        try:
            return client.generate(**payload).model_dump()
        except ollama.ResponseError as exc:
            if exc.status_code == 404:
                raise NotFoundError(
                    f"Ollama has no model '{payload['model']}' (try: ollama pull {payload['model']})"
                ) from None
            raise


def _prompt(rng: random.Random, n_words: int) -> str:
    return f"{rng.random():.12f} " + " ".join(rng.choice(_WORDS) for _ in range(n_words))


def run_ollama(
    tag: str,
    cfg: BenchConfig,
    info: DeviceInfo,
    tree: Tree,
    bandwidth: float | None = None,
    progress: Callable[[str], None] = lambda _msg: None,
) -> list[BenchRow]:
    """One prompt row and one generation row per thread count, from Ollama's own timings."""
    from blossom_edge.ollama.client import connect, server_url

    client = connect()
    url = server_url(client)
    rng = random.Random(cfg.seed)
    rows: list[BenchRow] = []
    threads = cfg.threads or [performance_cores(info)]
    for n_threads in threads:
        options = {"num_thread": n_threads, "num_ctx": max(cfg.n_prompt + cfg.n_gen + 64, 512),
                   "num_predict": max(cfg.n_gen, 1), "temperature": 0, "seed": cfg.seed}
        payload = {"model": tag, "stream": False, "raw": True, "options": options, "keep_alive": "5m"}
        progress(f"ollama {tag}: warm-up, {n_threads} threads")
        warm = _generate(client, url, {**payload, "prompt": _prompt(rng, 8)})
        before = Sample.take(tree, info.perf_cores)
        pp_ns: list[int] = []
        tg_ns: list[int] = []
        pp_tokens: list[int] = []
        tg_tokens: list[int] = []
        for rep in range(cfg.reps):
            progress(f"ollama {tag}: {n_threads} threads, repetition {rep + 1}/{cfg.reps}")
            # Roughly 1.3 tokens per word; Ollama reports the exact count, which is what we divide by.
            answer = _generate(client, url, {**payload, "prompt": _prompt(rng, max(1, int(cfg.n_prompt / 1.3)))})
            if answer.get("prompt_eval_count") and answer.get("prompt_eval_duration"):
                pp_tokens.append(int(answer["prompt_eval_count"]))
                pp_ns.append(int(answer["prompt_eval_duration"]))
            if answer.get("eval_count") and answer.get("eval_duration"):
                tg_tokens.append(int(answer["eval_count"]))
                tg_ns.append(int(answer["eval_duration"]))
        after = Sample.take(tree, info.perf_cores)
        common = {
            "engine": "ollama", "model_filename": tag, "model_type": tag, "n_threads": n_threads,
            "backends": "ollama", "load_time_s": int(warm.get("load_duration") or 0) / 1e9,
            "ram_available_before": before.ram_available, "ram_available_after": after.ram_available,
            "swap_growth": swap_growth(before, after), "temp_before_c": before.temp_c,
            "temp_after_c": after.temp_c, "throttled": throttled(before, after),
            "device": info.name, "device_id": info.device_id, "soc": info.soc, "cpu_info": info.cpu_model,
            "device_ram_total": info.ram_total, "device_bandwidth_bps": bandwidth,
        }
        for n_tokens, samples, is_prompt in ((pp_tokens, pp_ns, True), (tg_tokens, tg_ns, False)):
            # Ollama always evaluates a prompt and emits a token; report only the tests asked for.
            if not samples or (cfg.n_prompt if is_prompt else cfg.n_gen) == 0:
                continue
            # Token counts vary a little between repetitions; rates use each repetition's own count.
            per_token = [ns / n for ns, n in zip(samples, n_tokens)]
            mean_tokens = round(statistics.fmean(n_tokens))
            rows.append(BenchRow(**common, **timing_stats([int(p * mean_tokens) for p in per_token], mean_tokens),
                                 n_prompt=mean_tokens if is_prompt else 0, n_gen=0 if is_prompt else mean_tokens))
    return rows
