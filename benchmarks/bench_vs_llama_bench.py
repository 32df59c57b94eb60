"""Our prompt and generation tokens/s against llama-bench's, same GGUF, same threads, interleaved.

llama-bench is built from the llama.cpp sources vendored in the llama-cpp-python sdist, i.e.
the same llama.cpp our Python binding runs. Rounds alternate the two tools so drift in clocks
or heat hits both alike; each round runs pp and tg with the same --reps. Both tools get the same
weight-repacking setting (`--repack`: ours decides for auto, llama-bench is told the decision).
Target: within 5%.

    python -m tests.builders.llama_cpp_tools llama-bench     # build it once (cached)
    python benchmarks/bench_vs_llama_bench.py --threads 2 --rounds 3
    python benchmarks/bench_vs_llama_bench.py --qtype q4_0 --repack off
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def llama_bench(binary: Path, model: Path, threads: int, pp: int, tg: int, reps: int,
                repack: bool) -> dict[str, float]:
    cmd = [str(binary), "-m", str(model), "-t", str(threads), "-p", str(pp), "-n", str(tg), "-r", str(reps),
           "--repack", str(int(repack)), "-o", "json"]
    rows = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    return {("pp" if r["n_prompt"] else "tg"): r["avg_ts"] for r in rows}


def ours(model: Path, threads: int, pp: int, tg: int, reps: int, data_home: Path, repack: bool) -> dict[str, float]:
    cmd = [sys.executable, "-m", "blossom_edge", "bench", str(model), "--threads", str(threads), "--pp", str(pp),
           "--tg", str(tg), "--reps", str(reps), "--bandwidth", "10", "--json", "--force",
           "--repack", "on" if repack else "off"]
    env = {**os.environ, "XDG_DATA_HOME": str(data_home)}
    rows = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT, env=env).stdout)
    return {("pp" if r["n_prompt"] else "tg"): r["avg_ts"] for r in rows}


def _build_model(path: Path, qtype: str) -> Path:
    """A random llama-shaped model: Q8_0 written directly, any other type quantized by llama.cpp from F16."""
    from blossom_edge.quantize.child import quantize_gguf
    from blossom_edge.quantize.types import parse_qtype
    from tests.builders.tiny_gguf import build_tiny_llama

    shape = {"n_embd": 1024, "n_layer": 4, "n_ff": 2816, "n_head": 16, "n_head_kv": 4}
    if qtype.lower() == "q8_0":
        build_tiny_llama(path, weight_type="Q8_0", **shape)
        return path
    f16 = path.with_name("small-f16.gguf")
    if not f16.exists():
        build_tiny_llama(f16, weight_type="F16", **shape)
    return quantize_gguf(f16, path, parse_qtype(qtype), progress=False).path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    from tests.builders.llama_cpp_tools import BUILD

    parser.add_argument("--llama-bench", type=Path, default=BUILD / "bin" / "llama-bench")
    parser.add_argument("--model", type=Path, default=None, help="GGUF (default: build a random one of --qtype)")
    parser.add_argument("--qtype", default="q8_0", help="type of the built model: q8_0 (~120 MB), q4_0, q4_k_m, ...")
    parser.add_argument("--repack", choices=("auto", "on", "off"), default="auto",
                        help="weight repacking for both tools (auto: what blossom-edge decides on this machine)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pp", type=int, default=512)
    parser.add_argument("--tg", type=int, default=128)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/blossom-vs-llama-bench"))
    args = parser.parse_args()
    if not args.llama_bench.is_file():
        print(f"llama-bench not found at {args.llama_bench}: build it from the llama.cpp sources vendored in the "
              "llama-cpp-python sdist with `python -m tests.builders.llama_cpp_tools llama-bench`, or pass "
              "--llama-bench PATH", file=sys.stderr)
        return 2
    args.workdir.mkdir(parents=True, exist_ok=True)
    model = args.model
    if model is None:
        model = args.workdir / f"small-{args.qtype.lower()}.gguf"
        if not model.exists():
            model = _build_model(model, args.qtype)
    if args.repack == "auto":
        os.environ.pop("BLOSSOM_EDGE_REPACK", None)
        from blossom_edge.engine.weight_repack import extra_buffers_allowed

        repack = extra_buffers_allowed()
    else:
        repack = args.repack == "on"
    results: dict[str, dict[str, list[float]]] = {"llama-bench": {"pp": [], "tg": []}, "blossom-edge": {"pp": [], "tg": []}}
    for rnd in range(args.rounds):
        order = ("llama-bench", "blossom-edge") if rnd % 2 == 0 else ("blossom-edge", "llama-bench")
        for tool in order:
            if tool == "llama-bench":
                got = llama_bench(args.llama_bench, model, args.threads, args.pp, args.tg, args.reps, repack)
            else:
                got = ours(model, args.threads, args.pp, args.tg, args.reps, args.workdir / "data", repack)
            for test, ts in got.items():
                results[tool][test].append(ts)
            print(f"round {rnd + 1} {tool:<12} pp{args.pp} {got['pp']:9.2f} t/s   tg{args.tg} {got['tg']:8.2f} t/s",
                  file=sys.stderr)
    print(f"model {model.name} ({model.stat().st_size / 2**20:.1f} MiB), {args.threads} threads, "
          f"weights {'repacked' if repack else 'not repacked'}, "
          f"{args.rounds} interleaved rounds × {args.reps} reps, medians over rounds")
    worst = 0.0
    for test in ("pp", "tg"):
        # The median over rounds: one round disturbed by another process should not decide it.
        ref = statistics.median(results["llama-bench"][test])
        mine = statistics.median(results["blossom-edge"][test])
        diff = mine / ref - 1
        worst = max(worst, abs(diff))
        print(f"{test}: llama-bench {ref:9.2f} t/s   blossom-edge {mine:9.2f} t/s   difference {100 * diff:+.1f}%")
    print(f"worst difference {100 * worst:.1f}% (target 5%)")
    return 0 if worst <= 0.05 else 1


if __name__ == "__main__":
    raise SystemExit(main())
