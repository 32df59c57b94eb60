"""Hugging Face checkpoint → GGUF, torch-free and streaming.

    result = convert_checkpoint(resolve_source("4b"), Path("blossom-v5-4b-BF16.gguf"), "auto")

One module per concern: `arch` (architectures as data, hyperparameters), `plan` (names
and types per tensor), `stream` (chunked tensor data), `vocab` (tokenizer), `metadata`
(general.*), `writer` (GGUFWriter, atomic output), `projector` (a multimodal checkpoint's
vision tower as the `mmproj-*.gguf` file llama.cpp's libmtmd loads beside the text GGUF).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from blossom_edge.base.atomic import refuse_overwriting
from blossom_edge.base.errors import CorruptFileError, UnsupportedError
from blossom_edge.base.progress import NO_PROGRESS, Progress
from blossom_edge.convert.arch import write_common_hparams
from blossom_edge.convert.archs import architecture_for
from blossom_edge.convert.metadata import model_metadata, output_stem
from blossom_edge.convert.plan import Plan, build_plan
from blossom_edge.convert.projector import (
    ProjectorConversion,
    ProjectorResult,
    checkpoint_has_vision_tower,
    plan_projector,
    projector_file_name,
)
from blossom_edge.convert.vocab import Vocab, load_vocab, write_vocab
from blossom_edge.inputs.checkpoint import Checkpoint
from blossom_edge.inputs.source import LocalSource

if TYPE_CHECKING:
    import gguf


@dataclass(frozen=True)
class ConvertResult:
    path: Path
    outtype: str
    tensor_count: int
    bytes_written: int
    seconds: float
    # The vision projector written beside it (`mmproj-<name>.gguf`), when there was one to write.
    projector: ProjectorResult | None = None


def default_output_name(source: LocalSource, outtype: str) -> str:
    """`blossom-v5-4b-BF16.gguf`: the catalog or repository name and the resolved type."""
    from blossom_edge.model.naming import gguf_name

    return gguf_name(output_stem(source), outtype)


@dataclass
class Conversion:
    """A validated conversion, ready to write: nothing has touched the output yet.

    Every file but the tensor data has been read by then, the ones gguf-py reads itself included (for
    the vocabulary and `metadata`), so a hostile one fails before the output exists, and in `--dry-run` too.
    """

    checkpoint: Checkpoint
    plan: Plan
    vocab: Vocab
    metadata: gguf.Metadata
    output: Path
    source: LocalSource
    # The vision tower's own file, planned as fully as the text model's; None without one or with --no-mmproj.
    projector: ProjectorConversion | None = None

    def fill_keys(self, writer: gguf.GGUFWriter) -> None:
        """Every key/value, in the order llama.cpp's converter writes them."""
        import gguf

        config, arch = self.plan.config, self.plan.arch
        writer.add_type(gguf.GGUFType.MODEL)
        self.metadata.set_gguf_meta_model(writer)
        write_common_hparams(config, writer, self.plan.file_type, len(arch.blocks(config)))
        for extra in arch.extra_hparams:
            extra(config, writer)
        write_vocab(writer, self.vocab)
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)

    def write(self, progress: Progress = NO_PROGRESS) -> ConvertResult:
        """The text GGUF, then the projector: each complete under its name or not there at all."""
        from blossom_edge.convert.writer import write_with_progress

        start = time.perf_counter()
        write_with_progress(self.output, self.plan, self.fill_keys, progress)
        projector = None if self.projector is None else self.projector.write(progress)
        return ConvertResult(self.output, self.plan.outtype, len(self.plan.tensors), self.output.stat().st_size,
                             time.perf_counter() - start, projector)


@contextmanager
def plan_conversion(source: LocalSource | Path, output: Path | None, outtype: str = "auto", *,
                    mmproj: bool = False) -> Iterator[Conversion]:
    """Open and check everything (headers, architecture, tensor names, tokenizer) before writing.

    `source` is a checkpoint and where it came from, or just its directory. `--dry-run` stops
    here and prints the plan; disk-space checks read `plan.tensor_bytes`. With `mmproj`, a
    checkpoint with a vision tower also gets its projector, `mmproj-<output name>` beside the
    output, of the same type (what the reference's `--mmproj --outtype` writes); without it
    the tower is left out with one line, as a library caller converting the text model alone
    (quantize's intermediate file) wants.
    """
    source = source if isinstance(source, LocalSource) else LocalSource(path=Path(source))
    checkpoint = Checkpoint.open(source.path, source.files)
    arch = architecture_for(checkpoint.config)
    projector = mmproj and checkpoint_has_vision_tower(checkpoint)
    plan = build_plan(checkpoint, arch, outtype, quiet_left_out=projector)
    vocab = load_vocab(source.path, checkpoint.config.get("vocab_size"), files=source.files,
                       space_prefix_key=arch.space_prefix_key,
                       arch_name=arch.arch_name, pre_names=dict(arch.pre_tokenizer_names),
                       special_tokens=dict(arch.special_tokens))
    metadata = model_metadata(checkpoint.directory, plan.n_params, source)
    output = output or Path(default_output_name(source, plan.outtype))
    refuse_overwriting(output, [p for p in source.path.iterdir() if p.is_file()])
    projector_plan = None
    if projector:
        try:
            projector_plan = plan_projector(source, output.parent / projector_file_name(output.name), plan.outtype,
                                            checkpoint=checkpoint)
        except (CorruptFileError, UnsupportedError) as exc:
            raise type(exc)(f"{exc} (--no-mmproj converts the text model alone)") from None
    yield Conversion(checkpoint, plan, vocab, metadata, output, source, projector_plan)


def convert_checkpoint(
    source: LocalSource | Path,
    output: Path | None,
    outtype: str = "auto",
    *,
    progress: Progress = NO_PROGRESS,
    mmproj: bool = False,
) -> ConvertResult:
    """Convert a checkpoint to GGUF at `output` (default: named after the model, in the cwd), and with
    `mmproj` its vision projector beside it (see plan_conversion)."""
    with plan_conversion(source, output, outtype, mmproj=mmproj) as conversion:
        return conversion.write(progress)

