"""A stand-in Ollama server on 127.0.0.1 that follows the documented API for what we call.

There is no Ollama binary on the test machines, so this implements, from docs/api.md and the
server's behaviour: HEAD /api/blobs/:digest (200 / 404), POST /api/blobs/:digest (201, or 400
when the body does not hash to the digest), POST /api/create (streamed NDJSON progress, 400 for
an invalid name or a blob it does not have), POST /api/show (404 for an unknown model; template,
system, the `parameters` text in Ollama's `%-30s %#v` layout, and its generated Modelfile),
GET /api/tags and POST /api/push. Of several files sent to create, each GGUF becomes a model or
a projector layer as Ollama's `isProjectorGGUF` decides (server/create.go), and a projector shows
as the `vision` capability. Every request is recorded so tests can assert what was sent;
`faults` lets a test make the server misbehave in the ways we must notice.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}\Z")
# Ollama's name grammar for the forms tests use: [host/][namespace/]model[:tag].
_PART = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}"
_NAME = re.compile(rf"(?:[A-Za-z0-9_][A-Za-z0-9_.:-]*/)?(?:[A-Za-z0-9_][A-Za-z0-9_-]{{0,79}}/)?{_PART}(?::{_PART})?\Z")


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeOllama:
    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    blobs: dict[str, bytes] = field(default_factory=dict)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    # "show_template": str served instead of the stored template; "drop_parameter": name left out
    # of show; "create_error": an error object sent in the create stream; "drop_projector": show
    # without the vision capability, as a server that ignored the projector would.
    faults: dict[str, Any] = field(default_factory=dict)

    def calls(self, method: str, prefix: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.startswith(prefix)]


def go_quote(text: str) -> str:
    """strconv.Quote: what `%#v` prints for a string."""
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in "\a\b\f\n\r\t\v":
            out.append("\\" + "abfnrtv"["\a\b\f\n\r\t\v".index(ch)])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return "".join(out) + '"'


def go_float(value: float) -> str:
    """fmt's %v for a float64 (strconv 'g', shortest): exponent form when the exponent is < -4 or >= 6."""
    if value == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(float(value))).normalize().as_tuple()
    text = "".join(map(str, digits))
    exp = len(text) + exponent - 1
    if exp < -4 or exp >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{'-' if sign else ''}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    point = exp + 1
    if point <= 0:
        fixed = "0." + "0" * -point + text
    elif point >= len(text):
        fixed = text + "0" * (point - len(text))
    else:
        fixed = text[:point] + "." + text[point:]
    return ("-" if sign else "") + fixed


