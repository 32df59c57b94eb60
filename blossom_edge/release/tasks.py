"""The steps of a release, as plain functions a Ray worker runs (graph.py wraps them as tasks).

Each step is the one `quantize` runs, taken from `quantize.pipeline`, so a release file is
byte for byte what `blossom-edge quantize` makes alone; only the order differs: one download
and conversion per model, then every type from that one 16-bit intermediate. Steps hand on
small picklable values (`Converted`, the pipeline's `Run`, manifest records) which Ray passes
as object refs; files are written on the shared output directory, never through Ray.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blossom_edge.release import resume
from blossom_edge.release.plan import ModelSpec

if TYPE_CHECKING:
    from blossom_edge.model.catalog import ChatFormat
    from blossom_edge.quantize.pipeline import Run


@dataclass(frozen=True)
class Converted:
    """The 16-bit intermediate of one model and what its manifests say about the source."""

    model_dir: Path
    stem: str
    described: str
    record: dict[str, Any]
    chat: ChatFormat | None
    intermediate: Path
    reused: bool
    seconds: float


def convert_model(spec: ModelSpec, threads: int) -> Converted:
    """Download (if needed) and convert once, into the model's state directory on the shared disk.

    An intermediate left by an interrupted release of the same source and tools is reused.
    """
    from blossom_edge.base.diskspace import DiskNeed, Placement, check_free_space
    from blossom_edge.inputs.source import classify
    from blossom_edge.model.naming import intermediate_name
    from blossom_edge.quantize.manifest import tool_versions
    from blossom_edge.quantize.pipeline import Run, checkpoint_bytes, convert_intermediate, resolve_checkpoint
    from blossom_edge.quantize.types import parse_qtype

    started = time.perf_counter()
    work = resume.state_dir(spec.model_dir)
    work.mkdir(parents=True, exist_ok=True)
    run = Run(classify(spec.source), parse_qtype(spec.first_qtype), spec.model_dir, threads, None, True, False)
    local = resolve_checkpoint(run)
    tools = tool_versions()
    found = resume.matching_intermediate(spec.model_dir, run.stem, run.record["source"], tools)
    intermediate = work / intermediate_name(run.stem)
    if found is not None:
        run.record.update(intermediate_type=found["intermediate_type"], intermediate=found["intermediate"])
    else:
        weights, per_param = checkpoint_bytes(local)
        check_free_space([DiskNeed("intermediate", work, weights // per_param * 2)])
        convert_intermediate(run, local, Placement(work, in_ram=False))
        stat = intermediate.stat()
        resume.write_record(resume.intermediate_record_path(spec.model_dir, run.stem), {
            "source": run.record["source"], "tools": tools, "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "intermediate_type": run.record["intermediate_type"], "intermediate": run.record["intermediate"]})
    return Converted(spec.model_dir, run.stem, run.described, dict(run.record), run.chat, intermediate,
                     found is not None, time.perf_counter() - started)


def _run_for(conv: Converted, qtype: str, threads: int) -> Run:
    """The pipeline's state for one type, as `quantize` would hold it after its conversion step."""
    import copy

    from blossom_edge.inputs.source import classify
    from blossom_edge.model.naming import gguf_name
    from blossom_edge.quantize.pipeline import Run
    from blossom_edge.quantize.types import parse_qtype

    qt = parse_qtype(qtype)
    run = Run(classify(conv.described), qt, conv.model_dir, threads, None, False, False)
    run.record, run.chat, run.stem, run.described = copy.deepcopy(conv.record), conv.chat, conv.stem, conv.described
    run.quant_input = conv.intermediate
    run.final = conv.model_dir / gguf_name(conv.stem, qt.name)
    return run


def importance(conv: Converted, qtype: str, threads: int) -> dict[str, Any]:
    """The model's importance matrix, computed once (or reused) for every type that needs one."""
    from blossom_edge.quantize.pipeline import importance_matrix

    run = _run_for(conv, qtype, threads)
    run.imatrix_auto = True
    importance_matrix(run)
    return {"path": run.imatrix, "record": run.imatrix_record}


