"""The vision projector a multimodal model's quantized file needs beside it, made or carried along.

Ollama and llama.cpp need the projector next to the text model to see images, so `quantize`
leaves one beside every output of a multimodal model: converted from the checkpoint's vision
tower (f16 unless asked, since a projector is small beside its model and quantizing it costs
image quality), or, from a GGUF input, the projector found beside that input. It is named once
per model (`mmproj-<model>-F16.gguf`), shared by all the model's quant types, and recorded in
each type's manifest with its sha256, so a release or a later check can tell it is the same file.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blossom_edge.base.errors import UsageError
from blossom_edge.base.progress import NO_PROGRESS, Progress

if TYPE_CHECKING:
    from blossom_edge.inputs.source import LocalSource

# What `--mmproj-type` offers: the types llama.cpp's converter writes a projector in that keep it usable.
PROJECTOR_TYPES = ("f16", "q8_0")


def parse_projector_type(text: str | None) -> str | None:
    """`--mmproj-type` as given, lower case, or None when it was not given."""
    if text is None:
        return None
    lowered = text.lower()
    if lowered not in PROJECTOR_TYPES:
        raise UsageError(f"--mmproj-type must be one of {', '.join(PROJECTOR_TYPES)}, not {text!r}")
    return lowered


def from_checkpoint(local: LocalSource, stem: str, output_dir: Path, out_type: str | None, *,
                    progress: Progress = NO_PROGRESS) -> dict[str, Any] | None:
    """Convert the checkpoint's vision tower into the projector beside the outputs; None for a text model.

    Conversion is deterministic, so a projector already there from another type's run is written
    again to the same bytes rather than trusted unchecked.
    """
    from blossom_edge.base.errors import CorruptFileError, UnsupportedError
    from blossom_edge.convert.projector import convert_projector, has_vision_tower
    from blossom_edge.model.naming import projector_name

    if not has_vision_tower(local.path):
        if out_type is not None:
            raise UsageError(f"--mmproj-type: {local.describe()} has no vision tower, so there is no projector")
        return None
    out_type = out_type or "f16"
    path = output_dir / projector_name(stem, out_type)
    try:
        convert_projector(local.path, path, out_type=out_type, progress=progress, source=local)
    except (CorruptFileError, UnsupportedError) as exc:
        raise type(exc)(f"{exc} (--no-mmproj quantizes the text model alone)") from None
    return _record(path, out_type, "converted from the checkpoint's vision tower")


def from_gguf(src: Path, stem: str, output_dir: Path, out_type: str | None) -> dict[str, Any] | None:
    """The projector beside a GGUF input, carried to the output directory as it is; None when there is none."""
    from blossom_edge.inputs.projector import projector_beside
    from blossom_edge.model.naming import base_stem

    found = projector_beside(src, base_stem(stem))
    if out_type is not None:
        raise UsageError("--mmproj-type applies when converting from a checkpoint; a GGUF's projector is kept as it is")
    if found is None:
        return None
    target = output_dir / found.name
    if target.resolve() == found.resolve():
        return _record(found, None, "found beside the input")
    _copy_atomically(found, target)
    return _record(target, None, f"copied from {found}")


def _copy_atomically(src: Path, dst: Path) -> None:
    """A copy under a partial name until complete (the partial is the locked file atomic_output made)."""
    from blossom_edge.base.atomic import atomic_output

    with atomic_output(dst) as partial:
        shutil.copyfile(src, partial)


def _record(path: Path, out_type: str | None, made: str) -> dict[str, Any]:
    from blossom_edge.base.digest import sha256_file
    from blossom_edge.inputs.gguf_info import read_gguf_info

    info = read_gguf_info(path)
    return {"file": path.name, "type": (out_type or _file_type(info.type_histogram())).upper(),
            "sha256": sha256_file(path), "bytes": info.file_size, "made": made}


def _file_type(histogram: dict[str, int]) -> str:
    """The projector's main weight type, as a name: the type most of its tensors have, F32 aside."""
    kinds = {k: v for k, v in histogram.items() if k != "F32"} or histogram
    return max(kinds, key=lambda k: kinds[k])
