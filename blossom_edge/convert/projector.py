"""A multimodal checkpoint's vision tower → the `mmproj-*.gguf` projector llama.cpp's libmtmd loads.

    if has_vision_tower(checkpoint_dir):
        convert_projector(checkpoint_dir, Path("mmproj-blossom-v7-9b-F16.gguf"), out_type="f16")

What `convert_hf_to_gguf.py --mmproj` writes for Qwen3.5 dense and MoE (its
`Qwen3VLVisionModel` on `MmprojModel`), byte for byte: the `clip` architecture, the vision
hyperparameters from config.json's vision_config and the image normalisation from
preprocessor_config.json, then every `model.visual.*` tensor in checkpoint order under
its GGUF name. Only the vision tower is read. The 3-D patch convolution (two frames)
becomes two 2-D kernels, `v.patch_embd.weight` and `v.patch_embd.weight.1`, each a run of
stored rows (`experts.Piece`), so like every other tensor it streams through
`convert/stream.py` chunk by chunk and memory stays flat whatever the tower's size.

Types as the reference decides them: 1-D tensors, norms, biases and the position
embedding stay F32; the patch kernels are F16 in an f16 file and F32 in every other; the
rest take the output type, q8_0 falling back to F16 for a row that is not whole blocks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blossom_edge.base.atomic import refuse_overwriting
from blossom_edge.base.bounded_read import read_json_object
from blossom_edge.base.errors import CorruptFileError, UnsupportedError, excerpt
from blossom_edge.base.progress import NO_PROGRESS, Progress
from blossom_edge.convert.arch import Architecture
from blossom_edge.convert.plan import (
    IGNORED_SUFFIXES,
    Plan,
    PlannedTensor,
    llama_file_type,
    resolve_outtype,
    tensor_nbytes,
)
from blossom_edge.convert.transforms import Transform, row_pieces
from blossom_edge.inputs.checkpoint import Checkpoint, TensorRef

if TYPE_CHECKING:
    import gguf

    from blossom_edge.inputs.source import LocalSource

# The checkpoint classes whose vision tower llama.cpp's Qwen3VLVisionModel converts and we do.
PROJECTOR_ARCHITECTURES = ("Qwen3_5ForConditionalGeneration", "Qwen3_5MoeForConditionalGeneration")
# Where the tower's tensors live in the checkpoint (the reference reads both spellings as `visual.`).
VISION_PREFIXES = ("model.visual.", "visual.")
PROJECTOR_PREFIX = "mmproj-"
# The `clip` architecture as gguf-py names it: what every projector file declares.
CLIP = Architecture(hf_names=PROJECTOR_ARCHITECTURES, gguf_arch="MMPROJ")
# The reference's patch convolution covers two video frames; an image repeats the frame.
TEMPORAL_PATCH = 2
DEFAULT_POSITIONS, DEFAULT_PATCH = 2304, 16
DEFAULT_TEXT_EPS = 1e-6


def projector_file_name(model_file_name: str) -> str:
    """`mmproj-<name>.gguf` for `<name>.gguf`: the prefix llama.cpp's `--mmproj` gives its file."""
    return f"{PROJECTOR_PREFIX}{model_file_name.removesuffix('.gguf')}.gguf"


def checkpoint_has_vision_tower(checkpoint: Checkpoint) -> bool:
    """`has_vision_tower` for a checkpoint already open."""
    names = checkpoint.config.get("architectures")
    if not isinstance(names, list) or not any(name in PROJECTOR_ARCHITECTURES for name in names):
        return False
    if not isinstance(checkpoint.config.get("vision_config"), dict):
        return False
    return any(ref.name.startswith(VISION_PREFIXES) for ref in checkpoint.tensors())


def has_vision_tower(source_dir: Path) -> bool:
    """Whether the checkpoint is one we write a projector for: its class, a vision_config and the tower's tensors.

    A multimodal checkpoint re-saved without its `model.visual.*` tensors has nothing to convert.
    Reads config.json and the safetensors headers only.
    """
    config = read_json_object(Path(source_dir) / "config.json", required=True)
    names = config.get("architectures")
    if not isinstance(names, list) or not any(name in PROJECTOR_ARCHITECTURES for name in names):
        return False
    return checkpoint_has_vision_tower(Checkpoint.open(source_dir))


