"""HF checkpoint → Q4_K_M: `blossom-edge quantize` against llama.cpp's reference path.

The reference is llama.cpp's convert_hf_to_gguf.py to an f16 GGUF, then its quantizer
(the llama-quantize binary if one is built, else the same library function through
llama-cpp-python). Both start from the same synthetic bfloat16 checkpoint of about 1.5 GB,
shaped like Qwen1.5-0.5B with more layers and carrying the real Qwen2 tokenizer (which the
reference converter recognises). Measured per path (see `measure`): wall time, peak RSS of the
whole process tree (polled sum, and the kernel's per-process ru_maxrss), peak extra disk as the
bytes in the output directory (partial files included) and as the output file system's used-space
rise, and the rise of /dev/shm, where ours keeps its intermediate when it fits in RAM. For ours,
wall time per stage comes from its own report.

    python benchmarks/quantize.py --workdir /tmp/qbench            # ≈1.5 GB checkpoint, kept
    python benchmarks/quantize.py --layers 4 --json                # quick run

Ours includes its verification (load + greedy generation) and manifest (sha256); the reference has neither.
A missing reference (no torch/transformers, no llama.cpp source) is reported, not fatal.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.builders.llama_cpp_source import CACHE, VERSION  # noqa: E402 (after the path it needs)
from tests.builders.llama_cpp_tools import BUILD  # noqa: E402

# The same vendored llama.cpp the tests use (`python -m tests.builders.llama_cpp_tools llama-quantize` builds the binary).
LLAMA_CPP = Path(os.environ.get("LLAMA_CPP_SRC", CACHE / f"llama_cpp_python-{VERSION}" / "vendor" / "llama.cpp"))
QUANTIZE_BIN = Path(os.environ.get("LLAMA_QUANTIZE", BUILD / "bin" / "llama-quantize"))


def build_checkpoint(directory: Path, layers: int, hidden: int = 1024, ff: int = 2816) -> Path:
    """A Qwen2 bf16 checkpoint, one safetensors file, written tensor by tensor to bound memory."""
    import struct

    from blossom_edge.demo.model import _bf16
    from tests.builders.tokenizers import write_qwen2_full

    write_qwen2_full(directory)
    tok = json.loads((directory / "tokenizer.json").read_text())
    vocab = max([*tok["model"]["vocab"].values(), *(t["id"] for t in tok["added_tokens"])]) + 1
    eos = next(t["id"] for t in tok["added_tokens"] if t["content"] == "<|endoftext|>")
    shapes: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (vocab, hidden), "lm_head.weight": (vocab, hidden),
                                          "model.norm.weight": (hidden,)}
    for i in range(layers):
        p = f"model.layers.{i}."
        for n in ("input_layernorm", "post_attention_layernorm"):
            shapes[p + n + ".weight"] = (hidden,)
        for n in ("q", "k", "v"):
            shapes[p + f"self_attn.{n}_proj.weight"] = (hidden, hidden)
            shapes[p + f"self_attn.{n}_proj.bias"] = (hidden,)
        shapes[p + "self_attn.o_proj.weight"] = (hidden, hidden)
        shapes[p + "mlp.gate_proj.weight"] = (ff, hidden)
        shapes[p + "mlp.up_proj.weight"] = (ff, hidden)
        shapes[p + "mlp.down_proj.weight"] = (hidden, ff)
    header: dict = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name in sorted(shapes):
        size = 2 * int(np.prod(shapes[name]))
        header[name] = {"dtype": "BF16", "shape": list(shapes[name]), "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    rng = np.random.default_rng(0)
    with (directory / "model.safetensors").open("wb") as fh:
        fh.write(struct.pack("<Q", len(text)) + text)
        for name in sorted(shapes):
            data = np.ones(shapes[name], np.float32) if "norm" in name else rng.standard_normal(shapes[name], np.float32) * 0.02
            fh.write(_bf16(data))
    config = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": hidden,
              "intermediate_size": ff, "num_hidden_layers": layers, "num_attention_heads": 16,
              "num_key_value_heads": 16, "max_position_embeddings": 32768, "rms_norm_eps": 1e-6,
              "rope_theta": 1000000.0, "hidden_act": "silu", "vocab_size": vocab, "bos_token_id": eos,
              "eos_token_id": eos, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
              "use_sliding_window": False, "sliding_window": 32768, "max_window_layers": layers}
    (directory / "config.json").write_text(json.dumps(config, indent=2))
    return directory


def _dir_bytes(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.stat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


def _used(path: Path) -> int:
    return shutil.disk_usage(path).used


def measure(steps: list[list[str]], out_dir: Path, env: dict[str, str] | None = None) -> dict:
    """Run `steps` one after another, polling every 50 ms; returns wall time (total and per step), peaks
    and the last step's stdout.

    peak_rss: the largest sum of RSS over the step's whole process tree (the quantizer is a
    grandchild); wait4_maxrss: the largest single-process peak the kernel saw (ru_maxrss, which
    Linux carries from parent into children, so this process must stay small: the checkpoint is
    built in a child). peak_extra_disk: the largest total size of the files in `out_dir`, partial
    files included; peak_fs_used_delta: the output file system's used-space rise, which also sees
    writes outside `out_dir` but also other users' writes on a shared machine. peak_ram_dir_delta:
    the same for /dev/shm, where ours puts its intermediate when it fits in RAM.
    """
    ram = Path("/dev/shm")
    base = {"fs": _used(out_dir), "ram": _used(ram) if ram.is_dir() else 0}
    peak = {"rss": 0, "disk": 0, "fs": 0, "ram": 0}
    done = threading.Event()

    def sample(proc: psutil.Process) -> None:
        while not done.is_set():
            try:
                rss = sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)])
            except psutil.Error:
                rss = 0
            peak["rss"] = max(peak["rss"], rss)
            peak["disk"] = max(peak["disk"], _dir_bytes(out_dir))
            peak["fs"] = max(peak["fs"], _used(out_dir) - base["fs"])
            if ram.is_dir():
                peak["ram"] = max(peak["ram"], _used(ram) - base["ram"])
            time.sleep(0.05)

    start = time.perf_counter()
    maxrss = 0
    out = ""
    step_seconds: list[float] = []
    for cmd in steps:
        step_start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        done.clear()
        watcher = threading.Thread(target=sample, args=(psutil.Process(proc.pid),))
        watcher.start()
        # communicate() reaps with waitpid, which discards rusage; drain the pipes, then wait4 ourselves.
        chunks: dict[str, str] = {}
        readers = [threading.Thread(target=lambda f=f, k=k, into=chunks: into.__setitem__(k, f.read()))
                   for k, f in (("out", proc.stdout), ("err", proc.stderr))]
        for r in readers:
            r.start()
        for r in readers:
            r.join()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        done.set()
        watcher.join()
        maxrss = max(maxrss, usage.ru_maxrss * 1024)
        step_seconds.append(round(time.perf_counter() - step_start, 2))
        out, err = chunks["out"], chunks["err"]
        if proc.returncode != 0:
            raise RuntimeError(f"{cmd[:3]} failed: {err.strip().splitlines()[-1] if err.strip() else proc.returncode}")
    return {"seconds": round(time.perf_counter() - start, 2), "step_seconds": step_seconds, "peak_rss": peak["rss"], "wait4_maxrss": maxrss,
            "peak_extra_disk": peak["disk"], "peak_fs_used_delta": peak["fs"], "peak_ram_dir_delta": peak["ram"],
            "output_bytes": _dir_bytes(out_dir), "stdout": out}


def reference_steps(ckpt: Path, out: Path, threads: int) -> tuple[list[list[str]], str] | None:
    script = LLAMA_CPP / "convert_hf_to_gguf.py"
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        return None
    if not script.is_file():
        return None
    f16 = out / "ref-F16.gguf"
    final = out / "ref-Q4_K_M.gguf"
    steps = [[sys.executable, str(script), str(ckpt), "--outtype", "f16", "--outfile", str(f16)]]
    if QUANTIZE_BIN.is_file():
        steps.append([str(QUANTIZE_BIN), str(f16), str(final), "Q4_K_M", str(threads)])
        how = f"llama-quantize binary ({QUANTIZE_BIN})"
    else:
        code = ("import ctypes,llama_cpp as l;l.llama_backend_init();p=l.llama_model_quantize_default_params();"
                f"p.ftype=l.LLAMA_FTYPE_MOSTLY_Q4_K_M;p.nthread={threads};"
                f"assert l.llama_model_quantize(b'{f16}',b'{final}',ctypes.byref(p))==0")
        steps.append([sys.executable, "-c", code])
        how = "llama_model_quantize through llama-cpp-python (no llama-quantize binary built)"
    return steps, how


def _checkpoint(work: Path, layers: int) -> Path:
    """The benchmark checkpoint under `work`, reused if a previous run left it; built in a child process
    so that this process, whose peak RSS Linux passes on to every child's ru_maxrss, stays small."""
    ckpt = work / f"blossom-bench-{layers}l"
    if not (ckpt / "config.json").is_file():
        ckpt.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, __file__, "--build", str(ckpt), "--layers", str(layers)], check=True)
    return ckpt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=30, help="decoder layers (30 ≈ 1.5 GB bf16)")
    ap.add_argument("--workdir", type=Path, default=None,
                    help="keep the checkpoint here between runs (default: a temporary directory, removed)")
    ap.add_argument("--build", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.build:
        build_checkpoint(args.build, args.layers)
        return 0
    threads = os.cpu_count() or 1
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-quantize-"))
    work.mkdir(parents=True, exist_ok=True)
    runs = Path(tempfile.mkdtemp(prefix="run-", dir=work))
    try:
        ckpt = _checkpoint(work, args.layers)
        result: dict = {"checkpoint_bytes": _dir_bytes(ckpt), "threads": threads, "load_average_before": os.getloadavg()}
        ours_out = runs / "ours"
        ours_out.mkdir()
        ours = measure([[sys.executable, "-m", "blossom_edge", "quantize", str(ckpt), "q4_k_m",
                         "-o", str(ours_out), "--json"]], ours_out)
        report = json.loads(ours.pop("stdout"))
        manifest = json.loads(Path(report["manifest"]).read_text())
        result["ours"] = {**ours, "stages_seconds": report["timings_seconds"],
                          "intermediate": manifest.get("intermediate")}
        ref_out = runs / "ref"
        ref_out.mkdir()
        ref = reference_steps(ckpt, ref_out, threads)
        if ref is None:
            result["reference"] = "not available: needs torch, transformers and llama.cpp's convert_hf_to_gguf.py"
        else:
            env = {**os.environ, "PYTHONPATH": str(LLAMA_CPP / "gguf-py"), "NO_LOCAL_GGUF": ""}
            ref_result = measure(ref[0], ref_out, env)
            ref_result.pop("stdout")
            result["reference"] = {**ref_result, "quantizer": ref[1]}
            r, o = result["reference"], result["ours"]
            result["wall_time_saving"] = round(1 - o["seconds"] / r["seconds"], 3)
            result["extra_disk_saving"] = round(1 - o["peak_extra_disk"] / r["peak_extra_disk"], 3)
        result["load_average_after"] = os.getloadavg()
    finally:
        shutil.rmtree(runs if args.workdir else work, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:20} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
