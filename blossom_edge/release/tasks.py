"""The steps of a release, as plain functions a Ray worker runs (graph.py wraps them as tasks).

Each step is the one `quantize` runs, taken from `quantize.pipeline`, so a release file is
byte for byte what `blossom-edge quantize` makes alone; only the order differs: one download
and conversion per model, then every type from that one 16-bit intermediate. Steps hand on
small picklable values (`Converted`, `Quantized`, the pipeline's `Input16`/`Matrix`, manifest
records) which Ray passes as object refs; files are written on the shared output directory,
never through Ray.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blossom_edge.release import resume
from blossom_edge.release.plan import ModelSpec

if TYPE_CHECKING:
    from blossom_edge.quantize.child import QuantizeRun
    from blossom_edge.quantize.pipeline import Input16, Matrix


@dataclass(frozen=True)
class Converted:
    """The 16-bit intermediate of one model (with what its manifests say about the source)."""

    model_dir: Path
    input: Input16
    reused: bool
    seconds: float
    # A multimodal model's vision projector in the model's folder, as each type's manifest records it.
    projector: dict[str, Any] | None = None


@dataclass(frozen=True)
class Quantized:
    """One type quantized from the shared intermediate, complete but unverified in the state directory."""

    conv: Converted
    qtype: str
    matrix: Matrix
    run: QuantizeRun
    threads: int

    @property
    def final(self) -> Path:
        return _final(self.conv, self.run.qtype.name)

    @property
    def unverified(self) -> Path:
        return _unverified(self.final)


def _final(conv: Converted, qtype: str) -> Path:
    from blossom_edge.model.naming import gguf_name

    return conv.model_dir / gguf_name(conv.input.origin.stem, qtype)


def _unverified(final: Path) -> Path:
    """Where a quantized file waits for its verification: the model's state directory, beside the final
    folder on the same file system, so the move into place is a rename."""
    return resume.state_dir(final.parent) / final.name


def convert_model(spec: ModelSpec, threads: int) -> Converted:
    """Download (if needed) and convert once, into the model's state directory on the shared disk; a
    multimodal model's vision projector goes into the model's folder, shared by all its types.

    An intermediate left by an interrupted release of the same source and tools is reused.
    """
    from blossom_edge.base.diskspace import DiskNeed, Placement, check_free_space
    from blossom_edge.inputs.source import classify
    from blossom_edge.model.naming import intermediate_name
    from blossom_edge.quantize.manifest import tool_versions
    from blossom_edge.quantize.pipeline import Input16, checkpoint_bytes, convert_intermediate, resolve_checkpoint
    from blossom_edge.quantize.projector_step import from_checkpoint
    from blossom_edge.quantize.types import parse_qtype

    started = time.perf_counter()
    work = resume.state_dir(spec.model_dir)
    work.mkdir(parents=True, exist_ok=True)
    local, origin = resolve_checkpoint(classify(spec.source), parse_qtype(spec.first_qtype), spec.model_dir, True)
    tools = tool_versions()
    found = resume.matching_intermediate(spec.model_dir, origin.stem, origin.source, tools)
    if found is not None:
        made = Input16(work / intermediate_name(origin.stem), origin,
                       {"intermediate_type": found["intermediate_type"], "intermediate": found["intermediate"]})
    else:
        weights, per_param = checkpoint_bytes(local)
        check_free_space([DiskNeed("intermediate", work, weights // per_param * 2)])
        made = convert_intermediate(local, origin, Placement(work, in_ram=False))
        stat = made.path.stat()
        resume.write_record(resume.intermediate_record_path(spec.model_dir, origin.stem), {
            "source": origin.source, "tools": tools, "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            **(made.converted or {})})
    projector = from_checkpoint(local, origin.stem, spec.model_dir, None)
    return Converted(spec.model_dir, made, found is not None, time.perf_counter() - started, projector)


def importance(conv: Converted, qtype: str, threads: int) -> Matrix:
    """The model's importance matrix, computed once (or reused) for every type that needs one."""
    from blossom_edge.quantize.pipeline import importance_matrix
    from blossom_edge.quantize.types import AUTO, parse_qtype

    return importance_matrix(conv.input, parse_qtype(qtype), conv.model_dir, threads, AUTO)