def quantize_type(conv: Converted, qtype: str, imatrix: dict[str, Any] | None, threads: int) -> Run:
    """llama.cpp's quantizer from the shared intermediate into the state directory, never the final name.

    The file is complete but unverified there; `verify_type` moves it into place. A worker killed
    in between leaves nothing under the final name, and the plan, finding no manifest, quantizes again.
    """
    from blossom_edge.base.atomic import atomic_output
    from blossom_edge.base.diskspace import DiskNeed, check_free_space
    from blossom_edge.quantize.pipeline import quantize_file

    run = _run_for(conv, qtype, threads)
    if imatrix is not None:
        run.imatrix, run.imatrix_record = Path(imatrix["path"]), imatrix["record"]
    weights = conv.record["intermediate"]["bytes"] // 2
    check_free_space([DiskNeed("output", conv.model_dir, int(weights * run.qtype.bpw / 8))])
    with atomic_output(_unverified(run)) as partial:
        quantize_file(run, partial)
    return run


def verify_type(run: Run) -> dict[str, Any]:
    """Load and generate from the file, hash it, move it to its final name and write its manifest
    (what resume checks)."""
    import os

    from blossom_edge.quantize.manifest import manifest_path
    from blossom_edge.quantize.pipeline import verify_output, write_run_manifest

    # `started` was taken in another process; the manifest's total is the stages' sum instead.
    run.started = time.perf_counter() - sum(run.timings.values())
    unverified = _unverified(run)
    verify_output(run, unverified)
    os.replace(unverified, run.final)
    _fsync_directory(run.final.parent)
    write_run_manifest(run)
    manifest = resume.read_record(manifest_path(run.final))
    assert manifest is not None  # just written
    return manifest


def _unverified(run: Run) -> Path:
    """Where a quantized file waits for its verification: the model's state directory, beside the
    final folder on the same file system, so the move into place is a rename."""
    return resume.state_dir(run.final.parent) / run.final.name


def _fsync_directory(directory: Path) -> None:
    """The rename into place survives a power cut only once the directory entry is on disk."""
    import os

    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def quality_type(conv: Converted, manifest: dict[str, Any], threads: int) -> dict[str, Any]:
    """Perplexity and KL divergence from the 16-bit intermediate, recorded for the card."""
    from blossom_edge.quantize.quality import measure

    final = conv.model_dir / manifest["file"]
    reference, row = measure(conv.intermediate, [final], threads=threads, progress=False)
    record = {"file": final.name, "sha256": manifest["sha256"], "perplexity": row.perplexity,
              "kl_mean": row.kl_mean, "kl_p99": row.kl_p99, "top1_agreement": row.top1_agreement,
              "reference": {"type": conv.record.get("intermediate_type"), "perplexity": reference.perplexity}}
    resume.write_record(resume.quality_path(conv.model_dir, final), record)
    return record


def split_type(model_dir: Path, manifest: dict[str, Any], max_size: int) -> dict[str, Any] | None:
    """Shards for a file larger than `max_size` (stale shards of it removed); None when it needs none."""
    from blossom_edge.base.digest import sha256_file
    from blossom_edge.release.split import split_gguf, stale_shards

    final = model_dir / manifest["file"]
    for old in stale_shards(final):
        old.unlink()
    resume.split_path(model_dir, final).unlink(missing_ok=True)
    if manifest["bytes"] <= max_size:
        return None
    shards = split_gguf(final, max_size, resume.state_dir(model_dir))
    record = {"file": final.name, "sha256": manifest["sha256"], "max_size": max_size,
              "shards": [{"file": s.path.name, "bytes": s.bytes, "sha256": sha256_file(s.path)} for s in shards]}
    resume.write_record(resume.split_path(model_dir, final), record)
    return record


def card_model(spec: ModelSpec, qtypes: list[str], gpu_tags: bool, quantized_by: str, *_after: Any) -> dict[str, Any]:
    """The model card and Modelfiles from what is on disk, written only where they changed; then the
    intermediate is removed, as every file it was needed for is made and measured."""
    from blossom_edge.release.card import write_card

    written = write_card(spec, qtypes, gpu_tags=gpu_tags, quantized_by=quantized_by)
    _drop_intermediate(spec.model_dir, spec.stem)
    return written


def _drop_intermediate(model_dir: Path, stem: str) -> None:
    from blossom_edge.model.naming import intermediate_name

    (resume.state_dir(model_dir) / intermediate_name(stem)).unlink(missing_ok=True)
    resume.intermediate_record_path(model_dir, stem).unlink(missing_ok=True)
