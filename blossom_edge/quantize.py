"""From a model name to a verified, quantized GGUF: the table of quant types and the pipeline.

The quantizing itself is llama.cpp's own (`llama_model_quantize` through llama-cpp-python),
so the files are the ones llama-quantize would write. It runs in a child process
(`python -m blossom_edge.quantize`) because llama.cpp aborts the whole process on some
bad inputs; in a child that becomes one line of error and a removed partial file. The
child's log is read line by line to drive the progress bar and to learn which type
llama.cpp chose for each tensor, which verification then checks against the file.

From a checkpoint, the 16-bit intermediate is written to RAM (/dev/shm) when it fits
comfortably, so no checkpoint-sized file touches the disk; it is removed however the run ends.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from blossom_edge.atomic import atomic_output
from blossom_edge.errors import (
    CorruptFileError,
    ExternalToolError,
    NotFoundError,
    UsageError,
)


@dataclass(frozen=True)
class QuantType:
    """One type llama.cpp's quantizer offers; `bpw` is typical for a whole 8B model, mixes included."""

    name: str
    ftype: int
    bpw: float
    needs_imatrix: bool = False
    alias_of: str | None = None

    @property
    def lossless_float(self) -> bool:
        return self.name in ("F32", "F16", "BF16")


# ftype numbers are llama.h's `enum llama_ftype`; bpw for the mixes come from the sizes llama.cpp
# reports for Llama-3-8B (embeddings and output kept at higher precision count in).
QUANT_TYPES: tuple[QuantType, ...] = (
    QuantType("Q1_0", 40, 1.125),
    QuantType("IQ1_S", 24, 1.56, needs_imatrix=True),
    QuantType("TQ1_0", 36, 1.69),
    QuantType("IQ1_M", 31, 1.75, needs_imatrix=True),
    QuantType("IQ2_XXS", 19, 2.06, needs_imatrix=True),
    QuantType("TQ2_0", 37, 2.06),
    QuantType("Q2_0", 41, 2.25),
    QuantType("IQ2_XS", 20, 2.31, needs_imatrix=True),
    QuantType("IQ2_S", 28, 2.5, needs_imatrix=True),
    QuantType("IQ2_M", 29, 2.7, needs_imatrix=True),
    QuantType("IQ3_XXS", 23, 3.06, needs_imatrix=True),
    QuantType("Q2_K_S", 21, 3.17, needs_imatrix=True),
    QuantType("Q2_K", 10, 3.17),
    QuantType("IQ3_XS", 22, 3.3),
    QuantType("IQ3_S", 26, 3.44),
    QuantType("IQ3_M", 27, 3.66),
    QuantType("Q3_K_S", 11, 3.65),
    QuantType("Q3_K_M", 12, 4.0),
    QuantType("Q3_K", 12, 4.0, alias_of="Q3_K_M"),
    QuantType("MXFP4_MOE", 38, 4.25),
    QuantType("IQ4_XS", 30, 4.25),
    QuantType("Q3_K_L", 13, 4.31),
    QuantType("IQ4_NL", 25, 4.5),
    QuantType("Q4_0", 2, 4.64),
    QuantType("Q4_K_S", 14, 4.67),
    QuantType("Q4_K_M", 15, 4.9),
    QuantType("Q4_K", 15, 4.9, alias_of="Q4_K_M"),
    QuantType("Q4_1", 3, 5.11),
    QuantType("Q5_0", 8, 5.57),
    QuantType("Q5_K_S", 16, 5.57),
    QuantType("Q5_K_M", 17, 5.7),
    QuantType("Q5_K", 17, 5.7, alias_of="Q5_K_M"),
    QuantType("Q5_1", 9, 6.04),
    QuantType("Q6_K", 18, 6.57),
    QuantType("Q8_0", 7, 8.51),
    QuantType("BF16", 32, 16.0),
    QuantType("F16", 1, 16.0),
    QuantType("F32", 0, 32.0),
)

