"""From a model name to a verified, quantized GGUF: resolve → convert → quantize → verify → manifest.

Each step is a small function over one `Run`, which holds everything the steps hand on (the
input the quantizer reads, the intermediate and where it lives, what the manifest will say),
so a reader follows the source argument down one page instead of through the import graph.
The quantizing itself is llama.cpp's own (`child.py`), so the files are the ones
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
from blossom_edge.base.signals import signals_as_interrupts
from blossom_edge.device.threads import all_cores
from blossom_edge.quantize import child
from blossom_edge.quantize.types import AUTO, QuantType, imatrix_choice, parse_qtype

if TYPE_CHECKING:
    from blossom_edge.base.diskspace import Placement
    from blossom_edge.inputs.source import LocalSource, Source
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


@dataclass
class Run:
    """One run's state as it moves through the steps."""

    source: Source
    qtype: QuantType
    output_dir: Path
    threads: int
    imatrix: Path | None
    keep_intermediate: bool
    progress: bool
    # --imatrix auto: computed from the 16-bit input (or reused) by `_importance_matrix`.
    imatrix_auto: bool = False
    imatrix_record: dict[str, Any] | None = None
    started: float = field(default_factory=time.perf_counter)
    timings: dict[str, float] = field(default_factory=dict)
    # What the manifest says of the source and the intermediate.
    record: dict[str, Any] = field(default_factory=dict)
    chat: ChatFormat | None = None
    # The checkpoint's file-name stem, which names the intermediate and, if kept, its copy.
    stem: str = ""
    described: str = ""
    final: Path | None = None
    quant_input: Path | None = None
    intermediate: Path | None = None
    ram_dir: Path | None = None
    kept: Path | None = None
    quantized: child.QuantizeRun | None = None
    verification: Verification | None = None
    sha256: str = ""

    def timed(self, stage: str, started: float) -> None:
        self.timings[stage] = time.perf_counter() - started


def quantize_pipeline(
    source: str | Source,
    qtype: str,
    output_dir: Path,
    *,
    threads: int | None = None,
    imatrix: Path | str | None = None,
    keep_intermediate: bool = False,
    progress: bool = True,
) -> QuantizeReport:
    """Resolve, convert to a lossless intermediate, quantize, verify and write the manifest.

    `imatrix`: a file, "auto" (compute one, the default for types that need one) or "none".
    """
    from blossom_edge.inputs.source import GgufSource, classify

    qt = parse_qtype(qtype)
    choice = imatrix_choice(qt, imatrix)
    run = Run(classify(source), qt, _prepared_output_dir(output_dir), threads or all_cores(),
              choice if isinstance(choice, Path) else None, keep_intermediate, progress, imatrix_auto=choice == AUTO)
    with signals_as_interrupts():
        try:
            if isinstance(run.source, GgufSource):
                _from_gguf(run)
            else:
                _from_checkpoint(run)
            importance_matrix(run)
            quantize_verified(run)
            _keep_intermediate(run)
        finally:
            _clean_up(run)
    manifest = write_run_manifest(run)
    return QuantizeReport(run.final, qt, run.described, run.timings, run.verification, run.kept,
                          intermediate_record=run.record.get("intermediate"), imatrix=manifest["imatrix"])


def quantize_source(
    source: str | Source,
    qtype: str,
    output_dir: Path,
    *,
    threads: int | None = None,
    imatrix: Path | str | None = None,
    keep_intermediate: bool = False,
) -> Path:
    """One call from a model name, HF directory or GGUF to a verified quantized GGUF; returns its path."""
    return quantize_pipeline(source, qtype, output_dir, threads=threads, imatrix=imatrix,
                             keep_intermediate=keep_intermediate).path


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


def _from_gguf(run: Run) -> None:
    """A GGUF input is quantized as it is (re-quantized, with a note if it already lost precision)."""
    from blossom_edge.base.diskspace import DiskNeed, check_free_space
    from blossom_edge.base.output import note
    from blossom_edge.inputs.gguf_info import read_gguf_info
    from blossom_edge.model.naming import gguf_name
    from blossom_edge.quantize.types import LOSSLESS_TYPES

    src = run.source.path
    info = read_gguf_info(src)
    run.final = run.output_dir / gguf_name(src.stem, run.qtype.name)
    if run.final.resolve() == src.resolve():
        raise UsageError(f"{src} already has the name the {run.qtype.name} output would get; choose another -o")
    refuse_overwriting(run.final, [src, *([run.imatrix] if run.imatrix else [])])
    check_free_space([DiskNeed("output", run.output_dir, int(info.n_params * run.qtype.bpw / 8))])
    low = {t for t in info.types if t not in LOSSLESS_TYPES}
    if low:
        note(f"[yellow]note:[/] {src.name} is already quantized ({', '.join(sorted(low))}); "
             "re-quantizing loses more quality than starting from the 16-bit checkpoint")
    run.quant_input, run.described = src, str(src.resolve())
    run.stem = src.stem
    run.record["source"] = {"gguf": run.described, "bytes": info.file_size, "types": info.type_histogram()}


