"""A model's dimensions: what memory and speed estimates need, from a catalog entry or a GGUF file.

One class for both sources, so `fit` (before any download, from the base model's config.json
figures in the catalog) and `bench`/`inspect` (from the file itself) feed the same formulas.
Two kinds of model change those formulas: a mixture of experts must hold every expert in RAM
but reads only the routed ones per token, and a linear-attention layer (Qwen3.5's gated delta
net) keeps a fixed-size state per sequence instead of a KV cache that grows with the context.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

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
    # Mixture of experts: how many, how many a token is routed to, and the share of the weight
    # bytes the routed experts make up.
    n_expert: int = 0
    n_expert_used: int = 0
    expert_share: float = 0.0
    # Linear-attention layers (no KV cache) and the f32 state each keeps per sequence.
    n_recurrent_layers: int = 0
    recurrent_state_bytes: int = 0

    def with_weights(self, weight_bytes: int) -> ModelShape:
        """The same dimensions at a given file size (a quant type's bits per weight × parameters)."""
        return replace(self, weight_bytes=weight_bytes)

    def dimensions(self) -> dict[str, int]:
        """The architecture figures alone, for `models --json`."""
        dims = {"n_layer": self.n_layer, "n_embd": self.n_embd, "n_head_kv": self.n_head_kv,
                "head_dim": self.head_dim, "n_vocab": self.n_vocab, "n_ff": self.n_ff}
        if self.n_expert:
            dims |= {"n_expert": self.n_expert, "n_expert_used": self.n_expert_used}
        if self.n_recurrent_layers:
            dims["n_recurrent_layers"] = self.n_recurrent_layers
        return dims

    def unread_expert_bytes(self) -> float:
        """Weight bytes a token does not read: the experts it is not routed to (0 for a dense model)."""
        if not self.n_expert or not self.n_expert_used:
            return 0.0
        return self.weight_bytes * self.expert_share * (1.0 - min(self.n_expert_used, self.n_expert) / self.n_expert)

    def kv_bytes_per_token(self) -> int:
        """K and V in F16 for every attention layer with a cache: what one context slot costs."""
        return 2 * (self.n_layer - self.n_recurrent_layers) * self.n_head_kv * self.head_dim * F16_BYTES

    def state_bytes(self) -> int:
        """The fixed recurrent state of all linear-attention layers for one sequence."""
        return self.n_recurrent_layers * self.recurrent_state_bytes


# llama.cpp's default when a linear-attention GGUF names no interval: every fourth layer is full attention.
F32_BYTES = 4
