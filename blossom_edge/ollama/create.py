"""Blossom into Ollama: which release a source is, its Modelfile, and the whole `ollama create` flow.

`blossom-edge modelfile` stops after rendering, `blossom-edge ollama create` goes on to
quantize (when given a checkpoint), write the Modelfile and create the model in a running
server, and the demo writes its Modelfile the same way, so all three agree on names, FROM
paths and tags.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from blossom_edge.errors import NotFoundError, UsageError

if TYPE_CHECKING:
    from blossom_edge.catalog import ModelInfo
    from blossom_edge.ollama.client import Created


def identify_gguf(path: Path, alias: str | None) -> ModelInfo:
    """The catalog entry for a GGUF: from --model, else from the `quantize` file name."""
    from blossom_edge.catalog import MODELS, resolve
    from blossom_edge.naming import stem_of

    if alias:
        return resolve(alias)
    stem = stem_of(path, [m.name for m in MODELS])
    if stem is None:
        raise UsageError(f"cannot tell which Blossom release {path.name} is from its name; "
                         "say it with --model ALIAS (see `blossom-edge models`)")
    return next(m for m in MODELS if m.name == stem)


def identify(source: str, alias: str | None) -> ModelInfo:
    """The catalog entry for any SRC: a GGUF by its name, a checkpoint by alias, repo or directory name."""
    from blossom_edge.catalog import lookup, resolve
    from blossom_edge.source import is_gguf_source

    if is_gguf_source(source):
        return identify_gguf(Path(source).expanduser(), alias)
    if alias:
        return resolve(alias)
    found = lookup(source) or lookup(Path(source).name)
    if found is None:
        raise UsageError(f"cannot tell which Blossom release '{source}' is; say it with --model ALIAS "
                         "(see `blossom-edge models`)")
    return found


def _existing_gguf(source: str) -> Path:
    gguf = Path(source).expanduser()
    if not gguf.is_file():
        raise NotFoundError(f"no such GGUF file: {gguf}")
    return gguf


@dataclass(frozen=True)
class Rendered:
    """A Modelfile ready to print or write, and what it was made for."""

    text: str
    tag: str
    model: ModelInfo
    from_value: str


def render_for_source(source: str, *, qtype: str, tag: str | None = None, gpu: bool = False,
                      num_ctx: int | None = None, system: str | None = None, alias: str | None = None,
                      modelfile_dir: Path) -> Rendered:
    """The published-style Modelfile for a GGUF file, or for the file `quantize` would make from an alias."""
    from blossom_edge.catalog import OLLAMA_NAMESPACE, resolve
    from blossom_edge.naming import gguf_name
    from blossom_edge.ollama.modelfile import blossom_modelfile, from_path
    from blossom_edge.ollama.names import choose_tag
    from blossom_edge.quantize.types import parse_qtype
    from blossom_edge.source import is_gguf_source

    quant = parse_qtype(qtype).name
    if is_gguf_source(source):
        gguf = _existing_gguf(source)
        model = identify_gguf(gguf, alias)
        from_value = from_path(gguf, modelfile_dir)
    else:
        model = resolve(source)
        from_value = f"./{gguf_name(model.name, quant)}"
    chosen = choose_tag(model, tag, gpu)
    text = blossom_modelfile(model, from_value, name=f"{OLLAMA_NAMESPACE}:{chosen}", gpu=gpu, num_ctx=num_ctx,
                             system=system)
    return Rendered(text, chosen, model, from_value)


def write_modelfile(model: ModelInfo, gguf: Path, path: Path, *, name: str, gpu: bool = False,
                    num_ctx: int | None = None, system: str | None = None) -> str:
    """Write the Modelfile for `gguf` at `path`, FROM relative to it as Ollama resolves it; returns its text."""
    from blossom_edge.atomic import atomic_write_text
    from blossom_edge.ollama.modelfile import blossom_modelfile, from_path

    text = blossom_modelfile(model, from_path(gguf, path.parent), name=name, gpu=gpu, num_ctx=num_ctx,
                             system=system)
    atomic_write_text(path, text)
    return text


@dataclass(frozen=True)
class CreateResult:
    """What `create_in_ollama` made: the model, the GGUF it came from, its Modelfile, the server."""

    created: Created
    gguf: Path
    modelfile: Path
    server: str


def create_in_ollama(source: str, qtype: str | None = None, *, gpu: bool = False, name: str | None = None,
                     push: bool = False, num_ctx: int | None = None, system: str | None = None,
                     alias: str | None = None, host: str | None = None, output_dir: Path | None = None,
                     progress: Callable[[str], None] = lambda _msg: None) -> CreateResult:
    """Check everything cheap first (name, tag, file, server), then quantize if needed, write the
    Modelfile, create the model and read it back."""
    from blossom_edge.catalog import DEFAULT_QTYPE
    from blossom_edge.ollama import client as oc
    from blossom_edge.ollama.names import choose_tag, parse_model_name
    from blossom_edge.quantize import pipeline
    from blossom_edge.quantize.types import parse_qtype
    from blossom_edge.source import is_gguf_source

    is_gguf = is_gguf_source(source)
    if is_gguf and qtype:
        raise UsageError("QTYPE applies when quantizing; a GGUF file is used as it is")
    quant = None if is_gguf else parse_qtype(qtype or DEFAULT_QTYPE).name.lower()
    model = identify(source, alias)
    full_name = parse_model_name(name or model.ollama_name(gpu=gpu))
    tag = choose_tag(model, full_name.tag, gpu)
    gguf = _existing_gguf(source) if is_gguf else None
    client = oc.connect(host)
    url = oc.server_url(client)
    oc.ping(client, url)

    if gguf is None:
        gguf = pipeline.quantize_source(source, quant, output_dir or Path.cwd())
    modelfile_dir = output_dir or gguf.parent
    modelfile_path = modelfile_dir / f"{tag}.Modelfile"
    text = write_modelfile(model, gguf, modelfile_path, name=str(full_name), gpu=gpu, num_ctx=num_ctx, system=system)
    progress(f"wrote {modelfile_path}")
    created = oc.create_model(client, str(full_name), text, modelfile_dir, url, progress=progress, push=push)
    return CreateResult(created, gguf, modelfile_path, url)