@dataclass(frozen=True)
class VisionParams:
    """The numbers the projector's keys hold, read the way the reference reads them."""

    projection_dim: int
    image_size: int
    patch_size: int
    embedding_length: int
    feed_forward_length: int
    block_count: int
    head_count: int
    image_mean: list[float]
    image_std: list[float]
    spatial_merge_size: int | None
    layer_norm_eps: float
    deepstack: list[bool]


def _int(vision: dict, key: str, where: str = "config.json vision_config") -> int:
    value = vision.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 1 << 31:
        raise CorruptFileError(f"{where}: {key} must be a whole number from 1 to {1 << 31}, not {excerpt(value)}")
    return value


def _floats(config: dict, key: str, where: str) -> list[float]:
    value = config.get(key)
    if value is None:
        raise CorruptFileError(f"{where} (or processor_config.json) has no {key}: the projector needs the image "
                               "normalisation the checkpoint's processor uses")
    if not (isinstance(value, list) and value
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        raise CorruptFileError(f"{where}: {key} must be a list of numbers, not {excerpt(value)}")
    return [float(v) for v in value]


def _image_config(source_dir: Path) -> dict[str, Any]:
    """preprocessor_config.json, then processor_config.json's image_processor over it, as the reference merges them."""
    merged: dict[str, Any] = {}
    pre = read_json_object(source_dir / "preprocessor_config.json", required=False)
    if isinstance(pre.get("media_proc_cfg"), dict):
        pre = {**pre, **pre["media_proc_cfg"]}
    merged.update(pre)
    proc = read_json_object(source_dir / "processor_config.json", required=False)
    if isinstance(proc.get("image_processor"), dict):
        proc = {**proc, **proc["image_processor"]}
    merged.update(proc)
    return merged


def vision_params(checkpoint: Checkpoint) -> VisionParams:
    """The projector's hyperparameters, or one line naming the value that is missing or wrong."""
    config = checkpoint.config
    vision = config.get("vision_config")
    if not isinstance(vision, dict):
        raise UnsupportedError(f"{checkpoint.directory}: config.json has no vision_config; there is no vision tower")
    if "image_size" in vision:
        image_size = _int(vision, "image_size")
    else:
        # The reference derives it from the learned positions: (image_size / patch_size)² of them.
        defaults = {"num_position_embeddings": DEFAULT_POSITIONS, "patch_size": DEFAULT_PATCH, **vision}
        image_size = int(_int(defaults, "num_position_embeddings") ** 0.5 * _int(defaults, "patch_size"))
    depth = _int(vision, "depth")
    deepstack = [False] * depth
    indexes = vision.get("deepstack_visual_indexes") or []
    if not isinstance(indexes, list) or not all(isinstance(i, int) and 0 <= i < depth for i in indexes):
        raise CorruptFileError(f"config.json vision_config: deepstack_visual_indexes must be block numbers below "
                               f"{depth}, not {excerpt(indexes)}")
    for index in indexes:
        deepstack[index] = True
    merge = vision.get("spatial_merge_size")
    image = _image_config(checkpoint.directory)
    where = f"{checkpoint.directory / 'preprocessor_config.json'}"
    text = config.get("text_config") if isinstance(config.get("text_config"), dict) else {}
    eps = text.get("rms_norm_eps", DEFAULT_TEXT_EPS)
    if isinstance(eps, bool) or not isinstance(eps, (int, float)):
        raise CorruptFileError(f"config.json text_config: rms_norm_eps must be a number, not {excerpt(eps)}")
    return VisionParams(
        projection_dim=_int(config, "hidden_size", "config.json text_config"),
        image_size=image_size,
        patch_size=_int(vision, "patch_size"),
        embedding_length=_int(vision, "hidden_size"),
        feed_forward_length=_int(vision, "intermediate_size"),
        block_count=depth,
        head_count=_int(vision, "num_heads"),
        image_mean=_floats(image, "image_mean", where),
        image_std=_floats(image, "image_std", where),
        spatial_merge_size=None if merge is None else _int(vision, "spatial_merge_size"),
        layer_norm_eps=float(eps),
        deepstack=deepstack,
    )


def _qtype(name: str, shape: tuple[int, ...], outtype: str) -> gguf.GGMLQuantizationType:
    """The reference's type for one projector tensor (MmprojModel.tensor_force_quant, then prepare_tensors)."""
    import gguf

    Q = gguf.GGMLQuantizationType
    if ".patch_embd.weight" in name:
        return Q.F16 if outtype == "f16" else Q.F32
    position = gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.V_ENC_EMBD_POS] + ".weight"
    if len(shape) <= 1 or name.endswith("_norm.weight") or name == position or not name.endswith(".weight"):
        return Q.F32
    wanted = {"f32": Q.F32, "f16": Q.F16, "bf16": Q.BF16, "q8_0": Q.Q8_0}[outtype]
    if wanted == Q.Q8_0 and shape[-1] % gguf.GGML_QUANT_SIZES[Q.Q8_0][0] != 0:
        return Q.F16
    return wanted


