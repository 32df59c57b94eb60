"""bench reports whether a model carries MTP (nextn) layers: read from the GGUF as Ollama reads them,
kept in the row (and --json), marked in the table."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from blossom_edge.bench.row import BenchRow
from blossom_edge.inputs.gguf_info import read_gguf_info
from tests.builders.tiny_gguf import build_metadata_gguf


def _qwen35_with_mtp_tensor(path: Path) -> Path:
    """A Qwen3.5 GGUF written before `nextn_predict_layers` existed: MTP only as `mtp.` tensors."""
    from gguf import GGUFWriter

    writer = GGUFWriter(str(path), "qwen35")
    writer.add_tensor("mtp.fc.weight", np.zeros((4, 4), dtype=np.float32))
    writer.add_tensor("token_embd.weight", np.zeros((4, 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_mtp_layers_as_ollama_reads_them(tmp_path):
    declared = build_metadata_gguf(tmp_path / "a.gguf", arch="qwen35", uint32s={"{arch}.nextn_predict_layers": 2})
    assert read_gguf_info(declared).mtp_layers == 2
    assert read_gguf_info(build_metadata_gguf(tmp_path / "b.gguf", arch="qwen35")).mtp_layers == 0
    assert read_gguf_info(_qwen35_with_mtp_tensor(tmp_path / "c.gguf")).mtp_layers == 1


def test_the_row_keeps_it_and_the_table_marks_it(capsys):
    from blossom_edge.cli.commands.bench import render
    from blossom_edge.cli.output import Output

    base = {"model_filename": "/m/x.gguf", "n_threads": 2, "n_gen": 8, "avg_ts": 10.0, "stddev_ts": 0.5}
    rows = [BenchRow.from_dict({**base, "mtp_layers": 1}), BenchRow.from_dict({**base, "model_filename": "/m/y.gguf"})]
    assert rows[0].to_dict()["mtp_layers"] == 1 and rows[1].mtp_layers is None
    assert BenchRow.from_dict({"mtp_layers": "yes"}).mtp_layers is None
    render(Output(False), rows, None)
    out = capsys.readouterr().out
    assert "x.gguf +MTP" in out and "y.gguf +MTP" not in out and "+MTP: carries MTP layers" in out
