"""Checkpoints from the Hugging Face hub, through huggingface-hub (cache, resume, offline).

Only what conversion reads is fetched: safetensors shards and index, config and
tokenizer files, and the model card for metadata. HF_HOME and HF_HUB_OFFLINE are
honoured by huggingface-hub itself; every failure it can report becomes one line.
"""

from __future__ import annotations

import re
from pathlib import Path

from blossom_edge.base.errors import NetworkError, NotFoundError, UnsupportedError
from blossom_edge.inputs.source import CheckpointDir, GgufSource, HubSource, LocalSource, Source, classify
from blossom_edge.model.catalog import ModelInfo

ALLOW_PATTERNS = [
    "*.safetensors",
    "model.safetensors.index.json",
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer.model",
    "tokenizer_config.json",
    # Newer checkpoints keep the chat template beside tokenizer_config.json; gguf-py reads both.
    "chat_template.jinja",
    "chat_template.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
    "README.md",
    # A multimodal checkpoint's image normalisation, which its vision projector carries (convert/projector.py).
    "preprocessor_config.json",
    "processor_config.json",
]
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def resolve_source(src: str | Source) -> LocalSource:
    """A local directory as it is, or a catalog alias / repo id downloaded into the HF cache."""
    source = classify(src)
    if isinstance(source, CheckpointDir):
        return LocalSource(path=source.path, repo_id=source.repo_id, revision=source.revision, model=source.model)
    if isinstance(source, HubSource) and source.model is not None:
        return download(source.model.repo_id, source.revision, source.model)
    if isinstance(source, HubSource) and _REPO_ID.match(source.repo_id):
        return download(source.repo_id, source.revision, None)
    if isinstance(source, GgufSource) and source.path.exists():
        raise NotFoundError(f"{source.text} is a file, not a checkpoint directory or model name")
    raise NotFoundError(
        f"{source.text} is neither a local directory, a catalog alias (see `blossom-edge models`) nor a repo id "
        "org/name"
    )


def download(repo_id: str, revision: str | None, model: ModelInfo | None) -> LocalSource:
    """Fetch (or find in the cache) the files conversion needs; progress bars come from huggingface-hub."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = f"{repo_id}@{revision}" if revision else repo_id
    try:
        local = Path(snapshot_download(repo_id, revision=revision, allow_patterns=ALLOW_PATTERNS))
    except GatedRepoError as exc:
        raise NetworkError(
            f"{where} is gated: accept its licence on huggingface.co and log in with `hf auth login`"
        ) from exc
    except RevisionNotFoundError as exc:
        raise NotFoundError(f"{where}: revision not found on the hub") from exc
    except RepositoryNotFoundError as exc:
        raise NotFoundError(f"{repo_id}: no such repository on the hub (or it is private)") from exc
    except (LocalEntryNotFoundError, OfflineModeIsEnabled) as exc:
        raise NetworkError(
            f"cannot download {where}: offline and not in the local cache "
            "(connect to the internet, or pass a local checkpoint directory)"
        ) from exc
    except HfHubHTTPError as exc:
        raise NetworkError(f"cannot download {where}: {str(exc).splitlines()[0]}") from exc
    except OSError as exc:
        raise NetworkError(f"cannot download {where}: {exc}") from exc
    if not any(local.glob("*.safetensors")):
        raise UnsupportedError(
            f"{where} has no safetensors weights; PyTorch pickle checkpoints (*.bin) are refused because "
            "loading them runs arbitrary code"
        )
    return LocalSource(path=local, repo_id=repo_id, revision=revision, model=model)


def is_cached(repo_id: str, revision: str | None = None) -> bool:
    """Whether huggingface-hub's cache already holds this repository (its config.json), so no download is due."""
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(repo_id, "config.json", revision=revision), str)


def cache_dir() -> Path:
    """Where huggingface-hub keeps downloads (HF_HOME / HF_HUB_CACHE honoured)."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)