def _go_value(value: Any, sharp: bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return go_float(float(value))
    return go_quote(value) if sharp else str(value)


def _ollama_quote(text: str) -> str:
    """parser.quote(): how Ollama writes a value in the Modelfile /api/show returns."""
    if "\n" in text or text.startswith(" ") or text.endswith(" "):
        return f'"""{text}"""' if '"' in text else f'"{text}"'
    return text


PROJECTOR_MEDIA = "application/vnd.ollama.image.projector"
MODEL_MEDIA = "application/vnd.ollama.image.model"


def _media_type(blob: bytes) -> str:
    """Ollama's layer type for a GGUF blob: a projector by general.type, or a clip file with an encoder
    and no text blocks (isProjectorGGUF), else a model."""
    import tempfile
    from pathlib import Path

    from gguf import GGUFReader

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "blob.gguf"
        path.write_bytes(blob)
        reader = GGUFReader(path)
        kv = {k: f.contents() for k, f in reader.fields.items() if not k.startswith("GGUF.")}
    arch = kv.get("general.architecture", "")
    if kv.get("general.type") in ("projector", "mmproj"):
        return PROJECTOR_MEDIA
    if not kv.get(f"{arch}.block_count") and kv.get(f"{arch}.vision.block_count"):
        return PROJECTOR_MEDIA
    if arch == "clip" and not kv.get("clip.block_count") and (kv.get("clip.has_vision_encoder")
                                                             or kv.get("clip.has_audio_encoder")):
        return PROJECTOR_MEDIA
    return MODEL_MEDIA


def _show(name: str, model: dict[str, Any], faults: dict[str, Any]) -> dict[str, Any]:
    params = {k: v for k, v in model["parameters"].items() if k != faults.get("drop_parameter")}
    lines, modelfile = [], [
        '# Modelfile generated by "ollama show"', "# To build a new Modelfile based on this, replace FROM with:",
        f"# FROM {name}", "", f"FROM /root/.ollama/models/blobs/{model['blob'].replace(':', '-')}"]
    template = faults.get("show_template", model["template"])
    if template:
        modelfile.append(f"TEMPLATE {_ollama_quote(template)}")
    if model["system"]:
        modelfile.append(f"SYSTEM {_ollama_quote(model['system'])}")
    for key, value in params.items():
        for item in value if isinstance(value, list) else [value]:
            lines.append(f"{key:<30} {_go_value(item, sharp=True)}")
            modelfile.append(f"PARAMETER {key} {_ollama_quote(_go_value(item, sharp=False))}")
    return {"modelfile": "\n".join(modelfile) + "\n", "parameters": "\n".join(lines), "template": template,
            "system": model["system"], "details": {"parent_model": "", "format": "gguf", "family": "qwen2",
                                                   "families": ["qwen2"], "parameter_size": "4.0B",
                                                   "quantization_level": "Q4_K_M"},
            "model_info": {},
            "capabilities": ["completion"] + (["vision"] if PROJECTOR_MEDIA in model.get("layers", {}).values()
                                              and not faults.get("drop_projector") else []),
            "modified_at": "2025-01-01T00:00:00Z"}


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _record(self) -> Recorded:
        rec = Recorded(self.command, self.path, dict(self.headers), self._body() if self.command != "HEAD" else b"")
        self.server.state.requests.append(rec)
        return rec

    def _send(self, status: int, payload: Any = None, content_type: str = "application/json") -> None:
        body = b"" if payload is None else (payload if isinstance(payload, bytes) else json.dumps(payload).encode())
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _stream(self, parts: list[dict[str, Any]]) -> None:
        body = b"".join(json.dumps(p).encode() + b"\n" for p in parts)
        self._send(200, body, "application/x-ndjson")

    def do_HEAD(self) -> None:
        self._record()
        digest = self.path.removeprefix("/api/blobs/")
        if not self.path.startswith("/api/blobs/"):
            self._send(404)
        elif not _DIGEST.match(digest):
            self._send(400)
        else:
            self._send(200 if digest in self.server.state.blobs else 404)

    def do_GET(self) -> None:
        self._record()
        if self.path == "/api/tags":
            self._send(200, {"models": [{"name": n, "model": n} for n in self.server.state.models]})
        else:
            self._send(404, b"404 page not found", "text/plain")

    def do_POST(self) -> None:
        rec = self._record()
        state = self.server.state
        if self.path.startswith("/api/blobs/"):
            digest = self.path.removeprefix("/api/blobs/")
            if not _DIGEST.match(digest):
                return self._send(400, {"error": "invalid digest format"})
            if "sha256:" + hashlib.sha256(rec.body).hexdigest() != digest:
                return self._send(400, {"error": "digest mismatch"})
            state.blobs[digest] = rec.body
            return self._send(201)
        if self.path == "/api/create":
            return self._create(rec.json())
        if self.path == "/api/show":
            name = rec.json().get("model", "")
            if name not in state.models:
                return self._send(404, {"error": f"model '{name}' not found"})
            return self._send(200, _show(name, state.models[name], state.faults))
        if self.path == "/api/push":
            name = rec.json().get("model", "")
            if name not in state.models:
                return self._send(404, {"error": f"model '{name}' not found"})
            return self._stream([{"status": "retrieving manifest"}, {"status": "pushing manifest"},
                                 {"status": "success"}])
        self._send(404, b"404 page not found", "text/plain")

    def _create(self, req: dict[str, Any]) -> None:
        state = self.server.state
        name = req.get("model", "")
        if not _NAME.match(name):
            return self._send(400, {"error": "invalid model name"})
        files = req.get("files") or {}
        if not files:
            return self._send(400, {"error": "neither 'from' or 'files' was specified"})
        missing = [d for d in files.values() if d not in state.blobs]
        if missing:
            return self._send(400, {"error": f"blob {missing[0]} not found"})
        layers = {files[f]: _media_type(state.blobs[files[f]]) for f in sorted(files)}
        models = [d for d, media in layers.items() if media == MODEL_MEDIA]
        if len(models) != 1:
            return self._send(400, {"error": f"expected one model layer, got {len(models)}"})
        digest = models[0]
        parts = [{"status": "parsing GGUF"}, *({"status": f"using existing layer {d}"} for d in layers)]
        if "create_error" in state.faults:
            return self._stream(parts + [{"error": state.faults["create_error"]}])
        state.models[name] = {"blob": digest, "layers": layers, "template": req.get("template", ""), "system": req.get("system", ""),
                              "parameters": json.loads(json.dumps(req.get("parameters") or {}))}
        parts += [{"status": "creating new layer sha256:" + "0" * 64}, {"status": "writing manifest"},
                  {"status": "success"}]
        if req.get("stream") is False:
            return self._send(200, {"status": "success"})
        self._stream(parts)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: FakeOllama


def start() -> tuple[FakeOllama, _Server]:
    """Serve on a free port of 127.0.0.1 in a thread; stop with `server.shutdown()`."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.state = FakeOllama(url=f"http://127.0.0.1:{server.server_address[1]}")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.state, server
