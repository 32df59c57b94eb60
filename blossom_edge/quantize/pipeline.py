"""From a model name to a verified, quantized GGUF: resolve → convert → importance matrix → quantize →
verify → manifest, as small steps that take what they need and return what they made.

`quantize_pipeline` composes them for one type; `release/tasks.py` composes the same steps for
many types from one intermediate, on Ray. Each step's result is a small frozen value (`Origin`,
`Input16`, `Matrix`, `Verified`) passed to the next, so no step depends on fields another set by
hand. The quantizing itself is llama.cpp's own (`child.py`), so the files are the ones
llama-quantize would write. From a checkpoint, the 16-bit intermediate is written to RAM
(/dev/shm) when it fits comfortably, so no checkpoint-sized file touches the disk; it is
removed however the run ends.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blossom_edge.base.atomic import refuse_overwriting
from blossom_edge.base.errors import UsageError
from blossom_edge.base.progress import NO_PROGRESS, Progress
from blossom_edge.base.signals import signals_as_interrupts
from blossom_edge.device.threads import all_cores
from blossom_edge.quantize import child
from blossom_edge.quantize.types import AUTO, QuantType, imatrix_choice, parse_qtype

if TYPE_CHECKING:
    from blossom_edge.base.diskspace import Placement
    from blossom_edge.inputs.source import GgufSource, LocalSource, Source
    from blossom_edge.model.catalog import ChatFormat
    from blossom_edge.quantize.verify import Verification

_BYTES_PER_PARAM = {"bfloat16": 2, "float16": 2, "float32": 4}


@dataclass
class QuantizeReport:
    """Everything the command prints and the manifest records about one run."""

    path: Path
    qtype: QuantType
    source: str
    timings: dict[str, float]
    verification: Any = None
    intermediate: Path | None = None
    intermediate_record: dict[str, Any] | None = None
    imatrix: dict[str, Any] | None = None
    # The vision projector left beside the output (a multimodal model), as the manifest records it.
    projector: dict[str, Any] | None = None


@dataclass(frozen=True)
class Origin:
    """What a run's input was made from: the stem that names its outputs, how notes describe it, what
    the manifest records of it, and the catalog's chat format (for verification's prompt)."""

    stem: str
    described: str
    source: dict[str, Any]
    chat: ChatFormat | None = None


@dataclass(frozen=True)
class Input16:
    """The file every quant type is made from: a GGUF given as it is, or the lossless intermediate
    converted from the checkpoint (`converted` then says its type and where it lives)."""

    path: Path
    origin: Origin
    converted: dict[str, Any] | None = None

    def record(self) -> dict[str, Any]:
        """The manifest's fields about the source and the intermediate."""
        return {"source": self.origin.source, **(self.converted or {})}


@dataclass(frozen=True)
class Matrix:
    """The importance matrix a type is quantized with (None: none), and how it was had."""

    path: Path | None = None
    record: dict[str, Any] | None = None


@dataclass(frozen=True)
class Verified:
    """A quantized file that loaded and generated: the quantizer's report, the check, its sha256."""

    quantized: child.QuantizeRun
    verification: Verification
    sha256: str
    seconds: float


@dataclass
class Stages:
    """Seconds per stage, in the order they ran, for the report and the manifest."""

    started: float = field(default_factory=time.perf_counter)
    seconds: dict[str, float] = field(default_factory=dict)

    def since(self, stage: str, t0: float) -> None:
        self.seconds[stage] = time.perf_counter() - t0