_BY_NAME = {q.name: q for q in QUANT_TYPES}


def parse_qtype(text: str) -> QuantType:
    """The quant type a user named (any case, `q4_k` → Q4_K_M), or a usage error listing them all."""
    key = text.strip().upper().replace("-", "_")
    found = _BY_NAME.get(key)
    if found is not None:
        return _BY_NAME[found.alias_of] if found.alias_of else found
    near = difflib.get_close_matches(key, list(_BY_NAME), n=1, cutoff=0.5)
    hint = f" (did you mean {near[0].lower()}?)" if near else ""
    valid = ", ".join(f"{q.name.lower()} {q.bpw:g}" for q in QUANT_TYPES if not q.alias_of)
    raise UsageError(f"unknown quant type '{text}'{hint}; valid types with typical bits per weight: {valid}")


def require_imatrix(qtype: QuantType, imatrix: Path | None) -> None:
    """llama.cpp refuses these without an importance matrix; say so before any work starts."""
    if imatrix is None and qtype.needs_imatrix:
        raise UsageError(
            f"{qtype.name.lower()} needs an importance matrix: pass --imatrix FILE "
            "(made by llama.cpp's llama-imatrix), or pick a type such as q2_k, iq3_s or iq4_xs"
        )
    if imatrix is not None and not imatrix.is_file():
        raise NotFoundError(f"no such importance matrix file: {imatrix}")
    if imatrix is not None:
        # Read it here too: in the quantizer child a damaged file would surface as a traceback.
        _load_imatrix(imatrix)


def default_threads() -> int:
    """All cores: quantizing is embarrassingly parallel and the user is waiting for it."""
    return os.cpu_count() or 1


# ----------------------------------------------------------------------------- pipeline

_QUANT_SUFFIX = re.compile(r"[-.](I?Q\d\w*|TQ\d_0|MXFP4_MOE|BF16|F16|F32)$", re.IGNORECASE)
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
    requantized_from: str | None = None
    intermediate_record: dict[str, Any] | None = None


def output_name(stem: str, qtype: QuantType) -> str:
    """The published convention, `blossom-v5-4b-Q4_K_M.gguf`, from any source name."""
    return f"{_QUANT_SUFFIX.sub('', stem).lower()}-{qtype.name}.gguf"


def _is_gguf_source(source: str) -> bool:
    path = Path(source).expanduser()
    return path.is_file() or path.suffix.lower() == ".gguf"


def _checkpoint_bytes(model_dir: Path) -> tuple[int, int]:
    """(weight bytes, bytes per parameter) of a local HF checkpoint, from its files and config."""
    weights = sum(p.stat().st_size for p in model_dir.glob("*.safetensors"))
    try:
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = {}
    dtype = str(config.get("torch_dtype") or config.get("dtype") or "bfloat16")
    return weights, _BYTES_PER_PARAM.get(dtype, 2)


