"""Validated safetensors headers, read with the standard library and numpy alone (no torch).

A `TensorRef` says where a tensor's bytes are (shard, offset, length, dtype, shape); the
converter reads or copies them from there itself, chunk by chunk (`convert/stream.py`), so
nothing here holds tensor data. Every header is checked before anything is converted, so a
damaged download fails in one line naming the file, not halfway through writing a GGUF.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from blossom_edge.base.bounded_read import parse_json, read_json
from blossom_edge.base.errors import CorruptFileError, NotFoundError, UnsupportedError, excerpt
from blossom_edge.inputs.source import CheckpointFiles

INDEX_NAME = "model.safetensors.index.json"
SINGLE_NAME = "model.safetensors"
# The 8-byte header length is followed by JSON; real headers are kilobytes (a hundred-odd
# bytes per tensor, a few thousand tensors per shard), so anything past these is a damaged or
# hostile file. The byte cap is checked before json.loads, which turns the worst 16 MiB of
# JSON into about 200 MB of objects in about a second. config.json and the shard index are read
# under bounded_read's cap for any JSON file.
MAX_HEADER_BYTES = 16 * 1024 * 1024
MAX_TENSORS = 1 << 16
MAX_RANK = 8
MAX_INDEX_ENTRIES = 1 << 20

DTYPE_SIZES = {"BF16": 2, "F16": 2, "F32": 4}
# bf16 has no numpy dtype; it is carried as its raw 16-bit pattern.
NUMPY_DTYPES = {"BF16": np.dtype("<u2"), "F16": np.dtype("<f2"), "F32": np.dtype("<f4")}
# The rest of safetensors' dtypes: well formed, but not what a checkpoint for us is made of.
OTHER_DTYPES = frozenset({"BOOL", "U8", "I8", "I16", "U16", "I32", "U32", "I64", "U64", "F64", "C64",
                          "F8_E4M3", "F8_E5M2", "F8_E8M0", "E8M0", "F4", "F6_E2M3", "F6_E3M2"})


@dataclass(frozen=True)
class TensorRef:
    """Where one tensor's bytes live: shard, absolute offset and length, dtype and shape."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    shard: Shard = field(compare=False, repr=False)
    offset: int = 0
    nbytes: int = 0

    @property
    def n_elements(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1


class Shard:
    """One safetensors file: its parsed, validated header."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tensors: dict[str, TensorRef] = {}
        self.metadata: dict[str, str] = {}
        self._parse()

    def _parse(self) -> None:
        size = self.path.stat().st_size
        name = self.path.name
        if size < 8:
            raise CorruptFileError(f"{name}: truncated safetensors file ({size} bytes, no header)")
        with self.path.open("rb") as fh:
            (header_len,) = struct.unpack("<Q", fh.read(8))
            if 8 + header_len > size:
                raise CorruptFileError(
                    f"{name}: header length {header_len} points past the end of the file ({size} bytes); "
                    "the file is truncated or not safetensors"
                )
            if header_len > MAX_HEADER_BYTES:
                raise CorruptFileError(f"{name}: header of {header_len} bytes, more than the {MAX_HEADER_BYTES} "
                                       "a safetensors checkpoint needs")
            raw_header = fh.read(header_len)
        header = parse_json(raw_header, f"{name}: malformed safetensors header JSON", unique_keys=True)
        if not isinstance(header, dict):
            raise CorruptFileError(f"{name}: malformed safetensors header JSON (not an object)")
        self.metadata = _metadata(name, header.pop("__metadata__", None))
        if len(header) > MAX_TENSORS:
            raise CorruptFileError(f"{name}: header lists {len(header)} tensors, more than the limit of {MAX_TENSORS}")
        data_start = 8 + header_len
        for tensor_name, info in header.items():
            if _utf8_length(tensor_name) is None:
                raise CorruptFileError(f"{name}: tensor name {excerpt(tensor_name)} is not valid Unicode")
            self.tensors[tensor_name] = self._tensor(tensor_name, info, data_start, size)
        _check_disjoint(name, self.tensors.values())

    def _tensor(self, tensor_name: str, info: object, data_start: int, size: int) -> TensorRef:
        name, quoted = self.path.name, excerpt(tensor_name)
        dtype, shape, (begin, end) = _entry(name, quoted, info)
        if dtype in OTHER_DTYPES:
            raise UnsupportedError(
                f"{name}: tensor {quoted} has dtype {dtype}; only BF16, F16 and F32 checkpoints are supported"
            )
        if dtype not in DTYPE_SIZES:
            raise CorruptFileError(f"{name}: tensor {quoted} has dtype {excerpt(dtype)}, which is not a safetensors dtype")
        if end < begin:
            raise CorruptFileError(f"{name}: tensor {quoted} data_offsets [{begin}, {end}) are reversed")
        if data_start + end > size:
            raise CorruptFileError(
                f"{name}: tensor {quoted} data [{begin}, {end}) lies outside the file; the file is truncated"
            )
        expected = _element_count(shape, size) * DTYPE_SIZES[dtype]
        if end - begin != expected:
            raise CorruptFileError(
                f"{name}: tensor {quoted} has {end - begin} bytes but shape {excerpt(list(shape))} × {dtype} "
                f"needs {expected if expected <= size else 'more than the file holds'}"
            )
        return TensorRef(tensor_name, dtype, shape, self, data_start + begin, end - begin)


class Checkpoint:
    """A Hugging Face checkpoint directory: config.json plus one or more safetensors shards."""

    def __init__(self, directory: Path, config: dict, shards: list[Shard]) -> None:
        self.directory = directory
        self.config = config
        self.shards = shards

    @classmethod
    def open(cls, directory: Path | str, files: CheckpointFiles | None = None) -> Checkpoint:
        """Open and validate every header; refuse what we cannot or must not read.

        `files` are the checkpoint's JSON files as the run already read them (`LocalSource.files`).
        """
        directory = Path(directory)
        if not directory.is_dir():
            raise NotFoundError(f"no such checkpoint directory: {directory}")
        if not (directory / "config.json").exists():
            raise NotFoundError(f"{directory} has no config.json; is it a Hugging Face checkpoint?")
        config = (files or CheckpointFiles.read(directory)).config
        if isinstance(config.get("text_config"), dict):
            # A multimodal checkpoint (Qwen3.5): its language model's numbers are nested, and
            # llama.cpp's converter reads them with the top level, text_config winning.
            config = {**config, **config["text_config"]}
        return cls(directory, config, _open_shards(directory))

    def tensors(self) -> Iterator[TensorRef]:
        """Every tensor, shard by shard in file order, so reading is sequential on disk."""
        for shard in self.shards:
            yield from sorted(shard.tensors.values(), key=lambda t: t.offset)


def _open_shards(directory: Path) -> list[Shard]:
    weight_map = _weight_map(directory / INDEX_NAME)
    if weight_map is not None:
        shards: list[Shard] = []
        for file_name in sorted(set(weight_map.values())):
            shard_path = directory / file_name
            if not shard_path.is_file():
                raise NotFoundError(f"shard {file_name} listed in {INDEX_NAME} is missing from {directory}")
            shards.append(Shard(shard_path))
        present = {name: shard.path.name for shard in shards for name in shard.tensors}
        for tensor_name, file_name in weight_map.items():
            if present.get(tensor_name) != file_name:
                raise CorruptFileError(
                    f"tensor {excerpt(tensor_name)} is listed in {INDEX_NAME} under {file_name} "
                    "but is not in that shard"
                )
        return shards
    single = directory / SINGLE_NAME
    if single.is_file():
        return [Shard(single)]
    others = sorted(directory.glob("*.safetensors"))
    if others:
        return [Shard(p) for p in others]
    if any(directory.glob("*.bin")) or any(directory.glob("*.pt")) or any(directory.glob("*.pth")):
        raise UnsupportedError(
            f"{directory} has only PyTorch pickle weights (*.bin); loading them would run arbitrary code. "
            "Use the repository's safetensors files, or convert once on a trusted machine with "
            "transformers: AutoModelForCausalLM.from_pretrained(dir).save_pretrained(out, safe_serialization=True)"
        )
    raise NotFoundError(f"{directory} has no *.safetensors weights")


def _is_uint(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _utf8_length(text: str) -> int | None:
    """Bytes of `text` in UTF-8, or None: JSON escapes can spell lone surrogates, which no file
    name or GGUF tensor name can hold."""
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        return None


def _metadata(name: str, value: object) -> dict[str, str]:
    """`__metadata__` is a flat object of strings in the safetensors format, or absent."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise CorruptFileError(f"{name}: __metadata__ must be an object of strings, found {excerpt(value)}")
    return value


def _entry(name: str, quoted: str, info: object) -> tuple[str, tuple[int, ...], tuple[int, int]]:
    """dtype, shape and data_offsets of one header entry, each of the type the format requires."""
    if not isinstance(info, dict):
        raise CorruptFileError(f"{name}: malformed header entry for tensor {quoted} (not an object)")
    dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if not isinstance(dtype, str):
        raise CorruptFileError(f"{name}: malformed header entry for tensor {quoted}: dtype {excerpt(dtype)}")
    if not isinstance(shape, list) or len(shape) > MAX_RANK or not all(_is_uint(d) for d in shape):
        raise CorruptFileError(f"{name}: malformed header entry for tensor {quoted}: shape {excerpt(shape)} "
                               f"is not a list of at most {MAX_RANK} non-negative integers")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_uint(x) for x in offsets):
        raise CorruptFileError(f"{name}: malformed header entry for tensor {quoted}: data_offsets "
                               f"{excerpt(offsets)} is not two non-negative integers")
    return dtype, tuple(shape), (offsets[0], offsets[1])