def quantize_pipeline(
    source: str | Source,
    qtype: str,
    output_dir: Path,
    *,
    threads: int | None = None,
    imatrix: Path | str | None = None,
    keep_intermediate: bool = False,
    mmproj: bool = True,
    mmproj_type: str | None = None,
    progress: Progress = NO_PROGRESS,
) -> QuantizeReport:
    """Resolve, convert to a lossless intermediate, quantize, verify and write the manifest.

    `imatrix`: a file, "auto" (compute one, the default for types that need one) or "none".
    `mmproj`: leave a multimodal model's vision projector beside the output (`mmproj_type`: f16 or q8_0).
    """
    from blossom_edge.inputs.source import GgufSource, classify
    from blossom_edge.model.naming import gguf_name
    from blossom_edge.quantize import projector_step

    qt = parse_qtype(qtype)
    projector_type = projector_step.parse_projector_type(mmproj_type)
    if projector_type is not None and not mmproj:
        raise UsageError("--mmproj-type and --no-mmproj contradict each other")
    choice = imatrix_choice(qt, imatrix)
    given = choice if isinstance(choice, Path) else None
    source = classify(source)
    output_dir = _prepared_output_dir(output_dir)
    threads = threads or all_cores()
    stages = Stages()
    ram_dir: Path | None = None
    made: Input16 | None = None
    kept: Path | None = None
    local: LocalSource | None = None
    with signals_as_interrupts():
        try:
            projector = None
            if isinstance(source, GgufSource):
                made = gguf_input(source, qt, output_dir, given)
                if mmproj:
                    projector = _projector(source, None, made.origin.stem, output_dir, projector_type,
                                           progress=progress, stages=stages)
            else:
                local, origin = resolve_checkpoint(source, qt, output_dir, keep_intermediate, stages)
                final = output_dir / gguf_name(origin.stem, qt.name)
                refuse_overwriting(final, [p for p in local.path.iterdir() if p.is_file()] + ([given] if given else []))
                if mmproj:
                    projector = _projector(source, local, origin.stem, output_dir, projector_type,
                                           progress=progress, stages=stages)
                placement = _placement(local, qt, output_dir, keep_intermediate)
                ram_dir = placement.directory if placement.in_ram else None
                made = convert_intermediate(local, origin, placement, progress=progress, stages=stages)
            final = output_dir / gguf_name(made.origin.stem, qt.name)
            matrix = importance_matrix(made, qt, output_dir, threads, choice, progress=progress, stages=stages)
            verified = quantize_verified(made, final, qt, matrix, threads, progress=progress, stages=stages,
                                         free_input=made.converted is not None and not keep_intermediate)
            if keep_intermediate and made.converted is not None:
                kept = _keep_intermediate(made, final)
        finally:
            if made is not None and made.converted is not None and made.path != kept:
                made.path.unlink(missing_ok=True)
            if ram_dir is not None:
                shutil.rmtree(ram_dir, ignore_errors=True)
    manifest = write_run_manifest(final, verified, made, qt, matrix, threads, stages, kept=kept, projector=projector)
    return QuantizeReport(final, qt, made.origin.described, stages.seconds, verified.verification, kept,
                          intermediate_record=manifest.get("intermediate"), imatrix=manifest["imatrix"],
                          projector=projector)


def quantize_source(
    source: str | Source,
    qtype: str,
    output_dir: Path,
    *,
    threads: int | None = None,
    imatrix: Path | str | None = None,
    keep_intermediate: bool = False,
    progress: Progress = NO_PROGRESS,
) -> Path:
    """One call from a model name, HF directory or GGUF to a verified quantized GGUF; returns its path."""
    return quantize_pipeline(source, qtype, output_dir, threads=threads, imatrix=imatrix,
                             keep_intermediate=keep_intermediate, progress=progress).path


# ----------------------------------------------------------------------------- the steps


def _prepared_output_dir(output_dir: Path) -> Path:
    from blossom_edge.base.atomic import OutputNotWritableError, check_writable_dir

    output_dir = Path(output_dir).expanduser()
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputNotWritableError(f"cannot create {output_dir}: {exc.strerror or exc}") from exc
    check_writable_dir(output_dir)
    return output_dir


def gguf_input(source: GgufSource, qtype: QuantType, output_dir: Path, imatrix: Path | None) -> Input16:
    """A GGUF input is quantized as it is (re-quantized, with a note if it already lost precision)."""
    from blossom_edge.base.diskspace import DiskNeed, check_free_space
    from blossom_edge.base.output import note
    from blossom_edge.inputs.gguf_info import read_gguf_info
    from blossom_edge.model.naming import gguf_name
    from blossom_edge.quantize.types import LOSSLESS_TYPES

    src = source.path
    info = read_gguf_info(src)
    final = output_dir / gguf_name(src.stem, qtype.name)
    if final.resolve() == src.resolve():
        raise UsageError(f"{src} already has the name the {qtype.name} output would get; choose another -o")
    refuse_overwriting(final, [src, *([imatrix] if imatrix else [])])
    check_free_space([DiskNeed("output", output_dir, int(info.n_params * qtype.bpw / 8))])
    low = {t for t in info.types if t not in LOSSLESS_TYPES}
    if low:
        note(f"[yellow]note:[/] {src.name} is already quantized ({', '.join(sorted(low))}); "
             "re-quantizing loses more quality than starting from the 16-bit checkpoint")
    described = str(src.resolve())
    return Input16(src, Origin(src.stem, described,
                               {"gguf": described, "bytes": info.file_size, "types": info.type_histogram()}))


