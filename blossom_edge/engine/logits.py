"""The last position's logits of a high-level `llama_cpp.Llama`, without a logits_all buffer.

With `logits_all=False` the `Llama` object keeps no `scores` row we can read after `eval`,
so the row is read from the context itself (`Llama._ctx`, a private attribute).
Public replacement: `llama_cpp.llama_get_logits_ith(llm.ctx, -1)` once `Llama.ctx` is a
stable public property, or a `Llama.last_logits()` call.
"""

from __future__ import annotations

from typing import Any


def last_logits(llm: Any, n_vocab: int) -> Any:
    """A numpy view of the logits after the last `eval`; copy it before the next one."""
    import numpy as np

    return np.ctypeslib.as_array(llm._ctx.get_logits_ith(-1), shape=(n_vocab,))
