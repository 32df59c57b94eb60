"""`bench --ollama`: rows from the timings a (fake) Ollama server returns."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from blossom_edge.cli import main
from tests import DATA

DEVICES = DATA / "devices"


class _FakeOllama(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if body["model"] != "azure99/blossom:4b":
            self.send_response(404)
            self.end_headers()
            return
        answer = {"prompt_eval_count": 100, "prompt_eval_duration": 500_000_000, "eval_count": 20,
                  "eval_duration": 2_000_000_000, "load_duration": 1_500_000_000, "done": True}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def ollama(monkeypatch: pytest.MonkeyPatch, data_home: Path):
    server = HTTPServer(("127.0.0.1", 0), _FakeOllama)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{server.server_port}")
    yield server
    server.shutdown()


def test_ollama_rows(ollama, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["bench", "--ollama", "azure99/blossom:4b", "--reps", "2", "--bandwidth", "10", "--json",
            "--device-root", str(DEVICES / "raspberry-pi-5")]
    assert main(args) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["n_prompt"], r["n_gen"]) for r in rows] == [(100, 0), (0, 20)]
    assert rows[0]["avg_ts"] == pytest.approx(200.0) and rows[1]["avg_ts"] == pytest.approx(10.0)
    assert all(len(r["samples_ts"]) == 2 and r["engine"] == "ollama" for r in rows)
    assert rows[0]["load_time_s"] == pytest.approx(1.5) and rows[0]["n_threads"] == 4


def test_ollama_reports_only_the_tests_asked_for(ollama, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["bench", "--ollama", "azure99/blossom:4b", "--reps", "1", "--bandwidth", "10", "--json",
            "--device-root", str(DEVICES / "raspberry-pi-5")]
    assert main([*base, "--tg", "0"]) == 0
    assert [r["n_gen"] for r in json.loads(capsys.readouterr().out)] == [0]
    assert main([*base, "--pp", "0"]) == 0
    assert [r["n_prompt"] for r in json.loads(capsys.readouterr().out)] == [0]


def test_ollama_unknown_model_and_no_server(ollama, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--ollama", "nope:1b", "--reps", "1", "--bandwidth", "10"]) == 1
    assert "ollama pull" in capsys.readouterr().err
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:9")
    assert main(["bench", "--ollama", "azure99/blossom:4b", "--reps", "1", "--bandwidth", "10"]) == 1
    assert "no Ollama server at http://127.0.0.1:9" in capsys.readouterr().err


def test_ollama_host_is_read_the_way_ollama_reads_it(monkeypatch) -> None:
    """A bare 0.0.0.0 (common in Termux) means port 11434, not port 80."""
    from blossom_edge.ollama.client import connect, server_url

    monkeypatch.setenv("OLLAMA_HOST", "0.0.0.0")
    assert server_url(connect()) == "http://0.0.0.0:11434"