def resolve_checkpoint(source: Source, qtype: QuantType, output_dir: Path, keep_intermediate: bool,
                       stages: Stages | None = None) -> tuple[LocalSource, Origin]:
    """The checkpoint on local disk (downloaded if needed) and what the manifest says of it.

    Shared with `release`, which resolves once per model and quantizes many types from one
    intermediate, so both record the source the same way.
    """
    from blossom_edge.convert.metadata import output_stem
    from blossom_edge.inputs.hub import resolve_source

    _precheck_download(source, qtype, output_dir, keep_intermediate)
    t0 = time.perf_counter()
    local = resolve_source(source)
    if stages is not None:
        stages.since("download", t0)
    record = {"repo_id": local.repo_id, "revision": source_revision(local),
              "path": None if local.repo_id else str(local.path.resolve())}
    return local, Origin(output_stem(local), local.describe(), record, local.model.chat if local.model else None)


def _placement(local: LocalSource, qtype: QuantType, output_dir: Path, keep_intermediate: bool) -> Placement:
    """Where the intermediate goes (RAM when it fits comfortably), with the disk checked for the output too."""
    from blossom_edge.base.diskspace import DiskNeed, check_free_space, place_intermediate

    weights, per_param = checkpoint_bytes(local)
    intermediate_bytes = weights // per_param * 2
    placement = place_intermediate(intermediate_bytes, output_dir, keep=keep_intermediate)
    needs = [DiskNeed("output", output_dir, int(weights / per_param * qtype.bpw / 8))]
    if not placement.in_ram:
        needs.append(DiskNeed("intermediate", output_dir, intermediate_bytes))
    check_free_space(needs)
    return placement


def convert_intermediate(local: LocalSource, origin: Origin, placement: Placement, *, progress: Progress = NO_PROGRESS,
                         stages: Stages | None = None) -> Input16:
    """Convert the checkpoint losslessly (`auto`) into `placement`: the input every quant type is made from."""
    from blossom_edge.convert import convert_checkpoint
    from blossom_edge.model.naming import intermediate_name

    path = placement.directory / intermediate_name(origin.stem)
    t0 = time.perf_counter()
    converted = convert_checkpoint(local, path, "auto", progress=progress)
    if stages is not None:
        stages.since("convert", t0)
    return Input16(path, origin, {"intermediate_type": converted.outtype,
                                  "intermediate": {"location": placement.location,
                                                   "directory": str(placement.directory),
                                                   "bytes": path.stat().st_size}})


def _projector(source: Source, local: LocalSource | None, stem: str, output_dir: Path, out_type: str | None,
               *, progress: Progress, stages: Stages) -> dict[str, Any] | None:
    """The vision projector beside the output, before the conversion and the long quantizing, so a
    refusal (a tower without its processor config) comes first."""
    from blossom_edge.inputs.source import GgufSource
    from blossom_edge.quantize import projector_step

    t0 = time.perf_counter()
    found = None
    if local is not None:
        found = projector_step.from_checkpoint(local, stem, output_dir, out_type, progress=progress)
    elif isinstance(source, GgufSource):
        found = projector_step.from_gguf(source.path, stem, output_dir, out_type)
    if found is not None:
        stages.since("projector", t0)
    return found


