"""`fit`'s speed estimate against a real `blossom-edge bench` run on this machine.

Builds a random-weight llama GGUF (~330 MB Q8_0 by default; speed depends only on shapes and
types) unless given one, measures this machine's copy bandwidth with the function `fit` uses
(`bench.bandwidth.measure`), runs `blossom-edge bench --json` on the file in its own process,
and prints estimate / measured for generation. Each round measures the bandwidth and then benches,
so the two see the same load from other processes; the figure reported is the median over
`--rounds` of each round's estimate / measured (the machine is shared, and a round's ratio is
steadier than either figure alone):

* "file": `fit.estimated_tg` on the file's own shape and tensor bytes, at the bench's context
  (the tg test starts empty, so on average n_gen/2 tokens are in the KV cache);
* "catalog": the same function on the weight bytes `fit` assumes for a catalog model of this
  parameter count and quant type (parameters × the quantizer table's bits per weight).

`fit` makes no prompt-processing estimate (prompt batches are compute-bound, and no compute
figure is measured), so pp is reported as measured only.

    python benchmarks/fit.py --workdir /tmp/blossom-fit
    python benchmarks/fit.py --model some.gguf --qtype Q4_K_M --tg 128 --reps 5
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SHAPE = dict(n_embd=2048, n_layer=4, n_ff=5632, n_head=16, n_head_kv=4, weight_type="Q8_0")


def run_bench(model: Path, args: argparse.Namespace, bandwidth: float) -> dict[str, dict]:
    """bench's JSON rows for the file, keyed pp / tg."""
    cmd = [sys.executable, "-m", "blossom_edge", "bench", str(model), "--pp", str(args.pp), "--tg", str(args.tg),
           "--reps", str(args.reps), "--threads", str(args.threads), "--bandwidth", f"{bandwidth / 1e9:.3f}",
           "--json", "--force"]
    env = {**os.environ, "XDG_DATA_HOME": str(args.workdir / "data")}
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT, env=env)
    return {("pp" if r["n_prompt"] else "tg"): r for r in json.loads(out.stdout)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/blossom-fit"))
    parser.add_argument("--model", type=Path, default=None, help="GGUF to bench (default: build a Q8_0 one)")
    parser.add_argument("--qtype", default=None, help="the file's quant type for the catalog-style figure "
                                                     "(default: Q8_0 for the built file)")
    parser.add_argument("--pp", type=int, default=256)
    parser.add_argument("--tg", type=int, default=64)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5, help="bandwidth + bench rounds; the median ratio is kept")
    args = parser.parse_args()

    from blossom_edge.bench import fit
    from blossom_edge.bench.bandwidth import measure
    from blossom_edge.inputs.gguf_info import read_gguf_info

    args.workdir.mkdir(parents=True, exist_ok=True)
    model, qtype = args.model, args.qtype
    if model is None:
        from tests.builders.tiny_gguf import build_tiny_llama

        model, qtype = args.workdir / "fit-q8_0.gguf", qtype or SHAPE["weight_type"]
        if not model.exists():
            print(f"building {model}", file=sys.stderr)
            build_tiny_llama(model, **SHAPE)
    info = read_gguf_info(model)
    shape = info.model_shape()
    context = args.tg / 2
    catalog_shape = (shape.with_weights(int(info.n_params * fit.QUANTS[qtype.upper()] / 8)) if qtype else None)
    rounds = []
    for n in range(args.rounds):
        bandwidth = measure(args.threads)
        got = run_bench(model, args, bandwidth)
        tg = got["tg"]["avg_ts"]
        ratios = {"file": fit.estimated_tg(shape, context, bandwidth) / tg}
        if catalog_shape is not None:
            ratios[f"catalog {qtype.upper()}"] = fit.estimated_tg(catalog_shape, context, bandwidth) / tg
        rounds.append((bandwidth, got, ratios))
        print(f"round {n + 1}: load {os.getloadavg()[0]:.1f}, bandwidth {bandwidth / 1e9:.2f} GB/s, "
              f"pp {got['pp']['avg_ts']:.1f} t/s, tg {tg:.2f} t/s, estimate / measured {ratios['file']:.2f}",
              file=sys.stderr)
    tgs = [got["tg"]["avg_ts"] for _, got, _ in rounds]
    print(f"model {model.name}: {info.file_size / 2**20:.0f} MiB, {info.n_params / 1e6:.0f} M parameters, "
          f"{args.threads} threads; copy bandwidth {median([b for b, _, _ in rounds]) / 1e9:.2f} GB/s median "
          f"(measured each round, as fit measures it), {args.rounds} rounds")
    print(f"pp{args.pp}: measured {median([got['pp']['avg_ts'] for _, got, _ in rounds]):.1f} t/s median; "
          "fit gives no prompt estimate")
    shares = [got["tg"]["bandwidth_share"] for _, got, _ in rounds if got["tg"].get("bandwidth_share")]
    share = f"{median(shares):.2f}" if shares else "?"
    print(f"tg{args.tg}: measured {median(tgs):.2f} t/s median ({min(tgs):.2f}–{max(tgs):.2f}), bandwidth share "
          f"{share} (fit assumes {fit.DECODE_EFFICIENCY})")
    for name in rounds[0][2]:
        values = [r[name] for _, _, r in rounds]
        print(f"  estimate ({name}) / measured: median {median(values):.2f} (rounds {min(values):.2f}–{max(values):.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
