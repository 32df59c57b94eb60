"""The release as a task graph: what each model and type needs, what is already done, and what each
task asks of a node (CPUs, RAM from the project's memory estimates, disk).

Planning runs on the driver before Ray starts, reads only (manifests, records, the checkpoint's
config), and is what `--dry-run` prints; graph.py submits the nodes that are not done.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blossom_edge.base.errors import UsageError
from blossom_edge.release import resume

if TYPE_CHECKING:
    from blossom_edge.inputs.source import LocalSource, Source
    from blossom_edge.model.shape import ModelShape

MiB = 1 << 20
# A Ray worker with numpy, gguf and llama-cpp-python imported, before any model.
WORKER_BYTES = 256 * MiB
# Streaming conversion holds a few chunks per write thread whatever the model size (see DESIGN.md).
CONVERT_BYTES = 256 * MiB
# CPUs each kind of task asks for at most (capped at the largest node): the quantizer and perplexity scale
# with threads, verification and splitting do not.
TASK_CPUS = {"convert": 2, "imatrix": 4, "quantize": 2, "verify": 1, "reference": 2, "quality": 2, "split": 1,
             "card": 1}
KINDS = tuple(TASK_CPUS)
# Kinds with one task per type, all ready together: they share the node's CPUs, so Ray runs several at
# once (on 2 CPUs, two 1-thread quantizers) instead of one wide task beside idle cores: one task's
# reads, writes and single-threaded stretches are another's compute.
PER_TYPE = ("quantize", "quality")


def task_cpus(kind: str, node_cpus: int, types: int) -> int:
    """The CPUs (and threads) a task asks for: its kind's need, shared among the types on one node."""
    share = max(1, node_cpus // max(1, types)) if kind in PER_TYPE else node_cpus
    return max(1, min(TASK_CPUS[kind], node_cpus, share))


@dataclass(frozen=True)
class ModelSpec:
    """One model of a release, as the planner resolved it: what every step of it needs to know."""

    source: str
    stem: str
    model_dir: Path
    alias: str | None
    first_qtype: str


@dataclass
class Node:
    """One task of the graph; `done` when its record on disk already matches (then it is not run)."""

    key: str
    kind: str
    model: str
    qtype: str | None
    deps: list[str]
    num_cpus: int
    memory: int
    disk: int
    done: bool = False
    why: str = ""


@dataclass
class ModelPlan:
    spec: ModelSpec
    source: dict[str, Any] | None
    intermediate_bytes: int
    manifests: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class ReleasePlan:
    models: list[ModelPlan]
    nodes: list[Node]
    qtypes: list[str]
    output_dir: Path
    split_max_size: int | None
    gpu_tags: bool
    quantized_by: str

    def node(self, key: str) -> Node:
        return next(n for n in self.nodes if n.key == key)

    def todo(self) -> list[Node]:
        return [n for n in self.nodes if not n.done]

    def to_dict(self) -> dict[str, Any]:
        return {"output_dir": str(self.output_dir), "qtypes": self.qtypes, "split_max_size": self.split_max_size,
                "models": [{"stem": m.spec.stem, "source": m.spec.source, "dir": str(m.spec.model_dir),
                            "revision": (m.source or {}).get("revision")} for m in self.models],
                "tasks": [asdict(n) for n in self.nodes]}


def _local_source(source: Source, download: bool) -> LocalSource | None:
    """The checkpoint on disk: a directory, a cached download, or (when allowed) a new download."""
    from blossom_edge.inputs.hub import is_cached, resolve_source
    from blossom_edge.inputs.source import CheckpointDir, HubSource, LocalSource

    if isinstance(source, CheckpointDir) or download:
        return resolve_source(source)
    assert isinstance(source, HubSource)  # GGUF sources are refused before this
    if not is_cached(source.repo_id, source.revision):
        return None
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(source.repo_id, "config.json", revision=source.revision)
    return LocalSource(path=Path(str(found)).parent, repo_id=source.repo_id, revision=source.revision,
                       model=source.model)


def _shape(config: dict[str, Any]) -> ModelShape | None:
    """The dimensions memory estimates need, from the checkpoint's config.json; None when it lacks
    some (the estimate then goes by file size alone).

    The config was read once, by the bounded reader, when the source was resolved; each number
    passes the converter's bound, so none can be zero (a division) or 1e999 (int() of it).
    """
    from blossom_edge.base.bounded_read import json_int
    from blossom_edge.convert.arch import MAX_CONFIG_INT
    from blossom_edge.model.shape import ModelShape

    n = {key: json_int(config.get(key), low=1, high=MAX_CONFIG_INT) for key in (
        "num_attention_heads", "num_hidden_layers", "hidden_size", "vocab_size", "num_key_value_heads", "head_dim",
        "intermediate_size")}
    heads, layers, hidden, vocab = n["num_attention_heads"], n["num_hidden_layers"], n["hidden_size"], n["vocab_size"]
    if heads is None or layers is None or hidden is None or vocab is None:
        return None
    return ModelShape(n_layer=layers, n_embd=hidden, n_head_kv=n["num_key_value_heads"] or heads,
                      head_dim=n["head_dim"] or hidden // heads, n_vocab=vocab, n_ff=n["intermediate_size"] or 0)


def _run_bytes(shape: ModelShape | None, weights: int, n_ctx: int) -> int:
    """What loading and running a file of `weights` bytes takes (memory.estimate), in a Ray worker."""
    from blossom_edge.model.memory import estimate

    if shape is None:
        return weights + WORKER_BYTES
    return estimate(shape.with_weights(weights), n_ctx).total + WORKER_BYTES


def _quality_bytes(shape: ModelShape | None, weights: int) -> int:
    """A llama-perplexity-style pass: the model with a full batch of chunks in its context, and the
    logits of their second halves (half the batch's rows, float32)."""
    from blossom_edge.quantize.quality_pass import BATCH

    return _run_bytes(shape, weights, BATCH) + (4 * (BATCH // 2) * shape.n_vocab if shape else 0)


def _largest_tensor_f32(shape: ModelShape | None, weights: int) -> int:
    """The quantizer's working buffers: about two float32 copies of the largest tensor (the embedding)."""
    return 2 * 4 * shape.n_vocab * shape.n_embd if shape else weights // 4


def plan_release(sources: list[str], qtypes: list[str], output_dir: Path, *, split_max_size: int | None = None,
                 gpu_tags: bool = False, quantized_by: str = "blossom-edge", node_cpus: int | None = None,
                 download: bool = True) -> ReleasePlan:
    """The graph for `sources` × `qtypes`, with what already matches on disk marked done.

    `download=False` (the dry run) plans a hub model that is not cached from the catalog alone.
    """
    from blossom_edge.convert.metadata import output_stem
    from blossom_edge.inputs.source import GgufSource, classify
    from blossom_edge.model.naming import gguf_name
    from blossom_edge.quantize.manifest import tool_versions
    from blossom_edge.quantize.pipeline import checkpoint_bytes, source_revision
    from blossom_edge.quantize.types import parse_qtype

    if not sources:
        raise UsageError("give at least one SRC")
    types = list(dict.fromkeys(parse_qtype(q).name for q in qtypes))
    if not types:
        raise UsageError("give the quant types with --quants, like --quants q4_k_m,q8_0")
    cpus = max(1, node_cpus or os.cpu_count() or 1)
    tools = tool_versions()
    output_dir = Path(output_dir).expanduser()
    models: list[ModelPlan] = []
    nodes: list[Node] = []

    def add(key: str, kind: str, stem: str, qtype: str | None, deps: list[str], memory: int, disk: int = 0,
            done: bool = False, why: str = "") -> Node:
        node = Node(key, kind, stem, qtype, deps, task_cpus(kind, cpus, len(types)), memory, disk, done, why)
        nodes.append(node)
        return node

    for src in sources:
        source = classify(src)
        if isinstance(source, GgufSource):
            raise UsageError(f"{src} is a GGUF file; a release starts from the checkpoint (alias, repo id or "
                             "directory), converts it once and makes every type from its 16-bit intermediate")
        local = _local_source(source, download)
        model = local.model if local else source.model
        if local is None and model is None:
            raise UsageError(f"{src} is not cached and not in the catalog: a dry run cannot plan it without "
                             "downloading")
        stem = output_stem(local) if local else model.name
        if any(m.spec.stem == stem for m in models):
            raise UsageError(f"{src} is given twice (both are {stem})")
        model_dir = output_dir / stem
        if local is not None:
            weights, per_param = checkpoint_bytes(local)
            params = weights // per_param
            revision = source_revision(local)
            record = {"repo_id": local.repo_id, "revision": revision,
                      "path": None if local.repo_id else str(local.path.resolve())}
            pinned = f"{local.repo_id}@{revision}" if local.repo_id and revision else src
            shape = _shape(local.config)
        else:
            params, record, pinned, shape = int(model.params_b * 1e9), None, src, model.shape
        spec = ModelSpec(pinned, stem, model_dir, model.alias if model else None, types[0])
        plan = ModelPlan(spec, record, params * 2)
        models.append(plan)
        inter = params * 2
        model_nodes: list[Node] = []
        convert = Node(f"{stem}/convert", "convert", stem, None, [], task_cpus("convert", cpus, len(types)),
                       CONVERT_BYTES + WORKER_BYTES, inter)
        imatrix_key = f"{stem}/imatrix"
        # The 16-bit file's log-probabilities on the evaluation text, computed once for every type's quality.
        reference_key = f"{stem}/reference"
        needs_imatrix = False
        for name in types:
            qt = parse_qtype(name)
            final = model_dir / gguf_name(stem, qt.name)
            out_bytes = int(params * qt.bpw / 8)
            manifest = resume.matching_manifest(final, qt.name, record, tools) if record else None
            base = f"{stem}/{qt.name}"
            if manifest is not None:
                plan.manifests[qt.name] = manifest
                out_bytes = manifest["bytes"]
                why = "manifest matches (source revision, tools, type, sha256)"
                model_nodes += [add(f"{base}/quantize", "quantize", stem, qt.name, [], 0, done=True, why=why),
                                add(f"{base}/verify", "verify", stem, qt.name, [], 0, done=True, why=why)]
            else:
                needs_imatrix |= qt.needs_imatrix
                deps = [convert.key] + ([imatrix_key] if qt.needs_imatrix else [])
                model_nodes += [
                    add(f"{base}/quantize", "quantize", stem, qt.name, deps,
                        WORKER_BYTES + _largest_tensor_f32(shape, inter), out_bytes),
                    add(f"{base}/verify", "verify", stem, qt.name, [f"{base}/quantize"],
                        _run_bytes(shape, out_bytes, 128))]
            verify_deps = [] if manifest else [f"{base}/verify"]
            quality = resume.matching_quality(model_dir, final, manifest["sha256"]) if manifest else None
            model_nodes.append(add(f"{base}/quality", "quality", stem, qt.name,
                                   [convert.key, reference_key, *verify_deps], _quality_bytes(shape, out_bytes),
                                   done=quality is not None, why="measured on this file" if quality else ""))
            if split_max_size:
                split_done = manifest is not None and (
                    resume.matching_split(model_dir, final, manifest["sha256"], split_max_size) is not None
                    if manifest["bytes"] > split_max_size
                    else not resume.split_path(model_dir, final).exists())
                model_nodes.append(add(f"{base}/split", "split", stem, qt.name, verify_deps,
                                       WORKER_BYTES + _largest_tensor_f32(shape, inter), out_bytes,
                                       done=split_done, why="shards match" if split_done else ""))
        qualities = [n for n in model_nodes if n.kind == "quality"]
        measured = all(n.done for n in qualities)
        reference = Node(reference_key, "reference", stem, None, [convert.key], min(TASK_CPUS["reference"], cpus),
                         _quality_bytes(shape, inter), 0, measured, "every type is measured" if measured else "")
        nodes.insert(nodes.index(qualities[0]), reference)
        model_nodes.insert(model_nodes.index(qualities[0]), reference)
        if needs_imatrix:
            model_nodes.insert(0, Node(imatrix_key, "imatrix", stem, None, [convert.key],
                                       task_cpus("imatrix", cpus, len(types)), _run_bytes(shape, inter, 2048), 0))
            nodes.insert(nodes.index(model_nodes[1]), model_nodes[0])
        convert.done = not any(convert.key in n.deps and not n.done for n in model_nodes)
        convert.why = "nothing needs the 16-bit file" if convert.done else ""
        nodes.insert(nodes.index(model_nodes[0]), convert)
        pending = [n.key for n in model_nodes if not n.done]
        card_done = not pending and (model_dir / "README.md").is_file()
        add(f"{stem}/card", "card", stem, None, pending, WORKER_BYTES, done=card_done,
            why="every file is done" if card_done else "")
    return ReleasePlan(models, nodes, types, output_dir, split_max_size, gpu_tags, quantized_by)