def importance_matrix(made: Input16, qtype: QuantType, output_dir: Path, threads: int, choice: Path | str | None,
                      *, progress: Progress = NO_PROGRESS, stages: Stages | None = None) -> Matrix:
    """The matrix `choice` asks for: a given file, none, or (auto) the model's matrix beside the output,
    reused if made from this same input."""
    from blossom_edge.base.atomic import refuse_overwriting
    from blossom_edge.base.output import note
    from blossom_edge.imatrix.compute import make_imatrix
    from blossom_edge.imatrix.text import default_text
    from blossom_edge.imatrix.writer import read_provenance
    from blossom_edge.model.naming import imatrix_name

    if isinstance(choice, Path):
        return Matrix(choice, {"made": "given"})
    if choice != AUTO:
        return Matrix()
    path = output_dir / imatrix_name(made.origin.stem)
    text = default_text()
    wanted = {"source": _imatrix_source(made.origin), "text_sha256": text.sha256}
    if path.exists():
        found = read_provenance(path)
        if all(found.get(k) == v for k, v in wanted.items()):
            note(f"reusing the importance matrix {path.name}, made from this model and text")
            return Matrix(path, {"made": "reused"})
        raise UsageError(f"{path} exists but was not made from {made.origin.described} on the shipped text: pass "
                         f"--imatrix {path} to use it anyway, or remove it to compute a new one")
    refuse_overwriting(path, [made.path])
    note(f"{qtype.name.lower()} needs an importance matrix: computing one from the 16-bit model on the "
         f"shipped Chinese/English text into {path.name} (--imatrix FILE uses your own)")
    t0 = time.perf_counter()
    result = make_imatrix(made.path, path, text, threads=threads, provenance=wanted, progress=progress)
    if stages is not None:
        stages.since("imatrix", t0)
    return Matrix(path, {"made": "computed", "chunk_size": result.chunk_size,
                         "perplexity": round(result.perplexity, 4)})


def _imatrix_source(origin: Origin) -> str:
    """What a computed matrix was made from: the checkpoint's repo and revision, or the input's path and size."""
    source = origin.source
    if source.get("repo_id"):
        return f"{source['repo_id']}@{source.get('revision') or 'unknown'}"
    if "gguf" in source:
        return f"{source['gguf']} ({source['bytes']} bytes)"
    return str(source.get("path") or origin.described)


def quantize_verified(made: Input16, final: Path, qtype: QuantType, matrix: Matrix, threads: int, *,
                      progress: Progress = NO_PROGRESS, free_input: bool = False, stages: Stages | None = None) -> Verified:
    """Quantize into `NAME.partial`, verify the partial, and only then give it the final name.

    Whatever ends the run before that (a refusal, a native crash in a child, SIGKILL), no file
    under the final name is left unverified: a killed run leaves at most the partial, which the
    next run takes over. `free_input` removes a temporary intermediate before verification loads
    the quantized model, so on a phone the two are never resident together.
    """
    from blossom_edge.base.atomic import atomic_output

    with atomic_output(final) as partial:
        quantized = quantize_file(made, partial, qtype, matrix, threads, progress=progress)
        if stages is not None:
            stages.seconds["quantize"] = quantized.seconds
        if free_input:
            made.path.unlink(missing_ok=True)
        verified = verify_file(partial, final.name, quantized, made.origin.chat, threads)
    if stages is not None:
        stages.seconds["verify"] = verified.seconds
    return verified


def quantize_file(made: Input16, dst: Path, qtype: QuantType, matrix: Matrix, threads: int, *,
                  progress: Progress = NO_PROGRESS) -> child.QuantizeRun:
    """llama.cpp's quantizer from the 16-bit input into `dst`, which the caller makes atomic."""
    return child.quantize_into(made.path, dst, qtype, threads=threads, imatrix=matrix.path, progress=progress)


def verify_file(path: Path, label: str, quantized: child.QuantizeRun, chat: ChatFormat | None,
                threads: int) -> Verified:
    """Load and generate from `path` (the output under a name that is not yet final) while its sha256 is
    read on another core; messages name `label`, the final file the user asked for."""
    from blossom_edge.base.digest import sha256_file
    from blossom_edge.inputs.gguf_info import read_gguf_info
    from blossom_edge.quantize import verify

    stop_hashing = threading.Event()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=1) as hasher:
        digest = hasher.submit(sha256_file, path, stop=stop_hashing)
        try:
            info = read_gguf_info(path)
            verify.check_types(info, quantized.chosen_types)
            verification = verify.verify_gguf(path, chat=chat, threads=threads, info=info, label=label)
            sha256 = digest.result()
        except BaseException:
            stop_hashing.set()
            raise
    return Verified(quantized, verification, sha256, time.perf_counter() - t0)