def _from_checkpoint(run: Run) -> None:
    """Download if needed, then convert to a 16-bit intermediate in RAM or beside the output."""
    from blossom_edge.base.diskspace import DiskNeed, check_free_space, place_intermediate
    from blossom_edge.model.naming import gguf_name

    local = resolve_checkpoint(run)
    run.final = run.output_dir / gguf_name(run.stem, run.qtype.name)
    refuse_overwriting(run.final, [p for p in local.path.iterdir() if p.is_file()]
                       + ([run.imatrix] if run.imatrix else []))
    weights, per_param = checkpoint_bytes(local)
    intermediate_bytes = weights // per_param * 2
    placement = place_intermediate(intermediate_bytes, run.output_dir, keep=run.keep_intermediate)
    run.ram_dir = placement.directory if placement.in_ram else None
    needs = [DiskNeed("output", run.output_dir, int(weights / per_param * run.qtype.bpw / 8))]
    if not placement.in_ram:
        needs.append(DiskNeed("intermediate", run.output_dir, intermediate_bytes))
    check_free_space(needs)
    convert_intermediate(run, local, placement)


def resolve_checkpoint(run: Run) -> LocalSource:
    """The checkpoint on local disk (downloaded if needed) and what the manifest says of it.

    Shared with `release`, which resolves once per model and quantizes many types from one
    intermediate, so both record the source the same way.
    """
    from blossom_edge.convert.metadata import output_stem
    from blossom_edge.inputs.hub import resolve_source

    _precheck_download(run.source, run.qtype, run.output_dir, run.keep_intermediate)
    t0 = time.perf_counter()
    local = resolve_source(run.source)
    run.timed("download", t0)
    run.chat = local.model.chat if local.model else None
    run.stem = output_stem(local)
    run.described = local.describe()
    run.record["source"] = {"repo_id": local.repo_id, "revision": source_revision(local),
                            "path": None if local.repo_id else str(local.path.resolve())}
    return local


def convert_intermediate(run: Run, local: LocalSource, placement: Placement) -> None:
    """Convert the checkpoint losslessly (`auto`) into `placement`: the input every quant type is made from."""
    from blossom_edge.convert import convert_checkpoint
    from blossom_edge.model.naming import intermediate_name

    run.intermediate = placement.directory / intermediate_name(run.stem)
    t0 = time.perf_counter()
    converted = convert_checkpoint(local, run.intermediate, "auto", progress=run.progress)
    run.timed("convert", t0)
    run.record["intermediate_type"] = converted.outtype
    run.record["intermediate"] = {"location": placement.location, "directory": str(placement.directory),
                                  "bytes": run.intermediate.stat().st_size}
    run.quant_input = run.intermediate


def importance_matrix(run: Run) -> None:
    """With --imatrix auto: the model's matrix beside the output, reused if made from this same input."""
    from blossom_edge.base.atomic import refuse_overwriting
    from blossom_edge.base.output import note
    from blossom_edge.imatrix.compute import make_imatrix
    from blossom_edge.imatrix.text import default_text
    from blossom_edge.imatrix.writer import read_provenance
    from blossom_edge.model.naming import imatrix_name

    if not run.imatrix_auto:
        if run.imatrix is not None:
            run.imatrix_record = {"made": "given"}
        return
    path = run.output_dir / imatrix_name(run.stem)
    text = default_text()
    wanted = {"source": _imatrix_source(run), "text_sha256": text.sha256}
    if path.exists():
        found = read_provenance(path)
        if all(found.get(k) == v for k, v in wanted.items()):
            note(f"reusing the importance matrix {path.name}, made from this model and text")
            run.imatrix, run.imatrix_record = path, {"made": "reused"}
            return
        raise UsageError(f"{path} exists but was not made from {run.described} on the shipped text: pass "
                         f"--imatrix {path} to use it anyway, or remove it to compute a new one")
    refuse_overwriting(path, [run.quant_input])
    note(f"{run.qtype.name.lower()} needs an importance matrix: computing one from the 16-bit model on the "
         f"shipped Chinese/English text into {path.name} (--imatrix FILE uses your own)")
    t0 = time.perf_counter()
    result = make_imatrix(run.quant_input, path, text, threads=run.threads, provenance=wanted,
                          progress=run.progress)
    run.timed("imatrix", t0)
    run.imatrix = path
    run.imatrix_record = {"made": "computed", "chunk_size": result.chunk_size,
                          "perplexity": round(result.perplexity, 4)}