def _element_count(shape: tuple[int, ...], limit: int) -> int:
    """The product of `shape`, or `limit + 1` once its non-zero dimensions multiply past `limit`:
    no tensor, not even an empty one, has more elements along its other axes than its file has
    bytes, and a hostile shape cannot make this a thousand-digit integer."""
    count = 1
    for dim in shape:
        if dim:
            count *= dim
            if count > limit:
                return limit + 1
    return 0 if 0 in shape else count


def _check_disjoint(name: str, tensors: Iterable[TensorRef]) -> None:
    """Two tensors sharing bytes is a damaged or crafted header, never something a writer produces."""
    end, previous = 0, ""
    for ref in sorted(tensors, key=lambda t: (t.offset, t.nbytes)):
        if ref.offset < end:
            raise CorruptFileError(f"{name}: tensors {excerpt(previous)} and {excerpt(ref.name)} overlap")
        end, previous = ref.offset + ref.nbytes, ref.name


def _shard_name(file_name: object) -> str:
    """A shard named in the index: a plain file name in the checkpoint directory, nothing that escapes it."""
    if (not isinstance(file_name, str) or file_name in (".", "..") or not 0 < (_utf8_length(file_name) or 0) <= 255
            or "/" in file_name or "\\" in file_name or "\0" in file_name):
        raise CorruptFileError(f"{INDEX_NAME}: shard name {excerpt(file_name)} is not a file name "
                               "in the checkpoint directory")
    return file_name


