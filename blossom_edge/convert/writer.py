"""Streams a conversion plan into a GGUF file through gguf-py's GGUFWriter, atomically.

The writer's own state machine lays out header, key/values, tensor infos and aligned
data; we only feed it `StreamedTensor`s, so at no point is more than a chunk of any
tensor in memory. The file appears under its final name only once complete. Large
vocabulary arrays are packed in bulk by the engine seam's writer (`engine/gguf_io.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from blossom_edge.base.atomic import atomic_output, check_writable_dir
from blossom_edge.base.progress import NO_PROGRESS, Progress
from blossom_edge.convert.plan import Plan
from blossom_edge.convert.stream import StreamedTensor, convert_pool
from blossom_edge.engine.gguf_io import fast_writer

if TYPE_CHECKING:
    import gguf


def write_gguf(
    output: Path,
    plan: Plan,
    fill_keys: Callable[[gguf.GGUFWriter], None],
    on_bytes: Callable[[int], None] | None = None,
) -> None:
    """Write `plan`'s tensors to `output` after the key/values `fill_keys` adds."""
    writer = fast_writer(plan.arch.arch_name)
    fill_keys(writer)
    for planned in plan.tensors:
        # The element shape with a non-uint8 dtype tells GGUFWriter to take the shape as is.
        writer.add_tensor_info(planned.name, planned.shape, np.dtype(np.float32), planned.nbytes,
                               raw_dtype=planned.qtype)
    pool = convert_pool()
    with atomic_output(output) as partial:
        try:
            writer.write_header_to_file(path=partial)
            writer.write_kv_data_to_file()
            writer.write_ti_data_to_file()
            for planned in plan.tensors:
                writer.write_tensor_data(StreamedTensor(planned, pool, on_bytes))  # type: ignore[arg-type]
        finally:
            # Workers write at the file's descriptor: they stop before it is closed.
            pool.shutdown(cancel_futures=True)
            writer.close()


def write_with_progress(output: Path, plan: Plan, fill_keys: Callable[[gguf.GGUFWriter], None],
                        progress: Progress = NO_PROGRESS) -> None:
    """`write_gguf` behind a byte bar named for the file, after the directory is found writable: how
    the text model and its projector are written alike."""
    check_writable_dir(output.parent)
    with progress.task(f"writing {output.name}", plan.tensor_bytes, unit="bytes") as task:
        write_gguf(output, plan, fill_keys, task.advance)
