"""quality: perplexity and KL divergence on the shipped bilingual text."""

from __future__ import annotations

import json

import pytest

from blossom_edge.cli import main
from blossom_edge.quantize.child import quantize_gguf
from blossom_edge.quantize.quality import eval_text, measure
from blossom_edge.quantize.types import parse_qtype
from tests.quantize.test_quantize_tiny import write_tiny_gguf


def test_eval_text_is_bilingual_with_provenance():
    from importlib import resources

    text = eval_text()
    assert sum("\u4e00" <= c <= "\u9fff" for c in text) > 500 and text.count(" the ") > 10
    readme = (resources.files("blossom_edge") / "data" / "README.md").read_text(encoding="utf-8")
    assert "eval_zh_en.txt" in readme and "written for this project" in readme


@pytest.mark.slow
def test_reference_against_itself_and_a_quant(tmp_path, capsys):
    ref = write_tiny_gguf(tmp_path / "tiny-BF16.gguf")
    q2 = quantize_gguf(ref, tmp_path / "tiny-Q2_K.gguf", parse_qtype("q2_k")).path
    same, quant = measure(ref, [ref, q2])[1:]
    assert same.kl_mean == pytest.approx(0.0, abs=1e-6) and same.top1_agreement == 1.0
    assert quant.kl_mean > same.kl_mean and quant.kl_p99 >= quant.kl_mean and quant.top1_agreement < 1.0
    assert main(["quality", str(ref), str(q2), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["kl_mean"] is None and rows[1]["perplexity"] > 1
