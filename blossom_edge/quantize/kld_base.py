"""llama.cpp's KL-divergence base file: the reference model's log-probabilities, saved once, read per quant.

`llama-perplexity --kl-divergence-base FILE` writes it while measuring the reference, and
`--kl-divergence` reads it to compare another model with it. We write and read the same
format, so a file saved by `quality --save-base` can be given to llama-perplexity and one
saved by llama-perplexity to `quality --base`: the figures can be checked by anyone with
llama.cpp.

Layout (little-endian): `_logits_`, n_ctx (u32), n_vocab (i32), n_chunk (i32), the
n_chunk·n_ctx evaluated tokens (i32, before any BOS replacement), then per chunk and per
scored position (the last n_ctx - 1 - n_ctx/2 of the chunk) one row of `row_width(n_vocab)`
u16: two float32 (scale, lowest log-probability) and every token's log-probability as a
16-bit step above that lowest one, clipped 16 nats below the most likely token.

The encoding is llama.cpp's float arithmetic step for step (float32 maxima and exponentials,
their sum in float64), so the KL figures computed from these rows are llama.cpp's, not
those of exact log-probabilities (the 16-bit steps alone move a small KL by some percent).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from blossom_edge.base.errors import CorruptFileError, NotFoundError

MAGIC = b"_logits_"
_HEADER = struct.Struct("<Iii")
# Only log-probabilities this far below the most likely token are told apart; lower ones read as the floor.
_RANGE = 16.0
_STEPS = 65535.0


def row_width(n_vocab: int) -> int:
    """u16 per stored row: two float32 of header, the vocabulary rounded up to an even count."""
    return 2 * ((n_vocab + 1) // 2) + 4


def scored_positions(n_ctx: int) -> int:
    """Positions of a chunk that are scored: each predicts the next token, from the middle on."""
    return n_ctx - 1 - n_ctx // 2


@dataclass(frozen=True)
class BaseHeader:
    """What the file says about how it was made; the tokens are the ones to evaluate again."""

    n_ctx: int
    n_vocab: int
    n_chunk: int
    tokens: Any  # int32 array of n_chunk * n_ctx


def encode(logits: Any) -> tuple[Any, Any, Any]:
    """llama.cpp's 16-bit rows for float32 `logits` (rows × n_vocab), and each row's log-sum-exp
    and maximum as float32 (the negative log-likelihood of a token is max + lse - logit)."""
    import numpy as np

    rows, n_vocab = logits.shape
    top = logits.max(axis=1)
    low = np.maximum(logits.min(axis=1), top - np.float32(_RANGE))
    lse = log_sum_exp(logits, top)
    min_log_prob = (low - top) - lse
    scale = (top - low) / np.float32(_STEPS)
    out = np.zeros((rows, row_width(n_vocab)), dtype=np.uint16)
    out[:, :4] = np.stack([scale, min_log_prob], axis=1).astype(np.float32).view(np.uint16)
    live = scale != 0
    inv = np.ones_like(scale)
    inv[live] = np.float32(1) / scale[live]
    steps = np.rint(inv[:, None] * (logits - low[:, None])).astype(np.int64)
    # llama.cpp stores its int in a uint16: the same wrap-around, should a rounding reach 65536.
    steps = np.where((logits > low[:, None]) & live[:, None], steps, 0).astype(np.uint16)
    out[:, 4:4 + n_vocab] = steps
    return out, lse, top


def decode(rows: Any, n_vocab: int) -> Any:
    """The stored log-probabilities of `rows` as float32 (rows × n_vocab), as llama.cpp reads them back."""
    import numpy as np

    head = rows[:, :4].copy().view(np.float32)
    scale, min_log_prob = head[:, 0], head[:, 1]
    return scale[:, None] * rows[:, 4:4 + n_vocab].astype(np.float32) + min_log_prob[:, None]


def log_sum_exp(logits: Any, top: Any) -> Any:
    """log Σ expf(logit - max), the exponentials in float32 summed in float64, then as float32."""
    import numpy as np

    shifted = np.exp(logits - top[:, None])
    return np.log(shifted.sum(axis=1, dtype=np.float64)).astype(np.float32)


class BaseWriter:
    """Writes the file as the reference is measured: header and tokens first, then rows chunk by chunk."""

    def __init__(self, fh: BinaryIO, n_ctx: int, n_vocab: int, n_chunk: int, tokens: Any) -> None:
        import numpy as np

        fh.write(MAGIC + _HEADER.pack(n_ctx, n_vocab, n_chunk))
        fh.write(np.asarray(tokens[:n_chunk * n_ctx], dtype="<i4").tobytes())
        self.fh = fh

    def rows(self, encoded: Any) -> None:
        self.fh.write(encoded.astype("<u2", copy=False).tobytes())


class BaseReader:
    """Reads a base file: the header at once, then the rows of one chunk at a time."""

    def __init__(self, fh: BinaryIO, path: Path) -> None:
        import numpy as np

        self.fh, self.path = fh, path
        head = fh.read(len(MAGIC) + _HEADER.size)
        if len(head) < len(MAGIC) + _HEADER.size or head[:len(MAGIC)] != MAGIC:
            raise CorruptFileError(f"{path} is not a KL-divergence base file (llama-perplexity's `_logits_` format)")
        n_ctx, n_vocab, n_chunk = _HEADER.unpack(head[len(MAGIC):])
        if n_ctx < 4 or n_vocab < 1 or n_chunk < 1:
            raise CorruptFileError(f"{path} has an impossible header: n_ctx {n_ctx}, n_vocab {n_vocab}, "
                                   f"{n_chunk} chunks")
        raw = fh.read(4 * n_ctx * n_chunk)
        if len(raw) != 4 * n_ctx * n_chunk:
            raise CorruptFileError(f"{path} is truncated: its {n_chunk} chunks of {n_ctx} tokens are not all there")
        self.header = BaseHeader(n_ctx, n_vocab, n_chunk, np.frombuffer(raw, dtype="<i4").astype(np.int32))

    def expected_size(self) -> int:
        h = self.header
        return (len(MAGIC) + _HEADER.size + 4 * h.n_ctx * h.n_chunk
                + 2 * h.n_chunk * scored_positions(h.n_ctx) * row_width(h.n_vocab))

    def chunks(self) -> Iterator[Any]:
        """Each chunk's stored rows (scored positions × row width, u16), in order."""
        import numpy as np

        h = self.header
        shape = (scored_positions(h.n_ctx), row_width(h.n_vocab))
        for index in range(h.n_chunk):
            raw = self.fh.read(2 * shape[0] * shape[1])
            if len(raw) != 2 * shape[0] * shape[1]:
                raise CorruptFileError(f"{self.path} is truncated at chunk {index + 1} of {h.n_chunk}")
            yield np.frombuffer(raw, dtype="<u2").reshape(shape)


def read_header(path: Path) -> BaseHeader:
    """The header and tokens of a base file, checked against the file's size."""
    import os

    if not path.is_file():
        raise NotFoundError(f"no such base file: {path}" + (" (a directory)" if path.is_dir() else ""))
    with open(path, "rb") as fh:
        reader = BaseReader(fh, path)
        size = os.fstat(fh.fileno()).st_size
    if size != reader.expected_size():
        raise CorruptFileError(f"{path} is {size} bytes; its header says {reader.expected_size()} "
                               "(truncated, or not a base file)")
    return reader.header