def _weight_map(index_path: Path) -> dict[str, str] | None:
    """The index's tensor → shard map, every entry checked before any shard is opened; None without an index.

    Anything at the index's name that is not a regular file is refused, not taken for no index: the
    shards alone would then be read without the map that says which tensors they must hold.
    """
    try:
        index = read_json(index_path, what="a safetensors index", unique_keys=True)
    except FileNotFoundError:
        return None
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise CorruptFileError(f"{index_path.name}: malformed index (no weight_map object with entries)")
    if len(weight_map) > MAX_INDEX_ENTRIES:
        raise CorruptFileError(f"{index_path.name}: {len(weight_map)} entries, more than the limit of "
                               f"{MAX_INDEX_ENTRIES}")
    return {tensor_name: _shard_name(file_name) for tensor_name, file_name in weight_map.items()}


def bf16_to_f32(raw: np.ndarray) -> np.ndarray:
    """Widen raw bf16 bit patterns to float32 exactly (bf16 is the top half of an f32)."""
    return (raw.astype(np.uint32) << 16).view(np.float32)


# bf16 values whose exponent lies in float16's normal range (2^-14 … 2^15) convert exactly:
# bf16's 7 mantissa bits fit in float16's 10, so the cast is a re-bias of the exponent and a
# shift. Only the rest (subnormal in f16, overflow, inf/nan: a fraction of a percent of real
# weights) needs rounding, and goes through the same float32 → float16 cast llama.cpp's
# converter uses, so the bytes are identical to it.
_F16_MIN_NORMAL_BF16 = 0x3880  # 2^-14
_F16_OVERFLOW_BF16 = 0x4780  # 2^16, past float16's largest finite value


def bf16_to_f16(raw: np.ndarray) -> np.ndarray:
    """bf16 bit patterns → float16, five times faster than widening to float32 first."""
    magnitude = raw & np.uint16(0x7FFF)
    out = magnitude - np.uint16(0x3800)
    out <<= 3
    out |= raw & np.uint16(0x8000)
    rounded = np.flatnonzero((magnitude < _F16_MIN_NORMAL_BF16) | (magnitude >= _F16_OVERFLOW_BF16))
    if rounded.size:
        flat = out.reshape(-1)
        # Overflow to ±inf and NaNs are the cast's answers, not news for the user: arm64's cast
        # instruction raises "invalid" on signaling NaNs (and quiets them, as the reference's same
        # cast does there), x86's software cast keeps their payload without a flag.
        with np.errstate(over="ignore", invalid="ignore"):
            flat[rounded] = bf16_to_f32(raw.reshape(-1)[rounded]).astype(np.float16).view(np.uint16)
    return out.view(np.float16)


def to_f32(raw: np.ndarray, dtype: str) -> np.ndarray:
    """Stored values as float32, the common ground every output type is computed from."""
    if dtype == "BF16":
        return bf16_to_f32(raw)
    return raw.astype(np.float32, copy=False)

