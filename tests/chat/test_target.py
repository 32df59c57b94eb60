"""chat's MODEL argument: a GGUF path, or the file `quantize` wrote for an alias; never a download."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from blossom_edge.base.errors import CorruptFileError, NotFoundError
from blossom_edge.chat.target import resolve_target
from blossom_edge.model.catalog import resolve


def test_an_alias_is_the_quantized_file_here_preferring_q4_k_m(chat_gguf: Path, tmp_path: Path) -> None:
    for name in ("blossom-v5-4b-Q8_0.gguf", "blossom-v5.1-9b-Q4_K_M.gguf", "blossom-v5-4b.imatrix.gguf"):
        shutil.copy(chat_gguf, tmp_path / name)
    found = resolve_target("4b", tmp_path)
    assert found.path == tmp_path / "blossom-v5-4b-Q8_0.gguf" and found.model == resolve("v5-4b")
    shutil.copy(chat_gguf, tmp_path / "blossom-v5-4b-Q4_K_M.gguf")
    assert resolve_target("v5-4b", tmp_path).path.name == "blossom-v5-4b-Q4_K_M.gguf"
    assert resolve_target("9b", tmp_path).path.name == "blossom-v5.1-9b-Q4_K_M.gguf"


def test_an_alias_without_its_file_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError) as caught:
        resolve_target("4b", tmp_path)
    assert "run `blossom-edge quantize 4b q4_k_m` first" in str(caught.value) and "\n" not in str(caught.value)


def test_a_path_is_checked_and_named_after_its_model(chat_gguf: Path, tmp_path: Path) -> None:
    assert resolve_target(str(chat_gguf)).model is None
    named = tmp_path / "blossom-v5-14b-Q4_K_M.gguf"
    shutil.copy(chat_gguf, named)
    assert resolve_target(str(named)).model == resolve("14b")
    with pytest.raises(NotFoundError, match="no such GGUF file"):
        resolve_target(str(tmp_path / "missing.gguf"))
    (tmp_path / "notes.gguf").write_text("not a model")
    with pytest.raises(CorruptFileError, match="not a GGUF file"):
        resolve_target(str(tmp_path / "notes.gguf"))
    with pytest.raises(NotFoundError, match="unknown model alias 'v5-4x'"):
        resolve_target("v5-4x", tmp_path)