def _keep_intermediate(made: Input16, final: Path) -> Path:
    """With --keep-intermediate, the intermediate (already beside the output) takes its published name."""
    from blossom_edge.model.naming import gguf_name

    kept = made.path.with_name(gguf_name(made.origin.stem, (made.converted or {}).get("intermediate_type") or "auto"))
    if kept == final:
        return made.path
    os.replace(made.path, kept)
    return kept


def write_run_manifest(final: Path, verified: Verified, made: Input16, qtype: QuantType, matrix: Matrix,
                       threads: int, stages: Stages, *, kept: Path | None = None,
                       projector: dict[str, Any] | None = None) -> dict[str, Any]:
    """The manifest beside the verified output (the record a later `release` checks before redoing it)."""
    from blossom_edge.quantize.manifest import tool_versions, write_manifest

    record = made.record()
    if kept is not None:
        record["intermediate"] = {**record["intermediate"], "kept": str(kept)}
    t0 = time.perf_counter()
    info = verified.verification.info
    record.update({
        "qtype": qtype.name,
        "imatrix": _imatrix_manifest(matrix),
        "tools": tool_versions(),
        "threads": threads,
        "tensor_types": info.type_histogram(),
        "bits_per_weight": round(info.bits_per_weight, 4),
        "verification": {"prompt": verified.verification.prompt, "tokens": verified.verification.tokens,
                         "text": verified.verification.text},
        "projector": projector,
        "timings_seconds": {k: round(v, 3) for k, v in
                            {**stages.seconds, "total": time.perf_counter() - stages.started}.items()},
    })
    write_manifest(final, verified.sha256, record)
    stages.since("manifest", t0)
    stages.seconds["total"] = time.perf_counter() - stages.started
    return record


# ----------------------------------------------------------------------------- helpers


def _imatrix_manifest(matrix: Matrix) -> dict[str, Any] | None:
    """The matrix used, with what llama-quantize recorded of it in the file (dataset, chunks, entries)."""
    from blossom_edge.base.digest import sha256_file
    from blossom_edge.imatrix.reader import load_imatrix

    if matrix.path is None:
        return None
    meta = load_imatrix(matrix.path)
    return {"file": str(matrix.path), "sha256": sha256_file(matrix.path), "dataset": meta["dataset"],
            "chunks": meta["chunks"], "entries": len(meta["entries"]), **(matrix.record or {})}


def checkpoint_bytes(local: LocalSource) -> tuple[int, int]:
    """(weight bytes, bytes per parameter) of a local HF checkpoint, from its files and its config
    (read once for the whole run, by the bounded reader, so a hostile one is refused here)."""
    weights = sum(p.stat().st_size for p in local.path.glob("*.safetensors"))
    dtype = str(local.config.get("torch_dtype") or local.config.get("dtype") or "bfloat16")
    return weights, _BYTES_PER_PARAM.get(dtype, 2)


def _precheck_download(source: Source, qtype: QuantType, output_dir: Path, keep_intermediate: bool) -> None:
    """Before a multi-gigabyte download: will the catalog model, its intermediate and output fit?

    The intermediate counts only if it will go to disk; if it fits in RAM now, it is not counted
    (the placement is decided again after the download, with the disk check repeated then).
    """
    from blossom_edge.base.diskspace import DiskNeed, check_free_space, fits_in_ram
    from blossom_edge.inputs.hub import cache_dir, is_cached
    from blossom_edge.inputs.source import HubSource

    if not isinstance(source, HubSource) or source.model is None:
        return
    params = int(source.model.params_b * 1e9)
    needs = [DiskNeed("output", output_dir, int(params * qtype.bpw / 8))]
    if keep_intermediate or not fits_in_ram(params * 2):
        needs.append(DiskNeed("intermediate", output_dir, params * 2))
    if not is_cached(source.model.repo_id):
        needs.append(DiskNeed("download", cache_dir(), params * 2))
    check_free_space(needs)


def source_revision(local: Any) -> str | None:
    """The commit actually used: the asked revision, else the snapshot directory's hash."""
    if local.revision:
        return local.revision
    return local.path.name if local.path.parent.name == "snapshots" else None
