"""A model's dimensions: what memory and speed estimates need, from a catalog entry or a GGUF file.

One class for both sources, so `fit` (before any download, from the base model's config.json
figures in the catalog) and `bench`/`inspect` (from the file itself) feed the same formulas.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from blossom_edge.gguf_info import GGUFInfo

F16_BYTES = 2


@dataclass(frozen=True)
class ModelShape:
    """Layer count and widths; `weight_bytes` is 0 until a quant type or a file says how big it is."""

    n_layer: int
    n_embd: int
    n_head_kv: int
    head_dim: int
    n_vocab: int
    n_ff: int = 0
    weight_bytes: int = 0
    # Bytes of the token embedding when the output projection is a separate tensor: generation
    # reads one row of it per token, not all of it.
    embd_only_bytes: int = 0

    def with_weights(self, weight_bytes: int) -> ModelShape:
        """The same dimensions at a given file size (a quant type's bits per weight × parameters)."""
        return replace(self, weight_bytes=weight_bytes)

    def dimensions(self) -> dict[str, int]:
        """The architecture figures alone, for `models --json`."""
        return {"n_layer": self.n_layer, "n_embd": self.n_embd, "n_head_kv": self.n_head_kv,
                "head_dim": self.head_dim, "n_vocab": self.n_vocab, "n_ff": self.n_ff}

    @classmethod
    def from_gguf(cls, info: GGUFInfo) -> ModelShape:
        from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, Keys

        embd_only = 0
        embd_type = info.tensor_types.get("token_embd.weight")
        if embd_type and "output.weight" in info.tensor_types:
            block, size = GGML_QUANT_SIZES[GGMLQuantizationType[embd_type]]
            embd_only = info.vocab_size * info.n_embd * size // block
        return cls(
            n_layer=info.n_layer,
            n_embd=info.n_embd,
            n_head_kv=info.n_head_kv,
            head_dim=info.head_dim,
            n_vocab=info.vocab_size,
            n_ff=int(info.arch_key(Keys.LLM.FEED_FORWARD_LENGTH, 4 * info.n_embd) or 0),
            weight_bytes=info.tensor_bytes,
            embd_only_bytes=embd_only,
        )

    def kv_bytes_per_token(self) -> int:
        """K and V in F16 for every layer: what one context slot costs."""
        return 2 * self.n_layer * self.n_head_kv * self.head_dim * F16_BYTES
