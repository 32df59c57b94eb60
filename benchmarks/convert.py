"""Benchmark `blossom-edge convert` against llama.cpp's convert_hf_to_gguf.py.

Generates a Qwen2-shaped bf16 checkpoint (the real Qwen2 vocabulary, so llama.cpp's
converter recognises it; random weights, written with numpy alone) and measures wall
time and peak RSS of each conversion in a fresh process, plus a plain file copy as the
floor. Run twice with different sizes to see whether peak RSS grows with the model.

    python benchmarks/convert.py                       # ≈1.5 GB, ours + reference
    python benchmarks/convert.py --size-gb 0.75 --skip-reference
    python benchmarks/convert.py --json results.json
    python benchmarks/convert.py --moe                 # ≈1 GB Qwen3-MoE, 64 experts per layer

`--moe` converts a Qwen3-MoE checkpoint instead (tests/builders/moe_checkpoints.py: 64
experts, 8 active, the real Qwen2 vocabulary), where llama.cpp's converter stacks each
layer's experts in memory and ours streams them; its targets are peak RSS ≤ 400 MB and
wall time ≤ 0.5× the reference's.

It prints `auto` and `f16` as multiples of `cat` + `sync` of the same shards (the floor for
an output that is on disk when the command returns), medians of interleaved rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HIDDEN, HEADS, FF, VOCAB = 1024, 16, 2816, 151936  # Qwen1.5-0.5B's shape, deepened to reach the size
# The --moe checkpoint: Qwen3-30B-A3B's proportions shrunk (head_dim 2 × hidden/heads, 4 query
# heads per KV head, experts 0.375 × hidden wide), 64 experts, deepened to reach the size.
MOE_HIDDEN, MOE_HEADS, MOE_KV_HEADS, MOE_FF, MOE_EXPERTS, MOE_ACTIVE = 512, 8, 2, 192, 64, 8
MOE_RSS_TARGET_MB, MOE_TIME_TARGET = 400, 0.5


def write_safetensors(path: Path, tensors: dict[str, tuple[tuple[int, ...], np.ndarray]]) -> None:
    """bf16 safetensors from raw uint16 arrays; numpy has no bf16, so the format is written directly."""
    header, offset = {}, 0
    for name, (shape, data) in tensors.items():
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + data.nbytes]}
        offset += data.nbytes
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    with path.open("wb") as fh:
        fh.write(struct.pack("<Q", len(blob)) + blob)
        for _, data in tensors.values():
            data.tofile(fh)


def make_checkpoint(directory: Path, size_gb: float) -> Path:
    from tests.builders.tokenizers import write_bpe_tokenizer

    rng = np.random.default_rng(0)

    def bf16(*shape: int) -> tuple[tuple[int, ...], np.ndarray]:
        values = rng.standard_normal(int(np.prod(shape)), dtype=np.float32) * 0.02
        return shape, (values.view(np.uint32) >> 16).astype(np.uint16)

    per_layer = 2 * (4 * HIDDEN * HIDDEN + 3 * HIDDEN * FF)
    embed = 2 * VOCAB * HIDDEN
    layers = max(1, round((size_gb * 1e9 - embed) / per_layer))
    directory.mkdir(parents=True, exist_ok=True)
    write_bpe_tokenizer(directory, kind="full")
    config = {
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": HIDDEN,
        "intermediate_size": FF, "num_hidden_layers": layers, "num_attention_heads": HEADS,
        "num_key_value_heads": HEADS, "vocab_size": VOCAB, "max_position_embeddings": 32768,
        "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "tie_word_embeddings": True, "torch_dtype": "bfloat16",
    }
    (directory / "config.json").write_text(json.dumps(config))
    shards, weight_map = [], {}
    shards.append({"model.embed_tokens.weight": bf16(VOCAB, HIDDEN), "model.norm.weight": bf16(HIDDEN)})
    for i in range(layers):
        p = f"model.layers.{i}."
        shards.append({
            p + "input_layernorm.weight": bf16(HIDDEN), p + "post_attention_layernorm.weight": bf16(HIDDEN),
            **{p + f"self_attn.{x}_proj.weight": bf16(HIDDEN, HIDDEN) for x in "qkvo"},
            **{p + f"self_attn.{x}_proj.bias": bf16(HIDDEN) for x in "qkv"},
            p + "mlp.gate_proj.weight": bf16(FF, HIDDEN), p + "mlp.up_proj.weight": bf16(FF, HIDDEN),
            p + "mlp.down_proj.weight": bf16(HIDDEN, FF),
        })
    # Group layers into ~500 MB shards like save_pretrained does.
    grouped, current, size = [], {}, 0
    for shard in shards:
        current.update(shard)
        size += sum(d.nbytes for _, d in shard.values())
        if size > 500e6:
            grouped.append(current)
            current, size = {}, 0
    if current:
        grouped.append(current)
    for n, tensors in enumerate(grouped, 1):
        name = f"model-{n:05d}-of-{len(grouped):05d}.safetensors"
        write_safetensors(directory / name, tensors)
        weight_map.update({k: name for k in tensors})
    (directory / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return directory


def make_moe_checkpoint(directory: Path, size_gb: float) -> Path:
    """A bf16 Qwen3-MoE checkpoint of about `size_gb`, in ~500 MB shards (layers straddle them)."""
    from tests.builders.moe_checkpoints import write_qwen3_moe_numpy

    head_dim = MOE_HIDDEN // MOE_HEADS * 2
    per_layer = 2 * (MOE_EXPERTS * 3 * MOE_FF * MOE_HIDDEN + MOE_EXPERTS * MOE_HIDDEN
                     + (2 * MOE_HEADS + 2 * MOE_KV_HEADS) * head_dim * MOE_HIDDEN)
    embed_and_head = 2 * 2 * VOCAB * MOE_HIDDEN
    layers = max(1, round((size_gb * 1e9 - embed_and_head) / per_layer))
    return write_qwen3_moe_numpy(directory, layers=layers, experts=MOE_EXPERTS, hidden=MOE_HIDDEN, moe_ff=MOE_FF,
                                 heads=MOE_HEADS, kv_heads=MOE_KV_HEADS, active=MOE_ACTIVE, tokenizer="full")


def measure(argv: list[str], env: dict | None = None) -> dict:
    """Wall time and peak RSS of one command, in its own process (wait4 gives its rusage alone)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(argv)}\n{stderr[-2000:]}")
    return {"seconds": round(wall, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-gb", type=float, default=None, help="checkpoint size (default 1.5, --moe 1.0)")
    parser.add_argument("--moe", action="store_true", help="a Qwen3-MoE checkpoint with 64 experts per layer")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of copy+sync, auto, f16")
    parser.add_argument("--generate", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.size_gb is None:
        args.size_gb = 1.0 if args.moe else 1.5
    if args.generate:
        (make_moe_checkpoint if args.moe else make_checkpoint)(args.generate, args.size_gb)
        return

    work = args.workdir or Path(tempfile.mkdtemp(prefix="be-bench-convert-"))
    ckpt = work / (f"qwen3moe-{MOE_EXPERTS}x-{args.size_gb}gb" if args.moe else f"qwen2-{args.size_gb}gb")
    if not (ckpt / "config.json").is_file():
        print(f"generating {args.size_gb} GB bf16 checkpoint in {ckpt} …", file=sys.stderr)
        # In a child process: Linux carries a parent's peak RSS into its children's rusage,
        # so this process must stay small for the measurements below to mean anything.
        subprocess.run([sys.executable, __file__, "--generate", str(ckpt), "--size-gb", str(args.size_gb),
                        *(["--moe"] if args.moe else [])], check=True)
    src_bytes = sum(p.stat().st_size for p in ckpt.glob("*.safetensors"))
    out = work / "out.gguf"
    results: dict = {"checkpoint_bytes": src_bytes, "cpus": os.cpu_count()}

    def copy_cmd(durable: bool = False) -> list[str]:
        # `durable` flushes the copy to disk, as our atomic output does before renaming.
        return ["sh", "-c", f"cat {ckpt}/*.safetensors > {out}" + (f" && sync {out}" if durable else "")]

    ours = [sys.executable, "-m", "blossom_edge", "convert", str(ckpt), "-o", str(out), "--json"]
    measure(copy_cmd())  # warm the page cache so every run reads from the same place
    results["file_copy"] = measure(copy_cmd())
    # The targets are ratios to a durable copy, so the two are measured side by side: rounds of
    # copy, auto, f16, interleaved so that drift in the machine's state hits all three alike.
    paired: dict[str, list[dict]] = {"file_copy_sync": [], "ours_auto": [], "ours_f16": []}
    for _ in range(args.rounds):
        out.unlink(missing_ok=True)
        paired["file_copy_sync"].append(measure(copy_cmd(durable=True)))
        for outtype in ("auto", "f16"):
            out.unlink(missing_ok=True)
            paired[f"ours_{outtype}"].append(measure([*ours, "--outtype", outtype]))
    for key, runs in paired.items():
        results[key] = {"seconds": statistics.median(r["seconds"] for r in runs),
                        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs), "runs": [r["seconds"] for r in runs]}
    copy_s = results["file_copy_sync"]["seconds"]
    results["ratio_auto_to_copy"] = round(results["ours_auto"]["seconds"] / copy_s, 2)
    results["ratio_f16_to_copy"] = round(results["ours_f16"]["seconds"] / copy_s, 2)
    if not args.skip_reference:
        from tests.builders.llama_cpp_source import llama_cpp_source

        src = llama_cpp_source()
        if src is None:
            results["reference"] = "unavailable: no $LLAMA_CPP_SRC and the llama-cpp-python sdist could not be fetched"
        else:
            env = {**os.environ, "PYTHONPATH": str(src / "gguf-py")}
            for outtype in ("f16", "auto"):
                out.unlink(missing_ok=True)
                results[f"reference_{outtype}"] = measure(
                    [sys.executable, str(src / "convert_hf_to_gguf.py"), str(ckpt), "--outfile", str(out),
                     "--outtype", outtype], env)
    out.unlink(missing_ok=True)
    for key, value in results.items():
        if isinstance(value, dict):
            rate = src_bytes / value["seconds"] / 1e6
            print(f"{key:16s} {value['seconds']:8.2f} s  {rate:8.1f} MB/s  peak RSS {value['peak_rss_mb']:8.1f} MB")
    print(f"auto / (cat + sync): {results['ratio_auto_to_copy']:.2f}x (target 1.3x); "
          f"f16 / (cat + sync): {results['ratio_f16_to_copy']:.2f}x (target 1.6x); medians of {args.rounds} rounds")
    if "reference_f16" in results and isinstance(results["reference_f16"], dict):
        speedup = results["reference_f16"]["seconds"] / results["ours_f16"]["seconds"]
        print(f"f16 speed-up over llama.cpp's converter: {speedup:.2f}x")
    if args.moe:
        ours_rss = max(results["ours_auto"]["peak_rss_mb"], results["ours_f16"]["peak_rss_mb"])
        print(f"MoE ({MOE_EXPERTS} experts): our peak RSS {ours_rss:.0f} MB (target ≤ {MOE_RSS_TARGET_MB} MB)")
        for outtype in ("f16", "auto"):
            if isinstance(results.get(f"reference_{outtype}"), dict):
                ratio = results[f"ours_{outtype}"]["seconds"] / results[f"reference_{outtype}"]["seconds"]
                results[f"ratio_{outtype}_to_reference"] = round(ratio, 3)
                print(f"MoE {outtype}: ours / llama.cpp's converter {ratio:.3f}x (target ≤ {MOE_TIME_TARGET}x), "
                      f"its peak RSS {results[f'reference_{outtype}']['peak_rss_mb']:.0f} MB")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if args.workdir is None:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
