"""Blossom into Ollama: which release a source is, its Modelfile, and the whole `ollama create` flow.

`blossom-edge modelfile` stops after rendering, `blossom-edge ollama create` goes on to
quantize (when given a checkpoint), write the Modelfile and create the model in a running
server, and the demo writes its Modelfile the same way, so all three agree on names, FROM
paths and tags.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from blossom_edge.base.errors import UsageError
from blossom_edge.base.progress import NO_PROGRESS, Progress
from blossom_edge.model.naming import DEFAULT_PROJECTOR_TYPE, projector_name

if TYPE_CHECKING:
    from blossom_edge.inputs.source import CheckpointDir, GgufSource, Source
    from blossom_edge.model.catalog import ModelInfo
    from blossom_edge.ollama.chat_template import OllamaChat
    from blossom_edge.ollama.client import Created
    from blossom_edge.ollama.go.names import ModelName

# The publisher's Ollama namespace: writing there on a user's server is done only when asked.
PUBLISHER_NAMESPACE = "azure99"


def own_model(name: str, repo_id: str | None, architecture: str, context_length: int) -> ModelInfo:
    """An entry for a model the catalog does not know but whose own chat template makes its Modelfile:
    named after its repository, directory or `general.name` (`Blossom V7.1 9B` → `blossom-v7.1-9b`),
    with no catalog facts to lean on."""
    from blossom_edge.model.catalog import ModelInfo

    stem = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-._") or "model"
    repo = repo_id if repo_id and "/" in repo_id else f"local/{stem}"
    return ModelInfo(stem, repo, "", "not in the catalog", architecture, 0.0, context_length, None)


def identify_gguf(path: Path, alias: str | None) -> ModelInfo:
    """The catalog entry for a GGUF: from --model, else from the `quantize` file name, else from its
    `general.name`; a GGUF the catalog does not know but that carries its own chat template is
    named after `general.name` (or its file name) and prompted by that template."""
    from blossom_edge.inputs.gguf_info import read_gguf_info
    from blossom_edge.model.catalog import MODELS, lookup, resolve
    from blossom_edge.model.naming import base_stem, stem_of

    if alias:
        return resolve(alias)
    stem = stem_of(path, [m.name for m in MODELS])
    if stem is not None:
        return next(m for m in MODELS if m.name == stem)
    info = read_gguf_info(path)
    found = lookup(info.name) if info.name else None
    if found is not None:
        return found
    if info.chat_template:
        return own_model(info.name or base_stem(path.name.removesuffix(".gguf")), None, info.architecture,
                         info.context_length)
    raise UsageError(f"cannot tell which Blossom release {path.name} is from its name, and it carries no chat "
                     "template of its own; say it with --model ALIAS (see `blossom-edge models`)")


def identify(source: str | Source, alias: str | None) -> ModelInfo:
    """The catalog entry for any SRC: a GGUF by its name, a checkpoint by alias, repo, snapshot repository
    or directory name; a checkpoint directory the catalog does not know but that carries its own chat
    template is named after its snapshot's repository or its directory."""
    from blossom_edge.inputs.source import CheckpointDir, GgufSource, classify
    from blossom_edge.model.catalog import resolve
    from blossom_edge.ollama.chat_template import from_checkpoint

    source = classify(source)
    if isinstance(source, GgufSource):
        return identify_gguf(source.path, alias)
    if alias:
        return resolve(alias)
    if source.model is not None:
        return source.model
    if isinstance(source, CheckpointDir) and from_checkpoint(source.path) is not None:
        return _own_checkpoint(source)
    raise UsageError(f"cannot tell which Blossom release '{source.text}' is, and it carries no chat template of "
                     "its own; say it with --model ALIAS (see `blossom-edge models`)")


def _own_checkpoint(source: CheckpointDir) -> ModelInfo:
    from blossom_edge.base.bounded_read import read_json_object

    config = read_json_object(source.path / "config.json", required=False)
    text = config.get("text_config") if isinstance(config.get("text_config"), dict) else config
    architectures = config.get("architectures")
    architecture = str(architectures[0]) if isinstance(architectures, list) and architectures else "unknown"
    context = text.get("max_position_embeddings")
    name = source.repo_id.split("/")[-1] if source.repo_id else source.path.resolve().name
    return own_model(name, source.repo_id, architecture, context if isinstance(context, int) and context > 0 else 0)


def _existing_gguf(source: GgufSource) -> Path:
    from blossom_edge.inputs.gguf_check import require_gguf_file

    require_gguf_file(source.path)
    return source.path


def own_chat(source: str | Source, model: ModelInfo | None = None) -> OllamaChat | None:
    """The proved prompt layout from the model's own chat template: a checkpoint directory's, a GGUF's
    `tokenizer.chat_template`, or for an alias or repo id its checkpoint's when huggingface-hub's cache
    holds it. None when no template is at hand; the catalog's format is the fallback then."""
    from blossom_edge.inputs.source import HubSource, classify
    from blossom_edge.ollama import chat_template

    source = classify(source)
    template = None
    if not isinstance(source, HubSource):
        template = chat_template.from_source(source.path)
    elif model is not None:
        cached = chat_template.cached_checkpoint(model.repo_id, source.revision)
        template = chat_template.from_checkpoint(cached) if cached else None
    return chat_template.derive(template) if template else None