def _patch_frames(ref: TensorRef) -> list[tuple[tuple[int, ...], tuple]]:
    """The 3-D patch kernel [out, in, frames, h, w] as one 2-D kernel per frame: (shape, row pieces) each.

    A row is the kernel's last axis, so frame t is the rows whose frame index is t: runs of h rows.
    """
    if len(ref.shape) != 5 or ref.shape[2] != TEMPORAL_PATCH:
        raise UnsupportedError(f"{ref.name} has shape {list(ref.shape)}; llama.cpp converts only a patch "
                               f"convolution over {TEMPORAL_PATCH} frames ([out, in, {TEMPORAL_PATCH}, h, w])")
    c_out, c_in, frames, height, _ = ref.shape
    frames_out = []
    for t in range(frames):
        rows = [(k * frames + t) * height + h for k in range(c_out * c_in) for h in range(height)]
        frames_out.append(((c_out, c_in, height, ref.shape[4]), row_pieces(ref, rows)))
    return frames_out


def _gguf_names(ref: TensorRef, name_map: gguf.TensorNameMap) -> list[tuple[str, tuple[int, ...] | None, tuple]]:
    """One checkpoint tensor's projector tensors: (GGUF name, new shape or None, row pieces or ())."""
    import gguf

    name = "visual." + ref.name.split("visual.", 1)[1]
    patch = gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.V_ENC_EMBD_PATCH]
    if name.startswith("visual.deepstack_merger_list."):
        raise UnsupportedError(f"{ref.name}: deepstack mergers (Qwen3-VL) are not part of a Qwen3.5 vision tower")
    if name.startswith("visual.merger."):
        part, _, tail = name.split(".", 2)[2].partition(".")
        if part in ("linear_fc1", "linear_fc2"):
            index = 0 if part == "linear_fc1" else 2
            return [(gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.V_MMPROJ].format(bid=index) + f".{tail}", None, ())]
        if part == "norm":
            return [(gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.V_POST_NORM] + f".{tail}", None, ())]
        raise UnsupportedError(f"{ref.name}: a merger tensor llama.cpp's converter does not know")
    if name == "visual.patch_embed.proj.weight":
        (shape0, pieces0), (shape1, pieces1) = _patch_frames(ref)
        return [(f"{patch}.weight", shape0, pieces0), (f"{patch}.weight.1", shape1, pieces1)]
    if name == "visual.patch_embed.proj.bias":
        return [(f"{patch}.bias", None, ())]
    mapped = name_map.get_name(name, try_suffixes=(".weight", ".bias"))
    if mapped is None:
        raise UnsupportedError(f"vision tensor {ref.name} has no GGUF equivalent in llama.cpp's projector")
    return [(mapped, None, ())]


def build_projector_plan(checkpoint: Checkpoint, outtype: str, params: VisionParams) -> Plan:
    """Every `model.visual.*` tensor's projector tensors, names and types, in checkpoint order."""
    import gguf

    outtype = resolve_outtype(outtype, checkpoint)
    name_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH.MMPROJ, params.block_count)
    planned: list[PlannedTensor] = []
    seen: set[str] = set()
    for ref in checkpoint.tensors():
        if not ref.name.startswith(VISION_PREFIXES) or ref.name.endswith(IGNORED_SUFFIXES):
            continue
        for name, shape, pieces in _gguf_names(ref, name_map):
            if name in seen:
                raise UnsupportedError(f"two checkpoint tensors map to {name}; the checkpoint is inconsistent")
            seen.add(name)
            out_shape = shape or ref.shape
            qtype = _qtype(name, out_shape, outtype)
            transform = Transform(shape=shape) if shape is not None else None
            planned.append(PlannedTensor(ref, name, qtype, tensor_nbytes(out_shape, qtype), None, pieces, transform))
    if not planned:
        raise UnsupportedError(f"{checkpoint.directory} has no vision tower tensors (model.visual.*) to convert")
    return Plan(CLIP, outtype, int(llama_file_type(outtype)), planned, checkpoint.config)


