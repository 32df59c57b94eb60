"""Shards for the Hub, which refuses files over 50 GB, in llama.cpp's split layout.

gguf-py's GGUFWriter writes llama.cpp's split naming (`NAME-00001-of-00003.gguf`) and the
`split.no`/`split.count`/`split.tensors.count` keys, so llama.cpp loads the set from its first
shard. The unsplit file stays beside the shards: Ollama cannot pull a split GGUF.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from blossom_edge.base import sizes
from blossom_edge.base.errors import UsageError


def parse_size(text: str) -> int:
    """`--split-max-size SIZE` in bytes: `50G` is 50 000 000 000, in powers of 1000 as llama.cpp's
    gguf-split and the Hub's file limit count."""
    return sizes.parse_size(text, option="--split-max-size", example="50G", binary=False)


@dataclass(frozen=True)
class Shard:
    path: Path
    bytes: int


def shard_names(final: Path, count: int) -> list[Path]:
    """llama.cpp's names for `count` shards of `final`."""
    from gguf.gguf_writer import SHARD_NAME_FORMAT

    return [final.with_name(SHARD_NAME_FORMAT.format(final.stem, i + 1, count)) for i in range(count)]


def split_gguf(final: Path, max_size: int, work_dir: Path) -> list[Shard]:
    """Write `final` as shards of at most `max_size` bytes of tensor data each, beside it.

    The shards are written under `work_dir` and renamed into place only when all are complete,
    the first shard last, so a set that can be loaded (from its first shard) is always whole.
    """
    import gguf

    reader = gguf.GGUFReader(final)
    stage = work_dir / f"{final.stem}.split.partial"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    try:
        writer = gguf.GGUFWriter(stage / final.name, reader.fields[gguf.Keys.General.ARCHITECTURE].contents(),
                                 split_max_size=max_size)
        for field in reader.fields.values():
            if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith(("GGUF.", "split.")):
                continue
            if field.name == gguf.Keys.General.ALIGNMENT:
                writer.add_custom_alignment(int(field.contents()))
                continue
            kind = field.types[0]
            sub = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
            writer.add_key_value(field.name, field.contents(), kind, sub_type=sub)
        for tensor in reader.tensors:
            writer.add_tensor_info(tensor.name, tensor.data.shape, tensor.data.dtype, tensor.data.nbytes,
                                   tensor.tensor_type)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for tensor in reader.tensors:
            writer.write_tensor_data(tensor.data, tensor_endianess=reader.endianess)
        writer.close()
        written = sorted(p for p in stage.iterdir() if p.suffix == ".gguf")
        if len(written) < 2:
            raise UsageError(f"{final.name} cannot be split at {max_size} bytes: its tensors do not divide")
        for path in written:
            _fsync(path)
        targets = shard_names(final, len(written))
        for path, target in reversed(list(zip(written, targets))):
            os.replace(path, target)
        return [Shard(t, t.stat().st_size) for t in targets]
    finally:
        del reader
        shutil.rmtree(stage, ignore_errors=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def stale_shards(final: Path) -> list[Path]:
    """Shards of `final` from an earlier run (another split size, or the file no longer split)."""
    return sorted(final.parent.glob(f"{final.stem}-[0-9][0-9][0-9][0-9][0-9]-of-[0-9][0-9][0-9][0-9][0-9].gguf"))