def _imatrix_source(run: Run) -> str:
    """What a computed matrix was made from: the checkpoint's repo and revision, or the input's path and size."""
    source = run.record.get("source", {})
    if source.get("repo_id"):
        return f"{source['repo_id']}@{source.get('revision') or 'unknown'}"
    if "gguf" in source:
        return f"{source['gguf']} ({source['bytes']} bytes)"
    return str(source.get("path") or run.described)


def quantize_verified(run: Run) -> None:
    """Quantize into `NAME.partial`, verify the partial, and only then give it the final name.

    Whatever ends the run before that (a refusal, a native crash in a child, SIGKILL), no file
    under the final name is left unverified: a killed run leaves at most the partial, which the
    next run takes over.
    """
    from blossom_edge.base.atomic import atomic_output

    with atomic_output(run.final) as partial:
        quantize_file(run, partial)
        verify_output(run, partial)


def quantize_file(run: Run, dst: Path) -> None:
    """llama.cpp's quantizer from `run.quant_input` into `dst`; a temporary intermediate is freed after."""
    run.quantized = child.quantize_into(run.quant_input, dst, run.qtype, threads=run.threads,
                                        imatrix=run.imatrix, progress=run.progress)
    run.timings["quantize"] = run.quantized.seconds
    if run.intermediate is not None and not run.keep_intermediate:
        # Free its RAM (or disk) before verification loads the quantized model.
        run.intermediate.unlink(missing_ok=True)


def verify_output(run: Run, path: Path) -> None:
    """Load and generate from `path` (the output under a name that is not yet final) while its sha256 is
    read on another core; the messages name the final file, which is what the user asked for."""
    from blossom_edge.base.digest import sha256_file
    from blossom_edge.inputs.gguf_info import read_gguf_info
    from blossom_edge.quantize import verify

    stop_hashing = threading.Event()
    with ThreadPoolExecutor(max_workers=1) as hasher:
        digest = hasher.submit(sha256_file, path, stop=stop_hashing)
        try:
            t0 = time.perf_counter()
            final_info = read_gguf_info(path)
            verify.check_types(final_info, run.quantized.chosen_types)
            run.verification = verify.verify_gguf(path, chat=run.chat, threads=run.threads, info=final_info,
                                                  label=run.final.name)
            run.sha256 = digest.result()
        except BaseException:
            stop_hashing.set()
            raise
    run.timed("verify", t0)


def _keep_intermediate(run: Run) -> None:
    """With --keep-intermediate, the intermediate (already beside the output) takes its published name."""
    from blossom_edge.model.naming import gguf_name

    if not run.keep_intermediate or run.intermediate is None:
        return
    kept = run.intermediate.with_name(gguf_name(run.stem, run.record.get("intermediate_type") or "auto"))
    if kept == run.final:
        run.kept = run.intermediate
        return
    os.replace(run.intermediate, kept)
    run.kept = kept


def _clean_up(run: Run) -> None:
    if run.intermediate is not None and run.intermediate != run.kept:
        run.intermediate.unlink(missing_ok=True)
    if run.ram_dir is not None:
        shutil.rmtree(run.ram_dir, ignore_errors=True)


def write_run_manifest(run: Run) -> dict[str, Any]:
    """The manifest beside the verified output (the record a later `release` checks before redoing it)."""
    from blossom_edge.quantize.manifest import tool_versions, write_manifest

    if run.kept is not None:
        run.record["intermediate"]["kept"] = str(run.kept)
    t0 = time.perf_counter()
    info = run.verification.info
    record = {
        **run.record,
        "qtype": run.qtype.name,
        "imatrix": _imatrix_manifest(run),
        "tools": tool_versions(),
        "threads": run.threads,
        "tensor_types": info.type_histogram(),
        "bits_per_weight": round(info.bits_per_weight, 4),
        "verification": {"prompt": run.verification.prompt, "tokens": run.verification.tokens,
                         "text": run.verification.text},
        "timings_seconds": {k: round(v, 3) for k, v in
                            {**run.timings, "total": time.perf_counter() - run.started}.items()},
    }
    write_manifest(run.final, run.sha256, record)
    run.timed("manifest", t0)
    run.timings["total"] = time.perf_counter() - run.started
    return record


# ----------------------------------------------------------------------------- helpers


def _imatrix_manifest(run: Run) -> dict[str, Any] | None:
    """The matrix used, with what llama-quantize recorded of it in the file (dataset, chunks, entries)."""
    from blossom_edge.base.digest import sha256_file
    from blossom_edge.imatrix.reader import load_imatrix

    if run.imatrix is None:
        return None
    meta = load_imatrix(run.imatrix)
    return {"file": str(run.imatrix), "sha256": sha256_file(run.imatrix), "dataset": meta["dataset"],
            "chunks": meta["chunks"], "entries": len(meta["entries"]), **(run.imatrix_record or {})}


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
