"""Qwen3-MoE: the stacked expert tensors, as stored, as pieces, refused, inspected, and written in bounded
memory. The checks every architecture shares (same GGUF as llama.cpp's converter, transformers' logits,
q4_k_m end to end) are in test_architectures.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from blossom_edge.convert import convert_checkpoint
from tests.builders.gguf_compare import read_gguf
from tests.builders.moe_checkpoints import write_qwen3_moe_numpy
from tests.convert.conftest import ACTIVE, EXPERTS


def test_auto_stacks_the_stored_bytes_in_expert_order(qwen3_moe, tmp_path):
    """`auto` keeps bf16: each stacked tensor is its experts' stored bytes, expert 0 first,
    copied piece by piece from whichever shard holds each expert."""
    from blossom_edge.inputs.checkpoint import Checkpoint

    out = convert_checkpoint(qwen3_moe, tmp_path / "m.gguf", "auto").path
    _, tensors = read_gguf(out)
    stored = {ref.name: ref for ref in Checkpoint.open(qwen3_moe).tensors()}

    def stored_bytes(name: str) -> bytes:
        ref = stored[name]
        with ref.shard.path.open("rb") as fh:
            fh.seek(ref.offset)
            return fh.read(ref.nbytes)

    for i in range(2):
        for proj, kind in (("gate_proj", "gate"), ("up_proj", "up"), ("down_proj", "down")):
            qtype, shape, data = tensors[f"blk.{i}.ffn_{kind}_exps.weight"]
            members = [f"model.layers.{i}.mlp.experts.{e}.{proj}.weight" for e in range(EXPERTS)]
            rows, cols = stored[members[0]].shape
            assert (qtype, shape) == ("BF16", [cols, rows, EXPERTS])
            assert data == b"".join(stored_bytes(m) for m in members)
        assert tensors[f"blk.{i}.ffn_gate_inp.weight"][0] == "F32"


def test_fused_gate_up_splits_into_gate_rows_then_up_rows_of_each_expert():
    """The Qwen3.5-MoE layout: [E, 2F, H] becomes gate [E, F, H] and up [E, F, H], as pieces."""
    from blossom_edge.convert.experts import stack_experts
    from blossom_edge.inputs.checkpoint import TensorRef

    fused = TensorRef("model.layers.0.mlp.experts.gate_up_proj", "BF16", (3, 8, 16), None, 100, 3 * 8 * 16 * 2)
    down = TensorRef("model.layers.0.mlp.experts.down_proj", "BF16", (3, 16, 4), None, 900, 3 * 16 * 4 * 2)
    gate, up, stacked_down = stack_experts([fused, down], {"num_experts": 3})
    assert (gate.ref.name, gate.ref.shape) == ("model.layers.0.mlp.experts.gate_proj.weight", (3, 4, 16))
    assert [(p.row, p.rows) for p in gate.pieces] == [(0, 4), (8, 4), (16, 4)]
    assert [(p.row, p.rows) for p in up.pieces] == [(4, 4), (12, 4), (20, 4)]
    assert up.pieces[1].offset == 100 + 12 * 16 * 2 and up.pieces[1].nbytes == 4 * 16 * 2
    assert stacked_down.ref.name == "model.layers.0.mlp.experts.down_proj.weight"
    assert [(p.offset, p.nbytes) for p in stacked_down.pieces] == [(900, down.nbytes)]


def test_experts_of_different_shapes_are_refused():
    from blossom_edge.base.errors import UnsupportedError
    from blossom_edge.convert.experts import stack_experts
    from blossom_edge.inputs.checkpoint import TensorRef

    refs = [TensorRef(f"model.layers.0.mlp.experts.{e}.up_proj.weight", "BF16", (4, 8 + e), None, 0, 0)
            for e in range(2)]
    with pytest.raises(UnsupportedError, match="experts of a layer must match"):
        stack_experts(refs, {"num_experts": 2})


def test_inspect_shows_the_experts(qwen3_moe, tmp_path):
    from blossom_edge.inputs.gguf_inspect import inspect_report

    out = convert_checkpoint(qwen3_moe, tmp_path / "m.gguf", "auto").path
    experts = inspect_report(out, 256)["experts"]
    assert (experts["count"], experts["used"]) == (EXPERTS, ACTIVE) and experts["bytes"] > 0


def test_a_missing_expert_is_one_line_before_writing(qwen3_moe, tmp_path, capsys):
    import shutil

    from blossom_edge.cli import main

    broken = tmp_path / "broken"
    shutil.copytree(qwen3_moe, broken)
    config = json.loads((broken / "config.json").read_text())
    config["num_local_experts"] = EXPERTS + 1  # as if the last expert's tensors were lost
    (broken / "config.json").write_text(json.dumps(config))
    assert main(["convert", str(broken), "-o", str(tmp_path / "x.gguf")]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"mlp.experts.{EXPERTS}." in err and f"{EXPERTS + 1} experts" in err
    assert not (tmp_path / "x.gguf").exists()


# One layer of 48 experts whose three stacked projections are 96 MiB each in bf16 (192 MiB
# as f32): a converter that gathers a layer's experts holds at least 288 MiB more than it
# does for the same layer with 2 experts. Streaming holds a few chunks either way.
BIG = dict(layers=1, experts=48, hidden=1024, moe_ff=1024, heads=8, kv_heads=2, active=8, tokenizer="small")
FEW_EXPERTS = 2
# Peak growth allowed from 2 to 48 experts (observed: 6 MiB for f16, 0 for auto), and the
# issue's bound for the whole process.
GROWTH_ALLOWANCE_MB = 32
RSS_BOUND_MB = 400

_CHILD = """
import sys
from pathlib import Path
from blossom_edge.convert import convert_checkpoint
convert_checkpoint(Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[1])
status = Path("/proc/self/status").read_text()
print(next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")) // 1024)
"""


def _peak_mb(outtype: str, model_dir: Path, out: Path) -> int:
    """The high-water RSS of a conversion in a fresh interpreter (VmHWM of its own address
    space: wait4's rusage would carry over the forking test process's peak)."""
    proc = subprocess.run([sys.executable, "-c", _CHILD, outtype, str(model_dir), str(out)], capture_output=True,
                          text=True, check=True)
    out.unlink()
    return int(proc.stdout.split()[-1])


@pytest.fixture(scope="module")
def big_and_small(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("qwen3moe-big")
    return (write_qwen3_moe_numpy(root / "many", **BIG),
            write_qwen3_moe_numpy(root / "few", **{**BIG, "experts": FEW_EXPERTS}))


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="VmHWM is Linux's")
@pytest.mark.parametrize("outtype", ["f16", "auto"])
def test_stacked_experts_are_written_in_bounded_memory(big_and_small, tmp_path, outtype):
    """f16 converts every expert through the chunk buffers; auto copies them in the kernel.
    Peak RSS must not follow the expert count, and stays under the issue's bound."""
    many, few = big_and_small
    expert_mb = {d: sum(p.stat().st_size for p in d.glob("*.safetensors")) / 2**20 for d in (many, few)}
    assert expert_mb[many] - expert_mb[few] > 3 * 90
    peak_many = _peak_mb(outtype, many, tmp_path / "many.gguf")
    peak_few = _peak_mb(outtype, few, tmp_path / "few.gguf")
    assert peak_many - peak_few < GROWTH_ALLOWANCE_MB, (peak_many, peak_few)
    assert peak_many < RSS_BOUND_MB
