"""Records a user may have edited by hand: a split record or an added-token id that names nothing sane is
ignored or left out, never an internal error or a silently overwritten token."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from blossom_edge.release.card import _shard_names


@pytest.mark.parametrize("split", [
    None, {}, {"sha256": "other", "shards": [{"file": "a-00001-of-00002.gguf"}]}, {"sha256": "s", "shards": [1]},
    {"sha256": "s", "shards": "a.gguf"}, {"sha256": "s", "shards": [{"file": 3}, {"name": "x"}]},
])
def test_a_split_record_of_another_file_or_shape_lists_no_shards(split) -> None:
    assert _shard_names(split, "s") == []


def test_a_split_record_of_this_file_lists_its_shards() -> None:
    split = {"sha256": "s", "shards": [{"file": "a-00001-of-00002.gguf"}, {"file": "a-00002-of-00002.gguf"}]}
    assert _shard_names(split, "s") == ["a-00001-of-00002.gguf", "a-00002-of-00002.gguf"]


def test_a_negative_added_token_id_is_left_out_not_written_over_the_last_token(tmp_path: Path) -> None:
    from blossom_edge.convert.vocab import load_vocab
    from tests.builders.checkpoints import build_checkpoint

    ckpt = build_checkpoint(tmp_path / "ckpt", "llama", hidden=64, layers=1)
    clean = load_vocab(ckpt, None)
    (ckpt / "added_tokens.json").write_text(json.dumps({"<stray>": -1}))
    vocab = load_vocab(ckpt, None)
    assert vocab.tokens == clean.tokens
    assert any("'<stray>' id -1 is outside the vocabulary" in w for w in vocab.warnings)