def _hub_cached(repo_id: str) -> bool:
    from huggingface_hub import constants

    return (Path(constants.HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}").is_dir()


def _precheck_download(source: str, qtype: QuantType, output_dir: Path, keep_intermediate: bool) -> None:
    """Before a multi-gigabyte download: will the catalog model, its intermediate and output fit?

    The intermediate counts only if it will go to disk; if it fits in RAM now, it is not counted
    (the placement is decided again after the download, with the disk check repeated then).
    """
    from blossom_edge.catalog import lookup
    from blossom_edge.diskspace import DiskNeed, check_free_space, fits_in_ram

    model = lookup(source)
    if model is None or Path(source).expanduser().exists():
        return
    params = int(model.params_b * 1e9)
    needs = [DiskNeed("output", output_dir, int(params * qtype.bpw / 8))]
    if keep_intermediate or not fits_in_ram(params * 2):
        needs.append(DiskNeed("intermediate", output_dir, params * 2))
    if not _hub_cached(model.repo_id):
        from huggingface_hub import constants

        needs.append(DiskNeed("download", Path(constants.HF_HUB_CACHE), params * 2))
    check_free_space(needs)


def _source_revision(local: Any) -> str | None:
    """The commit actually used: the asked revision, else the snapshot directory's hash."""
    if local.revision:
        return local.revision
    return local.path.name if local.path.parent.name == "snapshots" else None


def quantize_pipeline(
    source: str,
    qtype: str,
    output_dir: Path,
    *,
    threads: int | None = None,
    imatrix: Path | None = None,
    keep_intermediate: bool = False,
    progress: bool = True,
) -> QuantizeReport:
    """Resolve, convert to a lossless intermediate, quantize, verify and write the manifest."""
    from blossom_edge.atomic import check_writable_dir
    from blossom_edge.diskspace import DiskNeed, check_free_space
    from blossom_edge.gguf_info import read_gguf_info
    from blossom_edge.output import note

    qt = parse_qtype(qtype)
    require_imatrix(qt, imatrix)
    output_dir = Path(output_dir).expanduser()
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from blossom_edge.atomic import OutputNotWritableError

        raise OutputNotWritableError(f"cannot create {output_dir}: {exc.strerror or exc}") from exc
    check_writable_dir(output_dir)
    threads = threads or default_threads()
    timings: dict[str, float] = {}
    started = time.perf_counter()
    chat = None
    intermediate: Path | None = None
    ram_dir: Path | None = None
    kept: Path | None = None
    record: dict[str, Any] = {}

    with _sigterm_as_interrupt():
        try:
            if _is_gguf_source(source):
                src = Path(source).expanduser()
                info = read_gguf_info(src)
                final = output_dir / output_name(src.stem, qt)
                if final.resolve() == src.resolve():
                    raise UsageError(f"{src} already has the name the {qt.name} output would get; choose another -o")
                check_free_space([DiskNeed("output", output_dir, int(info.n_params * qt.bpw / 8))])
                low = {t for t in info.types if t not in ("F32", "F16", "BF16")}
                if low:
                    note(f"[yellow]note:[/] {src.name} is already quantized ({', '.join(sorted(low))}); "
                         "re-quantizing loses more quality than starting from the 16-bit checkpoint")
                quant_input, described = src, str(src.resolve())
                record["source"] = {"gguf": described, "types": info.type_histogram()}
            else:
                from blossom_edge.convert import convert_checkpoint
                from blossom_edge.convert.metadata import output_stem
                from blossom_edge.diskspace import place_intermediate
                from blossom_edge.hub import resolve_source

                _precheck_download(source, qt, output_dir, keep_intermediate)
                t0 = time.perf_counter()
                local = resolve_source(source)
                timings["download"] = time.perf_counter() - t0
                chat = local.model.chat if local.model else None
                stem = output_stem(local.path, local)
                final = output_dir / output_name(stem, qt)
                weights, per_param = _checkpoint_bytes(local.path)
                placement = place_intermediate(weights // per_param * 2, output_dir, keep=keep_intermediate)
                ram_dir = placement.directory if placement.in_ram else None
                needs = [DiskNeed("output", output_dir, int(weights / per_param * qt.bpw / 8))]
                if not placement.in_ram:
                    needs.append(DiskNeed("intermediate", output_dir, weights // per_param * 2))
                check_free_space(needs)
                intermediate = placement.directory / f"{_QUANT_SUFFIX.sub('', stem).lower()}.intermediate.gguf"
                described = local.describe()
                record["source"] = {"repo_id": local.repo_id, "revision": _source_revision(local),
                                    "path": None if local.repo_id else str(local.path.resolve())}
                t0 = time.perf_counter()
                converted = convert_checkpoint(local.path, intermediate, "auto", source=local, progress=progress)
                timings["convert"] = time.perf_counter() - t0
                record["intermediate_type"] = converted.outtype
                record["intermediate"] = {"location": placement.location, "directory": str(placement.directory),
                                          "bytes": intermediate.stat().st_size}
                quant_input = intermediate

            run = quantize_gguf(quant_input, final, qt, threads=threads, imatrix=imatrix, progress=progress)
            timings["quantize"] = run.seconds
            if intermediate is not None and not keep_intermediate:
                # Free its RAM (or disk) before verification loads the quantized model.
                intermediate.unlink(missing_ok=True)
            from blossom_edge.digest import sha256_file
            from blossom_edge.verify import check_types, manifest_path, verify_gguf

            # The manifest's sha256 is read on another core while verification runs.
            stop_hashing = threading.Event()
            with ThreadPoolExecutor(max_workers=1) as hasher:
                digest = hasher.submit(sha256_file, final, stop=stop_hashing)
                try:
                    t0 = time.perf_counter()
                    final_info = read_gguf_info(final)
                    check_types(final_info, run.chosen_types)
                    verification = verify_gguf(final, chat=chat, threads=threads, info=final_info)
                    sha256 = digest.result()
                except BaseException:
                    stop_hashing.set()
                    final.unlink(missing_ok=True)
                    manifest_path(final).unlink(missing_ok=True)
                    raise
            timings["verify"] = time.perf_counter() - t0
            if keep_intermediate and intermediate is not None:
                kept = _keep(intermediate, final, record.get("intermediate_type"))
        finally:
            if intermediate is not None and intermediate != kept:
                intermediate.unlink(missing_ok=True)
            if ram_dir is not None:
                shutil.rmtree(ram_dir, ignore_errors=True)
    if kept is not None:
        record["intermediate"]["kept"] = str(kept)
    t0 = time.perf_counter()
    from blossom_edge.verify import tool_versions, write_manifest

    write_manifest(final, sha256, {
        **record,
        "qtype": qt.name,
        "imatrix": {"file": str(imatrix), "sha256": sha256_file(imatrix)} if imatrix else None,
        "tools": tool_versions(),
        "threads": threads,
        "tensor_types": verification.info.type_histogram(),
        "bits_per_weight": round(verification.info.bits_per_weight, 4),
        "verification": {"prompt": verification.prompt, "tokens": verification.tokens, "text": verification.text},
        "timings_seconds": {k: round(v, 3) for k, v in {**timings, "total": time.perf_counter() - started}.items()},
    })
    timings["manifest"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - started
    return QuantizeReport(final, qt, described, timings, verification, kept, intermediate_record=record.get("intermediate"))


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Let SIGTERM unwind like Ctrl-C, so `finally` removes an intermediate that would otherwise hold RAM.

    Only the main thread may set handlers; elsewhere (a test runner's worker) nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _keep(intermediate: Path, final: Path, outtype: str | None) -> Path:
    """Keep the intermediate under its own published-style name (it is already beside the output)."""
    kept = intermediate.with_name(intermediate.name.replace(".intermediate.gguf", f"-{(outtype or 'auto').upper()}.gguf"))
    if kept == final:
        return intermediate
    os.replace(intermediate, kept)
    return kept


def quantize_source(
    source: str,
    qtype: str,
    output_dir: Path,
    *,
    threads: int | None = None,
    imatrix: Path | None = None,
    keep_intermediate: bool = False,
) -> Path:
    """One call from a model name, HF directory or GGUF to a verified quantized GGUF; returns its path."""
    return quantize_pipeline(source, qtype, output_dir, threads=threads, imatrix=imatrix,
                             keep_intermediate=keep_intermediate).path


# ----------------------------------------------------------------------------- child process

_TENSOR_LINE = re.compile(
    r"\[\s*(\d+)/\s*(\d+)\]\s+(\S+)\s+- \[[^\]]*\], type =\s*(\w+),\s*(?:converting to (\w+))?"
)
_FAIL_LINE = re.compile(r"failed to quantize:\s*(.+)")


@dataclass
class QuantizeRun:
    """What one quantizer run produced: the file, the type chosen per tensor, and its time."""

    path: Path
    qtype: QuantType
    chosen_types: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def quantize_gguf(
    src: Path,
    dst: Path,
    qtype: QuantType,
    *,
    threads: int | None = None,
    imatrix: Path | None = None,
    progress: bool = True,
) -> QuantizeRun:
    """Quantize one GGUF file with llama.cpp's quantizer; `dst` appears only if it succeeded."""
    require_imatrix(qtype, imatrix)
    spec = {
        "input": str(src),
        "ftype": qtype.ftype,
        "threads": threads or default_threads(),
        "imatrix": str(imatrix) if imatrix else None,
    }
    start = time.perf_counter()
    with atomic_output(dst) as partial:
        spec["output"] = str(partial)
        chosen, _ = _run_child(spec, label=f"quantizing to {qtype.name}", progress=progress)
    return QuantizeRun(dst, qtype, chosen, time.perf_counter() - start)


def _run_child(spec: dict[str, Any], *, label: str, progress: bool) -> tuple[dict[str, str], list[str]]:
    """Run the quantizer child, follow its log, and turn any failure into one line."""
    from blossom_edge.output import err_console

    cmd = [sys.executable, "-m", "blossom_edge.quantize", json.dumps(spec)]
    chosen: dict[str, str] = {}
    log: list[str] = []
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
    try:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=err_console(), disable=not progress, transient=True) as bar:
            task = bar.add_task(label, total=None)
            assert proc.stdout is not None
            for line in proc.stdout:
                log.append(line.rstrip("\n"))
                match = _TENSOR_LINE.search(line)
                if match:
                    index, total, name, old_type, new_type = match.groups()
                    chosen[name] = (new_type or old_type).upper()
                    bar.update(task, completed=int(index), total=int(total))
        code = proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if code != 0:
        raise ExternalToolError(_failure_line(spec, code, log))
    return chosen, log


def _failure_line(spec: dict[str, Any], code: int, log: list[str]) -> str:
    """The most telling line of a failed run: llama.cpp's own reason, else its last words."""
    src = spec["input"]
    for line in reversed(log):
        match = _FAIL_LINE.search(line)
        if match:
            return f"llama.cpp could not quantize {src}: {match.group(1).strip()}"
    last = next((ln.strip() for ln in reversed(log) if ln.strip() and not ln.startswith("[")), "")
    for line in log:
        if "GGML_ASSERT" in line or "error" in line.lower():
            last = line.strip()
            break
    how = f"was killed by signal {-code}" if code < 0 else f"failed (exit {code})"
    detail = f": {last}" if last else ""
    return f"llama.cpp's quantizer {how} on {src}{detail}"


def _load_imatrix(path: Path) -> dict[str, Any]:
    """Importance data per tensor, normalised as llama-quantize does (GGUF or legacy .dat file).

    The loader lives in llama.cpp's tool, not in the library we call, so it is done here.
    """
    import numpy as np

    with path.open("rb") as fh:
        magic = fh.read(4)
    entries: dict[str, Any] = {}
    meta: dict[str, Any] = {"file": str(path), "chunks": 0, "dataset": None}
    if magic == b"GGUF":
        from gguf import GGUFReader

        try:
            reader = GGUFReader(path)
        except (ValueError, IndexError, KeyError, OSError) as exc:
            raise CorruptFileError(f"{path} is not a readable importance matrix: {exc}") from exc
        sums = {t.name[: -len(".in_sum2")]: t for t in reader.tensors if t.name.endswith(".in_sum2")}
        counts = {t.name[: -len(".counts")]: t for t in reader.tensors if t.name.endswith(".counts")}
        for name, tensor in sums.items():
            if name not in counts:
                raise CorruptFileError(f"importance matrix {path}: no counts for {name}")
            s = np.asarray(tensor.data, dtype=np.float32).reshape(-1)
            c = np.asarray(counts[name].data, dtype=np.float32).reshape(-1)
            per = s.reshape(len(c), -1)
            out = np.where(c[:, None] > 0, per / np.where(c[:, None] > 0, c[:, None], 1), 1.0)
            entries[name] = out.reshape(-1).astype(np.float32)
        field_ = reader.fields.get("imatrix.chunk_count")
        if field_ is not None:
            meta["chunks"] = int(field_.parts[field_.data[0]][0])
        field_ = reader.fields.get("imatrix.datasets")
        if field_ is not None and field_.data:
            meta["dataset"] = bytes(field_.parts[field_.data[0]]).decode("utf-8", "replace")
    else:
        raw = path.read_bytes()
        try:
            pos, (n_entries,) = 4, np.frombuffer(raw, np.int32, 1, 0)
            for _ in range(int(n_entries)):
                (length,) = np.frombuffer(raw, np.int32, 1, pos)
                name = raw[pos + 4: pos + 4 + int(length)].decode()
                pos += 4 + int(length)
                ncall, nval = (int(v) for v in np.frombuffer(raw, np.int32, 2, pos))
                pos += 8
                values = np.frombuffer(raw, np.float32, nval, pos).copy()
                pos += 4 * nval
                entries[name] = values / ncall if ncall > 0 else values
        except (ValueError, UnicodeDecodeError) as exc:
            raise CorruptFileError(f"{path} is not an importance matrix (GGUF or .dat): {exc}") from exc
    if not entries:
        raise CorruptFileError(f"importance matrix {path} has no entries")
    meta["entries"] = entries
    return meta


def _child_main(spec: dict[str, Any]) -> int:
    """Inside the child: call llama.cpp's quantizer with its log going to our stdout pipe."""
    import ctypes

    import llama_cpp

    @llama_cpp.llama_log_callback
    def _log(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        sys.stdout.write(text.decode("utf-8", "replace"))
        sys.stdout.flush()

    llama_cpp.llama_log_set(_log, ctypes.c_void_p(0))
    llama_cpp.llama_backend_init()
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = int(spec["ftype"])
    params.nthread = int(spec["threads"])
    params.allow_requantize = True
    keep_alive: list[Any] = []
    if spec.get("imatrix"):
        meta = _load_imatrix(Path(spec["imatrix"]))
        items = list(meta["entries"].items())
        table = (llama_cpp.llama_model_imatrix_data * (len(items) + 1))()
        for slot, (name, values) in zip(table, items):
            slot.name = name.encode()
            slot.data = values.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            slot.size = values.size
            keep_alive.append(values)
        params.imatrix = table
        overrides = (llama_cpp.llama_model_kv_override * 4)()
        _set_override(overrides[0], "quantize.imatrix.file", str_value=Path(meta["file"]).name)
        _set_override(overrides[1], "quantize.imatrix.entries_count", int_value=len(items))
        _set_override(overrides[2], "quantize.imatrix.chunks_count", int_value=int(meta["chunks"]))
        params.kv_overrides = overrides
        keep_alive.append(table)
        keep_alive.append(overrides)
    code = llama_cpp.llama_model_quantize(spec["input"].encode(), spec["output"].encode(), ctypes.byref(params))
    sys.stdout.flush()
    return 0 if code == 0 else 3


def _set_override(slot: Any, key: str, *, str_value: str | None = None, int_value: int | None = None) -> None:
    """Fill one llama_model_kv_override the way llama-quantize records its imatrix in the output."""
    import llama_cpp

    slot.key = key.encode()[:127]
    if str_value is not None:
        slot.tag = llama_cpp.LLAMA_KV_OVERRIDE_TYPE_STR
        slot.value.val_str = str_value.encode()[:127]
    else:
        slot.tag = llama_cpp.LLAMA_KV_OVERRIDE_TYPE_INT
        slot.value.val_i64 = int(int_value or 0)


if __name__ == "__main__":
    sys.exit(_child_main(json.loads(sys.argv[1])))
