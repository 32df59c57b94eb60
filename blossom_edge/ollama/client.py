"""A running Ollama server through the official `ollama` client: connect, blobs, create, show, push.

`create_model` takes the steps `ollama create` takes, so the result is the same model: check the name
against Ollama's naming rules before sending anything, upload the GGUF (and a multimodal model's
vision projector) as blobs named by their sha256 (skipped when the server already has it), create the model from the blob with the
template, system prompt and parameters of the Modelfile, then read the model back with
/api/show and compare: a server that silently dropped a parameter or rewrote the template
would otherwise go unnoticed until the model rambles on a phone.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blossom_edge.base.errors import CorruptFileError, ExternalToolError, NetworkError, NotFoundError, UsageError
from blossom_edge.ollama.go.names import DEFAULT_NAMESPACE, parse_model_name

if TYPE_CHECKING:
    import ollama

Progress = Callable[[str], None]

# ---------------------------------------------------------------------------------------------
# Server


def server_url(client: ollama.Client) -> str:
    """The server a client talks to, for messages, as the client itself resolved OLLAMA_HOST.

    Ollama's own rules apply (a bare `0.0.0.0` means port 11434), so messages name the
    address that was really tried.
    """
    from blossom_edge.engine.ollama_http import base_url

    return base_url(client)


def unreachable(url: str) -> NetworkError:
    return NetworkError(f"no Ollama server at {url}: start one with `ollama serve` "
                        "(on Android: scripts/termux.sh), or point OLLAMA_HOST at a running one")


@contextlib.contextmanager
def talking(url: str, action: str) -> Iterator[None]:
    """Turn the client's failures into our one-line errors."""
    import httpx
    import ollama

    try:
        yield
    except (ConnectionError, httpx.TransportError):
        raise unreachable(url) from None
    except ollama.ResponseError as exc:
        status = f" (HTTP {exc.status_code})" if exc.status_code > 0 else ""
        raise ExternalToolError(f"Ollama refused to {action}: {exc.error}{status}") from None


def connect(host: str | None = None) -> ollama.Client:
    """An official client for `host` (or OLLAMA_HOST); connecting fails fast, transfers may take long."""
    import httpx
    import ollama

    return ollama.Client(host=host, timeout=httpx.Timeout(None, connect=10.0))


def ping(client: ollama.Client, url: str) -> None:
    """Fail with one clear line before any slow work when no server answers."""
    with talking(url, "list its models"):
        client.list()


def file_digest(path: Path) -> str:
    """The blob name Ollama gives a file: `sha256:<hex>`."""
    from blossom_edge.base.digest import sha256_file

    return f"sha256:{sha256_file(path)}"


def ensure_blob(client: ollama.Client, path: Path, digest: str, url: str) -> bool:
    """Upload `path` as blob `digest` unless the server has it; True when it was uploaded.

    The official client has no call for HEAD /api/blobs/:digest (see `engine/ollama_http.py`).
    """
    from blossom_edge.engine.ollama_http import blob_status

    with talking(url, f"take the blob {digest}"):
        status = blob_status(client, digest)
        if status == 200:
            return False
        if status != 404:
            raise ExternalToolError(f"Ollama answered HEAD /api/blobs/{digest} with HTTP {status}")
        uploaded = client.create_blob(path)
    if uploaded != digest:
        raise CorruptFileError(f"{path} changed while it was being uploaded ({digest} became {uploaded})")
    return True


def _go_unquote(text: str) -> str:
    """A Go-quoted string literal (what `%#v` prints) back to text."""
    out = bytearray()
    body = text[1:-1]
    simple = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92, '"': 34, "'": 39}
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out += ch.encode()
            i += 1
            continue
        code = body[i + 1]
        if code in simple:
            out.append(simple[code])
            i += 2
        elif code == "x":
            out.append(int(body[i + 2:i + 4], 16))
            i += 4
        elif code in "uU":
            width = 4 if code == "u" else 8
            out += chr(int(body[i + 2:i + 2 + width], 16)).encode()
            i += 2 + width
        else:
            out.append(int(body[i + 1:i + 4], 8))
            i += 4
    return out.decode("utf-8", errors="replace")


def parse_show_parameters(text: str) -> dict[str, list[Any]]:
    """/api/show's `parameters`: one `name<padding> %#v-value` line per value, lists repeated."""
    values: dict[str, list[Any]] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        key, _, raw = line.strip().partition(" ")
        raw = raw.strip()
        if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
            value: Any = _go_unquote(raw)
        elif raw in ("true", "false"):
            value = raw == "true"
        else:
            try:
                value = float(raw)
            except ValueError:
                value = raw
        values.setdefault(key, []).append(value)
    return values


def _same(expected: Any, got: Any) -> bool:
    if isinstance(expected, bool) or isinstance(got, bool):
        return expected == got
    if isinstance(expected, (int, float)) and isinstance(got, (int, float)):
        return math.isclose(float(expected), float(got), rel_tol=1e-6)
    return expected == got


