"""Memory estimate against measured peak RSS, for two model sizes.

Builds two random-weight llama GGUFs (~120 MB Q8_0 and ~850 MB F16) unless given, runs
`blossom-edge bench --json` on each in its own process, and compares every test's
`est_memory` (made before loading) with its `peak_rss`. Target: within 15%.

    python benchmarks/memory_estimate.py --workdir /tmp/blossom-mem
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SIZES = {
    "small-q8_0": dict(n_embd=1024, n_layer=4, n_ff=2816, n_head=16, n_head_kv=4, weight_type="Q8_0"),
    "large-f16": dict(n_embd=2048, n_layer=6, n_ff=5632, n_head=16, n_head_kv=4, weight_type="F16"),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/blossom-mem"))
    parser.add_argument("--pp", type=int, default=512)
    parser.add_argument("--tg", type=int, default=128)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--threads", default="2")
    args = parser.parse_args()
    from tests.builders.tiny_gguf import build_tiny_llama

    args.workdir.mkdir(parents=True, exist_ok=True)
    worst = 0.0
    print(f"{'model':<12} {'size MiB':>9} {'test':>6} {'estimate MiB':>13} {'peak RSS MiB':>13} {'error':>7}")
    for name, shape in SIZES.items():
        path = args.workdir / f"{name}.gguf"
        if not path.exists():
            print(f"building {path}", file=sys.stderr)
            build_tiny_llama(path, **shape)
        cmd = [sys.executable, "-m", "blossom_edge", "bench", str(path), "--pp", str(args.pp), "--tg", str(args.tg),
               "--reps", str(args.reps), "--threads", args.threads, "--bandwidth", "10", "--json", "--force"]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT,
                             env={**__import__("os").environ, "XDG_DATA_HOME": str(args.workdir / "data")})
        for row in json.loads(out.stdout):
            err = row["est_memory"] / row["peak_rss"] - 1
            worst = max(worst, abs(err))
            test = f"pp{row['n_prompt']}" if row["n_prompt"] else f"tg{row['n_gen']}"
            print(f"{name:<12} {path.stat().st_size / 2**20:>9.1f} {test:>6} {row['est_memory'] / 2**20:>13.1f} "
                  f"{row['peak_rss'] / 2**20:>13.1f} {100 * err:>6.1f}%")
    print(f"worst error {100 * worst:.1f}% (target 15%)")
    return 0 if worst <= 0.15 else 1


if __name__ == "__main__":
    raise SystemExit(main())