def quant_of(gguf: Path, model: ModelInfo) -> str:
    """The quant type a `quantize` output is named for (`q4_k_m` from `blossom-v5-4b-Q4_K_M.gguf`)."""
    from blossom_edge.model.naming import base_stem

    stem = gguf.name.removesuffix(".gguf").removesuffix(".GGUF")
    if stem.lower().startswith(model.name):
        return stem[len(model.name):].lstrip("-.").lower() or "latest"
    # A file named otherwise (a model named after its general.name): its type suffix, if any.
    return stem[len(base_stem(stem)):].lstrip("-.").lower() or "latest"


def modelfile_name(model: ModelInfo, tag: str) -> str:
    """The Ollama name a Modelfile for `tag` is headed with: the publisher's line when it has one."""
    base = model.published.split(":", 1)[0] if model.published else model.name
    return f"{base}:{tag}"


@dataclass(frozen=True)
class Rendered:
    """A Modelfile ready to print or write, and what it was made for."""

    text: str
    tag: str
    model: ModelInfo
    from_value: str
    projector_value: str | None = None


def projector_for(gguf: Path, model: ModelInfo, given: Path | None = None) -> Path | None:
    """The vision projector a Modelfile for `gguf` names as its second FROM: `given` (checked), else
    the one quantize or convert wrote beside it, else None (a text-only model)."""
    from blossom_edge.inputs.projector import checked_projector, projector_beside

    if given is not None:
        return checked_projector(given)
    return projector_beside(gguf, model.name)


def render_for_source(source: str | Source, *, qtype: str, tag: str | None = None, gpu: bool = False,
                      num_ctx: int | None = None, system: str | None = None, alias: str | None = None,
                      modelfile_dir: Path, mmproj: Path | None = None) -> Rendered:
    """The Modelfile for a GGUF file, a checkpoint directory (its own chat template, proved) or the
    file `quantize` would make from an alias; a multimodal model's projector is its second FROM."""
    from blossom_edge.inputs.gguf_info import read_gguf_info
    from blossom_edge.inputs.source import CheckpointDir, GgufSource, classify
    from blossom_edge.model.catalog import resolve
    from blossom_edge.model.naming import gguf_name
    from blossom_edge.ollama.modelfile import blossom_modelfile, from_path
    from blossom_edge.ollama.names import choose_tag
    from blossom_edge.quantize.types import parse_qtype

    quant = parse_qtype(qtype).name
    source = classify(source)
    projector = None
    mtp_layers = 0
    if isinstance(source, GgufSource):
        gguf = _existing_gguf(source)
        model = identify_gguf(gguf, alias)
        from_value = from_path(gguf, modelfile_dir)
        quant = quant_of(gguf, model)
        found = projector_for(gguf, model, mmproj)
        projector = from_path(found, modelfile_dir) if found else None
        mtp_layers = read_gguf_info(gguf).mtp_layers
    else:
        model = identify(source, alias) if isinstance(source, CheckpointDir) else resolve(source.text)
        from_value = f"./{gguf_name(model.name, quant)}"
        if mmproj is not None:
            raise UsageError("--mmproj goes with a GGUF file; from a checkpoint, quantize writes the projector")
        if isinstance(source, CheckpointDir) and _has_vision_tower(source.path):
            projector = f"./{projector_name(model.name, DEFAULT_PROJECTOR_TYPE)}"
    chat = own_chat(source, model)
    if tag is None and model.published is None:
        tag = f"{quant.lower()}-gpu" if gpu else quant.lower()
    chosen = choose_tag(model, tag, gpu)
    text = blossom_modelfile(model, from_value, name=modelfile_name(model, chosen), gpu=gpu, num_ctx=num_ctx,
                             system=system, chat=chat, mtp_layers=mtp_layers, projector=projector)
    return Rendered(text, chosen, model, from_value, projector)


def _has_vision_tower(directory: Path) -> bool:
    from blossom_edge.convert.projector import has_vision_tower

    return has_vision_tower(directory)


def write_modelfile(model: ModelInfo, gguf: Path, path: Path, *, name: str, gpu: bool = False,
                    num_ctx: int | None = None, system: str | None = None, chat: OllamaChat | None = None,
                    projector: Path | None = None) -> str:
    """Write the Modelfile for `gguf` (and its projector) at `path`, FROM relative to it as Ollama
    resolves it (with draft_num_predict when the GGUF carries MTP layers); returns its text."""
    from blossom_edge.base.atomic import atomic_write_text
    from blossom_edge.inputs.gguf_info import read_gguf_info
    from blossom_edge.ollama.modelfile import blossom_modelfile, from_path

    text = blossom_modelfile(model, from_path(gguf, path.parent), name=name, gpu=gpu, num_ctx=num_ctx,
                             system=system, chat=chat, mtp_layers=read_gguf_info(gguf).mtp_layers,
                             projector=from_path(projector, path.parent) if projector else None)
    atomic_write_text(path, text)
    return text