def parameter_differences(expected: dict[str, Any], shown: dict[str, list[Any]]) -> list[str]:
    """Which sent parameters the server does not report back as sent."""
    problems = []
    for name, value in expected.items():
        want = value if isinstance(value, list) else [value]
        got = shown.get(name, [])
        if len(got) != len(want) or not all(_same(w, g) for w, g in zip(want, got)):
            problems.append(f"{name}: sent {want}, server has {got}")
    return problems


@dataclass
class Created:
    """What `create_model` did, for the command's summary and --json."""

    name: str
    digest: str
    uploaded: bool
    statuses: list[str]
    notes: list[str]
    pushed: bool = False
    # The vision projector's blob, sent as the second file for a multimodal model.
    projector_digest: str | None = None


def _blob_files(fields: dict[str, Any], base_dir: Path) -> list[Path]:
    """The files the FROM lines name: the model, then (for a multimodal model) its vision projector."""
    sources = fields.get("model", [])
    if not 1 <= len(sources) <= 2:
        raise UsageError("the Modelfile must have one FROM line naming a GGUF file, and a second one only "
                         "for its vision projector")
    if fields.get("adapter") or fields.get("draft"):
        raise UsageError("ADAPTER and DRAFT are not supported by `blossom-edge ollama create`")
    paths = []
    for source in sources:
        path = Path(os.path.expanduser(source))
        path = path if path.is_absolute() else base_dir / path
        if not path.is_file():
            raise NotFoundError(f"FROM names {source}, but there is no such file: {path}")
        paths.append(path)
    if len(paths) == 2:
        from blossom_edge.inputs.projector import is_projector

        if not is_projector(paths[1]) or is_projector(paths[0]):
            raise UsageError("with two FROM lines the first must name the model and the second its vision "
                             f"projector; {paths[1].name} is not a projector for {paths[0].name}")
    return paths


def verify(client: ollama.Client, name: str, fields: dict[str, Any], url: str, *, projector: bool = False) -> list[str]:
    """Read the model back and compare template, parameters, system prompt and (when one was sent) the
    vision projector, which Ollama shows as the `vision` capability, with what was sent.

    Returns notes for what could not be compared; raises ExternalToolError on a difference.
    """
    from blossom_edge.ollama.go.modelfile_parser import ModelfileError, parse

    with talking(url, f"show {name}"):
        shown = client.show(name)
    problems = []
    if (shown.template or "") != fields.get("template", ""):
        problems.append("the TEMPLATE differs from the one sent")
    problems += parameter_differences(fields.get("parameters", {}), parse_show_parameters(shown.parameters or ""))
    notes = []
    try:
        echoed = [c.args for c in parse(shown.modelfile or "") if c.name == "system"]
    except ModelfileError:
        notes.append("could not read the SYSTEM prompt back from Ollama's own Modelfile")
    else:
        if echoed[-1:] != ([fields["system"]] if "system" in fields else []):
            problems.append("the SYSTEM prompt differs from the one sent")
    if projector and "vision" not in (shown.capabilities or []):
        problems.append("it did not take the second FROM file as a vision projector")
    if problems:
        raise ExternalToolError(f"Ollama created {name}, but {'; '.join(problems)}")
    return notes


def create_model(client: ollama.Client, name: str, modelfile_text: str, base_dir: Path, url: str,
                 progress: Progress, push: bool = False) -> Created:
    """Create `name` from a Modelfile whose FROM is a local GGUF: blob, create, show, optional push."""
    from blossom_edge.ollama.go.create_request import create_fields
    from blossom_edge.ollama.go.modelfile_parser import parse

    model = parse_model_name(name)
    fields = create_fields(parse(modelfile_text))
    paths = _blob_files(fields, base_dir)
    if push and model.namespace == DEFAULT_NAMESPACE:
        raise UsageError(f"cannot push {name}: give it your ollama.com namespace, like azure99/blossom:TAG")
    files: dict[str, str] = {}
    uploaded = False
    for path in paths:
        progress(f"hashing {path.name}")
        digest = file_digest(path)
        progress(f"uploading {path.name} as {digest}")
        uploaded = ensure_blob(client, path, digest, url) or uploaded
        files[path.name] = digest
    digest = files[paths[0].name]
    statuses = []
    with talking(url, f"create {name}"):
        for part in client.create(
            model=name, files=files, template=fields.get("template"), system=fields.get("system"),
            parameters=fields.get("parameters"), messages=fields.get("messages"), license=fields.get("license"),
            stream=True,
        ):
            statuses.append(part.status or "")
            progress(part.status or "")
    if not statuses or statuses[-1] != "success":
        raise ExternalToolError(f"Ollama stopped creating {name} without success (last: {statuses[-1:]})")
    notes = verify(client, name, fields, url, projector=len(paths) > 1)
    created = Created(name, digest, uploaded, statuses, notes,
                      projector_digest=files[paths[1].name] if len(paths) > 1 else None)
    if push:
        with talking(url, f"push {name}"):
            last = ""
            for part in client.push(name, stream=True):
                last = part.status or last
                progress(last)
        if last != "success":
            raise ExternalToolError(f"Ollama stopped pushing {name} without success (last: {last!r})")
        created.pushed = True
    return created

