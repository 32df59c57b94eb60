"""Time per chunk of `blossom-edge imatrix` against llama-imatrix: same GGUF, text, context and threads.

The model is the Qwen2-shaped checkpoint benchmarks/convert.py generates (real Qwen2
vocabulary, random weights), converted to f16 by us (≈1 GB at the default size). llama-imatrix
is built from the llama.cpp vendored in the llama-cpp-python sdist (tests/builders/llama_cpp_tools.py,
cached after the first build). Each tool runs twice, with 1 and with 1 + N chunks, so loading,
tokenizing and writing cancel out: per chunk = (wall(1 + N) - wall(1)) / N (both tools decode
four 512-token chunks per batch, so N = 4 is one full batch). An untimed run of each warms the
page cache first; rounds alternate the tools; medians are reported. Target: ours within 10%
of llama-imatrix.

    python benchmarks/imatrix.py                       # ≈1 GB model, 4 chunks of 512, 2 threads
    python benchmarks/imatrix.py --size-gb 0.5 --chunks 2 --rounds 1 --json out.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _convert_benchmark():
    spec = importlib.util.spec_from_file_location("convert_benchmark", ROOT / "benchmarks" / "convert.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _wall(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed: {done.stderr[-1500:]}")
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/blossom-imatrix-bench"))
    parser.add_argument("--size-gb", type=float, default=1.0)
    parser.add_argument("--ctx", type=int, default=512)
    parser.add_argument("--chunks", type=int, default=4)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    from blossom_edge.imatrix.text import default_text
    from tests.builders.llama_cpp_tools import llama_tool

    args.workdir.mkdir(parents=True, exist_ok=True)
    tool = llama_tool("llama-imatrix")
    model = args.workdir / f"bench-{args.size_gb:g}gb-F16.gguf"
    if not model.is_file():
        ckpt = _convert_benchmark().make_checkpoint(args.workdir / f"ckpt-{args.size_gb:g}", args.size_gb)
        subprocess.run([sys.executable, "-m", "blossom_edge", "convert", str(ckpt), "--outtype", "f16", "-o",
                        str(model)], check=True, cwd=ROOT)
    text = args.workdir / "calibration.txt"
    text.write_text(default_text().text + "\n", encoding="utf-8")

    def theirs(chunks: int) -> list[str]:
        return [str(tool), "-m", str(model), "-f", str(text), "-c", str(args.ctx), "--chunks", str(chunks),
                "-t", str(args.threads), "-o", str(args.workdir / "ref.imatrix.gguf")]

    def ours(chunks: int) -> list[str]:
        out = args.workdir / "ours.imatrix.gguf"
        out.unlink(missing_ok=True)
        return [sys.executable, "-m", "blossom_edge", "imatrix", str(model), "--text", str(text), "--ctx",
                str(args.ctx), "--chunks", str(chunks), "-t", str(args.threads), "-o", str(out), "--json"]

    # One untimed run of each first, so neither pays for reading the model into the page cache.
    _wall(theirs(1))
    _wall(ours(1))
    per_chunk: dict[str, list[float]] = {"llama-imatrix": [], "blossom-edge": []}
    for rnd in range(args.rounds):
        order = ("llama-imatrix", "blossom-edge") if rnd % 2 == 0 else ("blossom-edge", "llama-imatrix")
        for name in order:
            make = theirs if name == "llama-imatrix" else ours
            one = _wall(make(1))
            many = _wall(make(1 + args.chunks))
            per_chunk[name].append((many - one) / args.chunks)
            print(f"round {rnd + 1} {name:14} {per_chunk[name][-1]:.3f} s per chunk", flush=True)
    ref, mine = (statistics.median(per_chunk[k]) for k in ("llama-imatrix", "blossom-edge"))
    print(f"model {model.name} ({model.stat().st_size / 1e9:.2f} GB), ctx {args.ctx}, {args.threads} threads: "
          f"llama-imatrix {ref:.3f} s/chunk, blossom-edge {mine:.3f} s/chunk, ratio {mine / ref:.3f}")
    if args.json:
        args.json.write_text(json.dumps({"per_chunk": per_chunk, "ratio": mine / ref, "model_bytes":
                                         model.stat().st_size, "ctx": args.ctx, "threads": args.threads}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