@dataclass(frozen=True)
class CreateResult:
    """What `create_in_ollama` made: the model, the GGUF it came from, its Modelfile, the server."""

    created: Created
    gguf: Path
    modelfile: Path
    server: str
    projector: Path | None = None


def target_name(model: ModelInfo, quant: str, *, gpu: bool, name: str | None, publish: bool,
                warn: Callable[[str], None]) -> ModelName:
    """The Ollama name to create: `--name` as given, the publisher's with `--publish`, else a local
    name outside any namespace (`blossom-v5-4b:q4_k_m`), so a pulled model is never replaced unasked."""
    from blossom_edge.ollama.go.names import parse_model_name

    if name is not None and publish:
        raise UsageError("give --name or --publish, not both")
    if publish:
        if model.published is None:
            raise UsageError(f"{model.alias} has no published Ollama name (see `blossom-edge models`); "
                             "choose one with --name")
        chosen = parse_model_name(model.ollama_name(gpu=gpu))
    else:
        chosen = parse_model_name(name or model.local_ollama_name(quant, gpu))
    if chosen.namespace.lower() == PUBLISHER_NAMESPACE:
        warn(f"note: writing into the publisher's namespace as {chosen}; a model of that name pulled "
             "from ollama.com is replaced on this server")
    return chosen


def create_in_ollama(source: str | Source, qtype: str | None = None, *, gpu: bool = False, name: str | None = None,
                     publish: bool = False, push: bool = False, num_ctx: int | None = None,
                     system: str | None = None, alias: str | None = None, host: str | None = None,
                     output_dir: Path | None = None, mmproj: Path | None = None, progress: Progress = NO_PROGRESS,
                     warn: Callable[[str], None] = lambda _msg: None) -> CreateResult:
    """Check everything cheap first (name, tag, template, file, server), then quantize if needed,
    write the Modelfile, create the model and read it back. The TEMPLATE comes from the model's own
    chat template (see `own_chat`; for a checkpoint not yet downloaded, from the GGUF quantize
    writes) and from the catalog's format only when there is none."""
    from blossom_edge.inputs.source import GgufSource, classify
    from blossom_edge.model.catalog import DEFAULT_QTYPE
    from blossom_edge.ollama import client as oc
    from blossom_edge.ollama.chat_template import confirm_in_gguf
    from blossom_edge.ollama.modelfile import catalog_chat
    from blossom_edge.ollama.names import choose_tag
    from blossom_edge.quantize import pipeline
    from blossom_edge.quantize.types import parse_qtype

    source = classify(source)
    is_gguf = isinstance(source, GgufSource)
    if is_gguf and qtype:
        raise UsageError("QTYPE applies when quantizing; a GGUF file is used as it is")
    if mmproj is not None and not is_gguf:
        raise UsageError("--mmproj goes with a GGUF file; from a checkpoint, quantize writes the projector")
    quant = None if is_gguf else parse_qtype(qtype or DEFAULT_QTYPE).name.lower()
    model = identify(source, alias)
    gguf = _existing_gguf(source) if is_gguf else None
    projector = projector_for(gguf, model, mmproj) if gguf else None
    full_name = target_name(model, quant_of(gguf, model) if gguf else quant, gpu=gpu, name=name,
                            publish=publish, warn=warn)
    tag = choose_tag(model, full_name.tag, gpu)
    chat = own_chat(source, model)
    if chat is None and is_gguf:
        chat = catalog_chat(model)
    client = oc.connect(host)
    url = oc.server_url(client)
    oc.ping(client, url)

    if gguf is None:
        gguf = pipeline.quantize_source(source.text, quant, output_dir or Path.cwd(), progress=progress)
        # Downloaded only now: the template the converter copied into the GGUF is the checkpoint's own.
        chat = chat or own_chat(GgufSource(gguf, str(gguf)), model) or catalog_chat(model)
        # Without TEMPLATE Ollama renders the GGUF's own: prove the one the converter wrote.
        chat = confirm_in_gguf(chat, gguf)
        projector = projector_for(gguf, model)
    modelfile_dir = output_dir or gguf.parent
    modelfile_path = modelfile_dir / f"{full_name.model}-{tag}.Modelfile"
    text = write_modelfile(model, gguf, modelfile_path, name=str(full_name), gpu=gpu, num_ctx=num_ctx,
                           system=system, chat=chat, projector=projector)
    progress.step(f"wrote {modelfile_path}")
    created = oc.create_model(client, str(full_name), text, modelfile_dir, url, progress=progress.step, push=push)
    return CreateResult(created, gguf, modelfile_path, url, projector)
