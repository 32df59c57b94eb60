"""`fit`'s speed estimate against real `blossom-edge bench` runs on this machine.

`fit` estimates generation as copy bandwidth × decode efficiency ÷ bytes read per token, the
efficiency being the share of copy bandwidth `bench` measured on the device (any model), or the
typical DECODE_EFFICIENCY before any bench run. This script checks both, the way a user meets
them: it benches a calibration file (a random-weight Q8_0 llama of 4 layers, ~330 MB) whose measured
share becomes the device's for that type, then predicts a different file (by default a Q8_0 of 8
layers, ~600 MB, as fit predicts one model from a bench of another of the same type; or `--model`,
e.g. an F16 to see a share carried across types) and benches that one to compare.

Each round measures the copy bandwidth with the function `fit` uses (`bench.bandwidth.measure`)
and then benches both files in their own processes, so all three see the same load from other
processes on this shared machine; the figures reported are medians over `--rounds` of each
round's estimate / measured:

* "typical": `fit.estimated_tg` at DECODE_EFFICIENCY, what fit says before any bench run;
* "calibrated": the same at the calibration file's measured share, what fit says after one;
* "catalog": the calibrated figure on the weight bytes `fit` assumes for a catalog model of this
  parameter count and quant type (parameters × the quantizer table's bits per weight).

`fit` makes no prompt-processing estimate (prompt batches are compute-bound, and no compute
figure is measured), so pp is reported as measured only.

    python benchmarks/fit.py --workdir /tmp/blossom-fit
    python benchmarks/fit.py --model some-f16.gguf --qtype F16   # a share carried across types
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

SHAPE = dict(n_embd=2048, n_ff=5632, n_head=16, n_head_kv=4)


def run_bench(model: Path, args: argparse.Namespace, bandwidth: float) -> dict[str, dict]:
    """bench's JSON rows for the file, keyed pp / tg."""
    cmd = [sys.executable, "-m", "blossom_edge", "bench", str(model), "--pp", str(args.pp), "--tg", str(args.tg),
           "--reps", str(args.reps), "--threads", str(args.threads), "--bandwidth", f"{bandwidth / 1e9:.3f}",
           "--json", "--force"]
    env = {**os.environ, "XDG_DATA_HOME": str(args.workdir / "data")}
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT, env=env)
    return {("pp" if r["n_prompt"] else "tg"): r for r in json.loads(out.stdout)}


def built(args: argparse.Namespace, weight_type: str, n_layer: int) -> Path:
    from tests.builders.tiny_gguf import build_tiny_llama

    path = args.workdir / f"fit-{weight_type.lower()}-{n_layer}l.gguf"
    if not path.exists():
        print(f"building {path}", file=sys.stderr)
        build_tiny_llama(path, weight_type=weight_type, n_layer=n_layer, **SHAPE)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/blossom-fit"))
    parser.add_argument("--model", type=Path, default=None, help="GGUF to predict (default: build an 8-layer Q8_0)")
    parser.add_argument("--qtype", default=None, help="its quant type for the catalog-style figure "
                                                     "(default: Q8_0 for the built file)")
    parser.add_argument("--pp", type=int, default=256)
    parser.add_argument("--tg", type=int, default=64)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5, help="bandwidth + bench rounds; medians are reported")
    args = parser.parse_args()

    from blossom_edge.bench import fit
    from blossom_edge.bench.bandwidth import measure
    from blossom_edge.inputs.gguf_info import read_gguf_info

    args.workdir.mkdir(parents=True, exist_ok=True)
    calibration = built(args, "Q8_0", 4)
    model, qtype = args.model, args.qtype
    if model is None:
        model, qtype = built(args, "Q8_0", 8), qtype or "Q8_0"
    info = read_gguf_info(model)
    shape = info.model_shape()
    catalog_shape = shape.with_weights(int(info.n_params * fit.QUANTS[qtype.upper()] / 8)) if qtype else None
    context = args.tg / 2
    rounds: list[dict[str, float]] = []
    for n in range(args.rounds):
        bandwidth = measure(args.threads)
        share = run_bench(calibration, args, bandwidth)["tg"]["bandwidth_share"]
        got = run_bench(model, args, bandwidth)
        tg = got["tg"]["avg_ts"]
        result = {"bandwidth": bandwidth, "share": share, "tg": tg, "pp": got["pp"]["avg_ts"],
                  "typical": fit.estimated_tg(shape, context, bandwidth) / tg,
                  "calibrated": fit.estimated_tg(shape, context, bandwidth, efficiency=share) / tg}
        if catalog_shape is not None:
            result[f"catalog {qtype.upper()}"] = fit.estimated_tg(catalog_shape, context, bandwidth,
                                                                  efficiency=share) / tg
        rounds.append(result)
        print(f"round {n + 1}: load {os.getloadavg()[0]:.1f}, bandwidth {bandwidth / 1e9:.2f} GB/s, calibration share "
              f"{share:.2f}, {model.name} tg {tg:.2f} t/s, estimate / measured typical {result['typical']:.2f}, "
              f"calibrated {result['calibrated']:.2f}", file=sys.stderr)

    def mid(key: str) -> float:
        return median(r[key] for r in rounds)

    tgs = [r["tg"] for r in rounds]
    print(f"predicted {model.name}: {info.file_size / 2**20:.0f} MiB, {info.n_params / 1e6:.0f} M parameters; "
          f"calibrated on {calibration.name}; {args.threads} threads; copy bandwidth {mid('bandwidth') / 1e9:.2f} GB/s "
          f"median (measured each round, as fit measures it); {args.rounds} rounds")
    print(f"pp{args.pp}: measured {mid('pp'):.1f} t/s median; fit gives no prompt estimate")
    print(f"tg{args.tg}: measured {mid('tg'):.2f} t/s median ({min(tgs):.2f}–{max(tgs):.2f}); calibration share "
          f"{mid('share'):.2f} median (typical {fit.DECODE_EFFICIENCY})")
    for key in [k for k in rounds[0] if k in ("typical", "calibrated") or k.startswith("catalog")]:
        values = [r[key] for r in rounds]
        print(f"  estimate ({key}) / measured: median {median(values):.2f} "
              f"(rounds {min(values):.2f}–{max(values):.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
