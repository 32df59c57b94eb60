"""Which tokens end an answer, as llama.cpp decides it (`llama_vocab_is_eog`).

The end-of-generation set is more than `Llama.token_eos()`: llama.cpp adds the end-of-turn and
end-of-message tokens and the ones it recognises by text (`<|im_end|>`, `<|eot_id|>`,
`<end_of_turn>`, …), which a chat template closes turns with. llama-cpp-python asks it through
`Llama._model.vocab`, a private attribute, inside `create_completion`, whose streaming re-reads
the whole answer at every token; a chat streams with `Llama.generate` and asks here instead.
Public replacement: a `Llama.token_is_eog(token)` call, or `create_completion` streaming in
linear time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def end_of_generation(llm: Any) -> Callable[[int], bool]:
    """A predicate: does `token` end the answer for this model's vocabulary?"""
    import llama_cpp

    vocab = llm._model.vocab
    return lambda token: bool(llama_cpp.llama_vocab_is_eog(vocab, token))