def quantize_type(conv: Converted, qtype: str, imatrix: Matrix | None, threads: int) -> Quantized:
    """llama.cpp's quantizer from the shared intermediate into the state directory, never the final name.

    The file is complete but unverified there; `verify_type` moves it into place. A worker killed
    in between leaves nothing under the final name, and the plan, finding no manifest, quantizes again.
    """
    from blossom_edge.base.atomic import atomic_output
    from blossom_edge.base.diskspace import DiskNeed, check_free_space
    from blossom_edge.quantize.pipeline import Matrix, quantize_file
    from blossom_edge.quantize.types import parse_qtype

    qt = parse_qtype(qtype)
    matrix = imatrix or Matrix()
    weights = (conv.input.converted or {})["intermediate"]["bytes"] // 2
    check_free_space([DiskNeed("output", conv.model_dir, int(weights * qt.bpw / 8))])
    with atomic_output(_unverified(_final(conv, qt.name))) as partial:
        run = quantize_file(conv.input, partial, qt, matrix, threads)
    return Quantized(conv, qtype, matrix, run, threads)


def verify_type(quantized: Quantized) -> dict[str, Any]:
    """Load and generate from the file, hash it, move it to its final name and write its manifest
    (what resume checks)."""
    import os

    from blossom_edge.quantize.manifest import manifest_path
    from blossom_edge.quantize.pipeline import Stages, verify_file, write_run_manifest

    final = quantized.final
    # A retry after a node died between the move and the manifest finds the file already moved.
    path = quantized.unverified if quantized.unverified.exists() or not final.exists() else final
    verified = verify_file(path, final.name, quantized.run, quantized.conv.input.origin.chat, quantized.threads)
    if path != final:
        os.replace(path, final)
        _fsync_directory(final.parent)
    # The stages ran in other processes; the manifest's total is their sum.
    stages = Stages(time.perf_counter() - quantized.run.seconds - verified.seconds,
                     {"quantize": quantized.run.seconds, "verify": verified.seconds})
    write_run_manifest(final, verified, quantized.conv.input, quantized.run.qtype, quantized.matrix,
                       quantized.threads, stages, projector=quantized.conv.projector)
    manifest = resume.read_record(manifest_path(final))
    assert manifest is not None  # just written
    return manifest


def _fsync_directory(directory: Path) -> None:
    """The rename into place survives a power cut only once the directory entry is on disk."""
    import os

    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def reference_logits(conv: Converted, threads: int) -> dict[str, Any]:
    """The 16-bit intermediate's log-probabilities on the evaluation text, saved once beside it (in
    llama-perplexity's base-file format) for every type's quality task to compare with."""
    from blossom_edge.quantize.quality import DEFAULT_CTX, eval_text
    from blossom_edge.quantize.quality import reference_logits as save_reference

    text = eval_text()
    path = _reference_path(conv.input.path)
    result = save_reference(conv.input.path, path, text, ctx=DEFAULT_CTX, threads=threads)
    return {"path": str(path), "text": text.name, "text_sha256": text.sha256, "ctx": result.n_ctx,
            "chunks": result.chunks, "perplexity": result.perplexity, "perplexity_unc": result.perplexity_unc}


def quality_type(conv: Converted, manifest: dict[str, Any], threads: int, reference: dict[str, Any]) -> dict[str, Any]:
    """Perplexity and KL divergence from the 16-bit intermediate, as `llama-perplexity --kl-divergence`
    computes them against the model's saved reference logits; recorded for the card."""
    from blossom_edge.quantize.quality import compare

    final = conv.model_dir / manifest["file"]
    result = compare(final, Path(reference["path"]), threads=threads)
    kl = result.kl
    assert kl is not None  # a comparison always has its KL statistics
    record = {"file": final.name, "sha256": manifest["sha256"], "perplexity": result.perplexity,
              "perplexity_unc": result.perplexity_unc, "kl_mean": kl.kld_mean, "kl_median": kl.kld_median,
              "kl_p99": kl.kld_p99, "kl_max": kl.kld_max, "same_top": kl.same_top,
              **{k: reference[k] for k in ("text", "text_sha256", "ctx", "chunks")},
              "reference": {"type": (conv.input.converted or {}).get("intermediate_type"),
                            "perplexity": reference["perplexity"]}}
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

    intermediate = resume.state_dir(model_dir) / intermediate_name(stem)
    intermediate.unlink(missing_ok=True)
    _reference_path(intermediate).unlink(missing_ok=True)
    resume.intermediate_record_path(model_dir, stem).unlink(missing_ok=True)


def _reference_path(intermediate: Path) -> Path:
    """The reference logits live beside the intermediate they come from, and go with it."""
    return intermediate.with_suffix(".kld-base")
