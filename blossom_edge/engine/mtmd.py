"""llama.cpp's libmtmd through llama-cpp-python's ctypes bindings: a projector encodes one image.

What a multimodal chat does before its first token: load the text model, load the projector
(`mmproj-*.gguf`) against it, turn an RGB bitmap into image tokens and run the vision
encoder, whose output embeddings are what the text model then reads in place of tokens.
These embeddings are the projector's whole job, so comparing them for two projector files
compares what the files do. Call it in a child (`native/isolated.py::run_isolated`): a
projector llama.cpp cannot use may abort the process.

Public replacement: none in llama-cpp-python 0.3.36 (its multimodal chat handlers encode
images internally and never return the embeddings); an `embed_image()` on `llama_cpp.Llama`
with a projector, returning the encoder's output, would replace this module.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from blossom_edge.base.errors import ExternalToolError
from blossom_edge.engine.llama_log import captured, with_reason
from blossom_edge.engine.llama_lowlevel import LlamaEngine


@dataclass(frozen=True)
class ImageEmbeddings:
    """The vision encoder's output for one image: one row of the text model's input width per image token."""

    n_tokens: int
    n_embd: int
    # float32, n_tokens × n_embd, row-major, exactly as libmtmd returned them.
    data: bytes

    def array(self) -> np.ndarray:
        return np.frombuffer(self.data, dtype=np.float32).reshape(self.n_tokens, self.n_embd)


def encode_image(model_path: str, projector_path: str, rgb: bytes, width: int, height: int,
                 threads: int = 1) -> ImageEmbeddings:
    """Load `model_path` and its projector, encode one `width`×`height` RGB image (3 bytes a pixel).

    Runs on the CPU with `threads` threads and no warm-up, so two runs with the same files and
    settings do the same arithmetic in the same order.
    """
    if len(rgb) != width * height * 3:
        raise ValueError(f"an RGB image of {width}×{height} is {width * height * 3} bytes, not {len(rgb)}")
    from llama_cpp import mtmd_cpp as mtmd

    engine = LlamaEngine()
    model = engine.load(Path(model_path))
    try:
        params = mtmd.mtmd_context_params_default()
        params.use_gpu = False
        params.n_threads = threads
        params.print_timings = False
        params.warmup = False
        with captured() as log:
            ctx = mtmd.mtmd_init_from_file(str(projector_path).encode(), model, params)
        if not ctx:
            raise ExternalToolError(with_reason(f"llama.cpp could not load the projector {projector_path}", log))
        try:
            return _encode(mtmd, ctx, engine.lib.llama_model_n_embd_inp(model), rgb, width, height)
        finally:
            mtmd.mtmd_free(ctx)
    finally:
        engine.free_model(model)


def _encode(mtmd, ctx, n_embd: int, rgb: bytes, width: int, height: int) -> ImageEmbeddings:
    """Tokenize one media marker with the bitmap, encode its image chunk, copy the embeddings out."""
    pixels = (ctypes.c_uint8 * len(rgb)).from_buffer_copy(rgb)
    bitmap = mtmd.mtmd_bitmap_init(width, height, pixels)
    chunks = mtmd.mtmd_input_chunks_init()
    try:
        text = mtmd.mtmd_input_text()
        marker = mtmd.mtmd_default_marker()
        text.text, text.text_len, text.add_special, text.parse_special = marker, len(marker), False, True
        bitmaps = (mtmd.mtmd_bitmap_p_ctypes * 1)(bitmap)
        if (status := mtmd.mtmd_tokenize(ctx, chunks, ctypes.byref(text), bitmaps, 1)) != 0:
            raise ExternalToolError(f"libmtmd could not tokenize the image (status {status})")
        for i in range(mtmd.mtmd_input_chunks_size(chunks)):
            chunk = mtmd.mtmd_input_chunks_get(chunks, i)
            if mtmd.mtmd_input_chunk_get_type(chunk) != mtmd.MTMD_INPUT_CHUNK_TYPE_IMAGE:
                continue
            if (status := mtmd.mtmd_encode_chunk(ctx, chunk)) != 0:
                raise ExternalToolError(f"libmtmd could not encode the image (status {status})")
            n_tokens = mtmd.mtmd_input_chunk_get_n_tokens(chunk)
            out = mtmd.mtmd_get_output_embd(ctx)
            data = ctypes.string_at(out, n_tokens * n_embd * ctypes.sizeof(ctypes.c_float))
            return ImageEmbeddings(n_tokens, n_embd, data)
        raise ExternalToolError("libmtmd made no image chunk of the image")
    finally:
        mtmd.mtmd_input_chunks_free(chunks)
        mtmd.mtmd_bitmap_free(bitmap)
