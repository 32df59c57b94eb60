"""quality: the text it reads, llama.cpp's base-file encoding, and the inputs it refuses in one line."""

from __future__ import annotations

import numpy as np
import pytest

from blossom_edge.cli import main
from blossom_edge.quantize.kld_base import BaseReader, BaseWriter, decode, encode, read_header, row_width
from blossom_edge.quantize.quality import eval_text
from tests.quantize.test_quantize_tiny import write_tiny_gguf


def test_eval_text_is_bilingual_with_provenance():
    from importlib import resources

    text = eval_text().text
    assert sum("\u4e00" <= c <= "\u9fff" for c in text) > 500 and text.count(" the ") > 10
    readme = (resources.files("blossom_edge") / "data" / "README.md").read_text(encoding="utf-8")
    assert "eval_zh_en.txt" in readme and "written for this project" in readme


def test_a_text_file_loses_one_trailing_newline_as_with_dash_f(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("line one\nline two\n\n", encoding="utf-8")
    assert eval_text(path).text == "line one\nline two\n"
    assert eval_text(path).sha256 != eval_text().sha256


def test_encoding_keeps_log_probabilities_to_a_16_bit_step():
    rng = np.random.default_rng(0)
    logits = (rng.standard_normal((5, 301)) * 6).astype(np.float32)
    logits[4] = 1.5  # a flat row: scale 0, every token at the floor
    rows, lse, top = encode(logits)
    assert rows.shape == (5, row_width(301)) and row_width(301) == 306
    exact = logits.astype(np.float64) - (top + lse)[:, None].astype(np.float64)
    back = decode(rows, 301)
    for row in range(4):
        window = exact[row] > exact[row].max() - 16
        step = (exact[row].max() - exact[row][window].min()) / 65535
        assert np.abs(back[row] - exact[row])[window].max() <= 0.5 * step + 1e-5
        # Below the 16-nat window every token reads as the floor, never as less likely than it is.
        assert np.all(back[row][~window] >= exact[row][~window])
    np.testing.assert_allclose(back[4], -np.log(301), rtol=1e-6)


def test_base_file_round_trip_and_truncation(tmp_path):
    from blossom_edge.base.errors import CorruptFileError

    n_ctx, n_vocab, n_chunk = 8, 11, 2
    tokens = np.arange(n_ctx * n_chunk + 5, dtype=np.int32)
    logits = np.random.default_rng(1).standard_normal((3, n_vocab)).astype(np.float32)
    path = tmp_path / "base.kld"
    with open(path, "wb") as fh:
        writer = BaseWriter(fh, n_ctx, n_vocab, n_chunk, tokens)
        for _ in range(n_chunk):
            writer.rows(encode(logits)[0])
    head = read_header(path)
    assert (head.n_ctx, head.n_vocab, head.n_chunk) == (n_ctx, n_vocab, n_chunk)
    np.testing.assert_array_equal(head.tokens, tokens[:n_ctx * n_chunk])
    with open(path, "rb") as fh:
        chunks = list(BaseReader(fh, path).chunks())
    assert len(chunks) == 2 and all(np.array_equal(c, encode(logits)[0]) for c in chunks)
    path.write_bytes(path.read_bytes()[:-2])
    with pytest.raises(CorruptFileError, match="truncated"):
        read_header(path)
    path.write_bytes(b"GGUF" + bytes(100))
    with pytest.raises(CorruptFileError, match="not a KL-divergence base file"):
        read_header(path)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_gguf(tmp_path_factory.mktemp("tiny") / "tiny-BF16.gguf")


@pytest.mark.parametrize(("args", "message"), [
    (["--text", "{d}/missing.txt"], "no such text file"),
    (["--text", "{d}/empty.txt"], "is empty"),
    (["--text", "{d}"], "is a directory"),
    (["--ctx", "8"], "--ctx 8 is too short"),
    (["--ctx", "1024"], "longer than tiny-BF16.gguf was trained on (512 tokens)"),
    (["--text", "{d}/short.txt", "--ctx", "128"], "needs at least 256 (llama-perplexity's minimum)"),
    (["--base", "{d}/short.txt"], "not a KL-divergence base file"),
    (["--base", "{d}/missing.kld"], "no such base file"),
    (["--base", "{d}/b.kld", "--save-base", "{d}/c.kld"], "give one"),
])
def test_bad_inputs_are_one_line(tiny, tmp_path, capsys, args, message):
    (tmp_path / "empty.txt").write_text("\n", encoding="utf-8")
    (tmp_path / "short.txt").write_text("a short text, far fewer than 256 tokens\n", encoding="utf-8")
    code = main(["quality", str(tiny), *(a.format(d=tmp_path) for a in args)])
    err = capsys.readouterr().err.strip()
    assert code != 0 and message in err and len(err.splitlines()) == 1, err
