"""Activation statistics per weight, accumulated the way llama-imatrix accumulates them.

For every weight a matrix multiplication reads, the sum over all tokens of each input
column's squared activation (`in_sum2`) and how many tokens were summed (`counts`):
llama-quantize divides one by the other and weighs each column's rounding error by it.
A dense weight has one count; a stacked expert tensor has one sum row and one count per
expert, counting only the tokens routed to it. Running sums are kept in float64 (llama-imatrix
uses float32), so long calibration runs do not lose the small columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from blossom_edge.base.errors import ExternalToolError
from blossom_edge.engine.eval_callback import Matmul


@dataclass
class Entry:
    """One weight's statistics: `sums` is (matrices, width), `counts` (matrices,) or (1,) for a dense weight."""

    sums: Any
    counts: Any


@dataclass
class Collector:
    """Receives each `Matmul` during decoding; `chunk_size` is the tokens per calibration chunk."""

    chunk_size: int
    entries: dict[str, Entry] = field(default_factory=dict)
    # llama-imatrix's chunk count: the largest count seen, in whole chunks.
    chunk_count: int = 0

    def __call__(self, mm: Matmul) -> None:
        if mm.expert_ids is not None:
            self._experts(mm)
        else:
            self._dense(mm)

    def _entry(self, name: str, mats: int, width: int, counts: int) -> Entry:
        entry = self.entries.get(name)
        if entry is None:
            entry = self.entries[name] = Entry(np.zeros((mats, width)), np.zeros(counts, dtype=np.int64))
        elif entry.sums.shape != (mats, width):
            raise ExternalToolError(f"inconsistent activation size for {name}: {entry.sums.shape} "
                                    f"then {(mats, width)}")
        return entry

    def _dense(self, mm: Matmul) -> None:
        x = mm.activations  # (ne3, ne2, rows, width)
        w2, w3 = mm.weight_mats
        ne3, ne2, rows, width = x.shape
        entry = self._entry(mm.weight, w2 * w3, width, 1)
        for i3 in range(ne3):
            for i2 in range(ne2):
                block = x[i3, i2]
                # One call's partial sums in float32 (fast); the running total in float64.
                entry.sums[(i3 % w3) * w2 + (i2 % w2)] += np.einsum("ij,ij->j", block, block)
        self._check_finite(mm.weight, entry.sums)
        entry.counts += ne3 * ne2 * rows // (w2 * w3)
        self._note_chunks(entry.counts)

    def _experts(self, mm: Matmul) -> None:
        x = mm.activations  # (tokens, slots, width): slot i of a token feeds its i-th chosen expert
        ids = mm.expert_ids  # (tokens, experts used)
        n_experts = mm.weight_mats[0]
        tokens, slots, width = x.shape
        if ids.shape[0] != tokens:
            raise ExternalToolError(f"{mm.weight}: {ids.shape[0]} routing rows for {tokens} tokens")
        flat_ids = np.ascontiguousarray(ids).reshape(-1)
        if flat_ids.size and (flat_ids.min() < 0 or flat_ids.max() >= n_experts):
            raise ExternalToolError(f"{mm.weight}: expert id outside 0..{n_experts - 1}")
        slot_of = np.tile(np.arange(ids.shape[1]) % slots, tokens)
        token_of = np.repeat(np.arange(tokens), ids.shape[1])
        rows = x[token_of, slot_of].astype(np.float64)
        squares = rows * rows
        order = np.argsort(flat_ids, kind="stable")
        experts, starts, per_expert = np.unique(flat_ids[order], return_index=True, return_counts=True)
        entry = self._entry(mm.weight, n_experts, width, n_experts)
        if experts.size:
            entry.sums[experts] += np.add.reduceat(squares[order], starts, axis=0)
            entry.counts[experts] += per_expert
        self._check_finite(mm.weight, entry.sums[experts])
        self._note_chunks(entry.counts)

    def _note_chunks(self, counts: Any) -> None:
        self.chunk_count = max(self.chunk_count, int(counts.max()) // self.chunk_size)

    @staticmethod
    def _check_finite(name: str, values: Any) -> None:
        if not np.isfinite(values).all():
            raise ExternalToolError(f"non-finite activations in {name}: the model overflows on this text "
                                    "(a damaged or wrongly converted GGUF?)")