def n_params(plan: Plan) -> int:
    """The elements of every projector tensor, as gguf-py counts them for the size label."""
    total = 0
    for t in plan.tensors:
        n = 1
        for d in t.shape:
            n *= d
        total += n
    return total


@dataclass
class ProjectorConversion:
    """A validated projector conversion: every file read but the tensor data, nothing written yet."""

    checkpoint: Checkpoint
    plan: Plan
    params: VisionParams
    metadata: gguf.Metadata
    output: Path

    def fill_keys(self, writer: gguf.GGUFWriter) -> None:
        """Every key/value, in the order llama.cpp's converter writes a Qwen3.5 projector's."""
        import gguf

        p = self.params
        writer.add_type(gguf.GGUFType.MMPROJ)
        self.metadata.set_gguf_meta_model(writer)
        writer.add_file_type(self.plan.file_type)
        writer.add_clip_has_vision_encoder(True)
        writer.add_vision_projection_dim(p.projection_dim)
        writer.add_vision_image_size(p.image_size)
        writer.add_vision_patch_size(p.patch_size)
        writer.add_vision_embedding_length(p.embedding_length)
        writer.add_vision_feed_forward_length(p.feed_forward_length)
        writer.add_vision_block_count(p.block_count)
        writer.add_vision_head_count(p.head_count)
        writer.add_vision_image_mean(p.image_mean)
        writer.add_vision_image_std(p.image_std)
        writer.add_clip_projector_type(gguf.VisionProjectorType.QWEN3VL)
        writer.add_vision_use_gelu(True)
        if p.spatial_merge_size is not None:
            writer.add_vision_spatial_merge_size(p.spatial_merge_size)
        writer.add_vision_attention_layernorm_eps(p.layer_norm_eps)
        if p.deepstack:
            writer.add_vision_is_deepstack_layers(p.deepstack)
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)

    def write(self, progress: Progress = NO_PROGRESS) -> ProjectorResult:
        from blossom_edge.convert.writer import write_with_progress

        start = time.perf_counter()
        write_with_progress(self.output, self.plan, self.fill_keys, progress)
        return ProjectorResult(self.output, self.plan.outtype, len(self.plan.tensors), self.output.stat().st_size,
                               time.perf_counter() - start)


@dataclass(frozen=True)
class ProjectorResult:
    path: Path
    outtype: str
    tensor_count: int
    bytes_written: int
    seconds: float


def plan_projector(source: LocalSource | Path, out: Path, out_type: str = "f16", *,
                   checkpoint: Checkpoint | None = None) -> ProjectorConversion:
    """Open and check the vision tower and its configs before anything is written (and for `--dry-run`).

    `checkpoint` is the source's, when the caller (the text conversion) has it open already.
    """
    from blossom_edge.convert.metadata import model_metadata
    from blossom_edge.inputs.source import LocalSource

    source = source if isinstance(source, LocalSource) else LocalSource(path=Path(source))
    checkpoint = checkpoint or Checkpoint.open(source.path, source.files)
    names = checkpoint.config.get("architectures") or []
    if not any(name in PROJECTOR_ARCHITECTURES for name in names):
        shown = ", ".join(names) if names else "none declared in config.json"
        raise UnsupportedError(f"no projector for this architecture ({shown}); supported: "
                               f"{', '.join(PROJECTOR_ARCHITECTURES)}")
    params = vision_params(checkpoint)
    plan = build_projector_plan(checkpoint, out_type, params)
    metadata = model_metadata(checkpoint.directory, n_params(plan), source)
    refuse_overwriting(out, [p for p in source.path.iterdir() if p.is_file()])
    return ProjectorConversion(checkpoint, plan, params, metadata, out)


def convert_projector(source_dir: Path, out: Path, *, out_type: str = "f16", progress: Progress = NO_PROGRESS,
                      source: LocalSource | None = None) -> Path:
    """Write the checkpoint's vision projector to `out` (atomically) and return its path.

    `source` says where the checkpoint came from (catalog name, repository) for the general.*
    keys, as for the text GGUF; without it the directory alone names the model.
    """
    return plan_projector(source or Path(source_dir), out, out_type).write(progress).path
