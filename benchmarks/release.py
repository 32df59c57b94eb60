"""`blossom-edge release` of four types on a local Ray against four separate `blossom-edge quantize` runs.

Both start from the same synthetic ~1.4 GB bfloat16 checkpoint (`benchmarks/convert.py`'s
`make_checkpoint`). The separate runs convert the checkpoint four times; the release converts
once and quantizes every type from the one intermediate, and also measures each type's
perplexity and KL divergence for the card, which the separate runs do not. So two baselines:
the four `quantize` runs alone (the issue's target: release ≤ 0.8× them), and the same four
plus the `blossom-edge quality` run a publisher would need for the card's figures (the first
run keeps its 16-bit intermediate as the reference): the same outputs by hand. Reported: wall
times and both ratios, the release's time in quality tasks, and Ray's own overhead per task
(the round trip of an empty task declared like ours, on the same local Ray).

    .venv/bin/python benchmarks/release.py --workdir /tmp/release-bench            # ≈1.4 GB, kept
    .venv/bin/python benchmarks/release.py --size-gb 0.2 --json                    # quick run
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
TYPES = ("q4_k_m", "q5_k_m", "q6_k", "q8_0")
CLI = [sys.executable, "-m", "blossom_edge"]


def _timed(cmd: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {done.stderr.strip()[-500:]}")
    return seconds, done.stdout


def ray_overhead(tasks: int = 20) -> float:
    """Seconds Ray adds to one task: submit → result of an empty task with num_cpus and memory declared."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        noop = ray.remote(lambda: None).options(num_cpus=1, memory=256 << 20, max_retries=3)
        ray.get(noop.remote())  # a worker started, as in a release
        samples = []
        for _ in range(tasks):
            t0 = time.perf_counter()
            ray.get(noop.remote())
            samples.append(time.perf_counter() - t0)
        return statistics.median(samples)
    finally:
        ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, help="Keep the checkpoint and outputs here (default: a temp dir).")
    parser.add_argument("--size-gb", type=float, default=1.4)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from convert import make_checkpoint

    work = args.workdir or Path(tempfile.mkdtemp(prefix="release-bench-"))
    ckpt = work / "blossom-bench"
    if not (ckpt / "config.json").exists():
        make_checkpoint(ckpt, args.size_gb)
    for name in ("separate", "release"):
        shutil.rmtree(work / name, ignore_errors=True)
    separate = {}
    for i, qtype in enumerate(TYPES):
        keep = ["--keep-intermediate"] if i == 0 else []
        separate[qtype], _ = _timed([*CLI, "quantize", str(ckpt), qtype, "-o", str(work / "separate"), "--json",
                                     *keep])
    reference = next((work / "separate").glob("*-BF16.gguf"))
    quants = sorted(str(p) for p in (work / "separate").glob("*-Q*.gguf"))
    by_hand_quality, _ = _timed([*CLI, "quality", str(reference), *quants, "--json"])
    release_seconds, out = _timed([*CLI, "release", str(ckpt), "--quants", ",".join(TYPES), "-o",
                                   str(work / "release"), "--json"])
    data = json.loads(out)
    tasks = {k: v for k, v in data["states"].items() if v["seconds"] is not None}
    quality = sum(v["seconds"] for k, v in tasks.items() if k.endswith(("/quality", "/reference")))
    identical = all((work / "separate" / p.name).read_bytes() == p.read_bytes()
                    for p in (work / "release" / "blossom-bench").glob("*-Q*.gguf"))
    report = {
        "checkpoint_gb": round(sum(p.stat().st_size for p in ckpt.glob("*.safetensors")) / 1e9, 2),
        "types": list(TYPES),
        "separate_seconds": {k: round(v, 1) for k, v in separate.items()},
        "separate_total_seconds": round(sum(separate.values()), 1),
        "release_seconds": round(release_seconds, 1),
        "ratio": round(release_seconds / sum(separate.values()), 3),
        "quality_by_hand_seconds": round(by_hand_quality, 1),
        "ratio_same_outputs": round(release_seconds / (sum(separate.values()) + by_hand_quality), 3),
        "release_task_seconds": {k: round(v["seconds"], 1) for k, v in tasks.items()},
        "release_quality_task_seconds": round(quality, 1),
        "ray_overhead_per_task_seconds": round(ray_overhead(), 4),
        "files_identical": identical,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for key, value in report.items():
        print(f"{key:32} {value}")


if __name__ == "__main__":
    main()
