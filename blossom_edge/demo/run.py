"""The offline demo: the whole path on a tiny Blossom-shaped model, in about a minute, with no network.

It is the README's first command, so it uses the real code at every step (the converter,
llama.cpp's quantizer, verification, the Modelfile writer `ollama create` uses, the
benchmark) on a model built on the spot; the summary says where every file is.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blossom_edge.base.progress import NO_PROGRESS, Progress

if TYPE_CHECKING:
    from blossom_edge.bench.row import BenchRow

DEMO_QTYPE = "q4_k_m"
OLLAMA_NAME = "blossom-demo"


@dataclass
class DemoResult:
    workdir: Path
    checkpoint: Path
    gguf: Path
    manifest: Path
    report: Any
    modelfile: Path | None = None
    bench_rows: list[BenchRow] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def run_demo(workdir: Path, *, progress: Progress = NO_PROGRESS, bench: bool = True) -> DemoResult:
    """Build, convert, quantize and verify the demo model, write its Modelfile, and benchmark it."""
    from blossom_edge.demo.model import DEMO_NAME, build_demo_checkpoint
    from blossom_edge.quantize.manifest import manifest_path
    from blossom_edge.quantize.pipeline import quantize_pipeline

    workdir = workdir.expanduser().resolve()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    progress.step(f"building a tiny Blossom-shaped checkpoint in {workdir / 'checkpoint'}")
    checkpoint = build_demo_checkpoint(workdir / "checkpoint" / DEMO_NAME)
    timings["build"] = time.perf_counter() - t0
    progress.step(f"converting and quantizing to {DEMO_QTYPE}")
    report = quantize_pipeline(str(checkpoint), DEMO_QTYPE, workdir, progress=progress)
    timings.update({k: v for k, v in report.timings.items() if k != "total"})
    result = DemoResult(workdir, checkpoint, report.path, manifest_path(report.path), report, timings=timings)
    t0 = time.perf_counter()
    result.modelfile = _write_modelfile(report.path)
    timings["modelfile"] = time.perf_counter() - t0
    if bench:
        progress.step("benchmarking prompt processing and generation")
        t0 = time.perf_counter()
        result.bench_rows = _bench(report.path)
        timings["bench"] = time.perf_counter() - t0
    return result


def _write_modelfile(gguf: Path) -> Path:
    """The demo GGUF carries its checkpoint's chat template, so its TEMPLATE is derived from it and
    proved, as for any model `ollama create` is given."""
    from blossom_edge.demo.model import demo_model_info
    from blossom_edge.inputs.source import GgufSource
    from blossom_edge.ollama.create import own_chat, write_modelfile

    model = demo_model_info()
    target = gguf.parent / "Modelfile"
    write_modelfile(model, gguf, target, name=OLLAMA_NAME, chat=own_chat(GgufSource(gguf, str(gguf)), model))
    return target


def _bench(gguf: Path) -> list[BenchRow]:
    from blossom_edge.bench import llama as bench
    from blossom_edge.device.probe import probe
    from blossom_edge.device.tree import Tree

    tree = Tree()
    return bench.run([gguf], bench.BenchConfig(n_prompt=64, n_gen=16, reps=2), probe(tree), tree)
