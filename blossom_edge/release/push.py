"""Publishing a finished release: to the Hugging Face Hub (resumable commits) and to Ollama.

The Hub gets, per model, each GGUF as its own commit (its shards when it was split, since the
Hub refuses files over 50 GB) with its manifest, then the card, Modelfiles and importance
matrix; files the repository already holds with the same content are not sent again, so an
interrupted push resumes. Ollama gets every Modelfile's model, created from the unsplit file
under the catalog's published name and pushed with the official client.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blossom_edge.base.errors import NetworkError, UsageError

if TYPE_CHECKING:
    from huggingface_hub import HfApi

    from blossom_edge.release.plan import ReleasePlan


@dataclass(frozen=True)
class Commit:
    """One commit of a push: which local files go to which paths in the repository, and why."""

    message: str
    files: tuple[tuple[str, Path], ...]


def hub_repo(template: str, stem: str, models: int) -> str:
    """`ORG/NAME` for one model; with several, NAME must hold `{model}` (`Azure99/{model}-GGUF`)."""
    if "{model}" not in template and models > 1:
        raise UsageError("--push-hub with several models needs {model} in the name, like ORG/{model}-GGUF")
    repo = template.replace("{model}", stem)
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise UsageError(f"--push-hub wants ORG/NAME, got '{template}'")
    return repo


def hub_commits(plan: ReleasePlan, stem: str) -> list[Commit]:
    """The commits for one model, in order: one per quant type, the vision projector (a multimodal
    model), then the card and the small files."""
    from blossom_edge.model.naming import imatrix_name
    from blossom_edge.quantize.manifest import manifest_path
    from blossom_edge.release.card import CARD_NAME, file_rows, projector

    model = next(m for m in plan.models if m.spec.stem == stem)
    directory = model.spec.model_dir
    commits = []
    rows = file_rows(model.spec, plan.qtypes)
    for row in rows:
        final: Path = row["final"]
        ggufs = [directory / s for s in row["shards"]] or [final]
        files = [(p.name, p) for p in ggufs] + [(manifest_path(final).name, manifest_path(final))]
        what = f"{len(ggufs)} shards" if row["shards"] else "one file"
        commits.append(Commit(f"Add {final.name} ({row['manifest']['qtype']}, {what})", tuple(files)))
    projectors = {p for p in (projector(model.spec, row) for row in rows) if p is not None}
    for path in sorted(projectors):
        commits.append(Commit(f"Add the vision projector {path.name}", ((path.name, path),)))
    small = [directory / CARD_NAME, *sorted(directory.glob("*.Modelfile")), directory / imatrix_name(stem)]
    commits.append(Commit("Update model card, Modelfiles and importance matrix",
                          tuple((p.name, p) for p in small if p.is_file())))
    return commits


def _git_blob_sha(path: Path) -> str:
    """The id git (and the Hub) gives a small, non-LFS file."""
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _already_there(local: Path, remote: Any) -> bool:
    from blossom_edge.base.digest import sha256_file

    lfs = getattr(remote, "lfs", None)
    if lfs is not None:
        sha = lfs.get("sha256") if isinstance(lfs, dict) else getattr(lfs, "sha256", None)
        return getattr(remote, "size", None) == local.stat().st_size and sha == sha256_file(local)
    return getattr(remote, "blob_id", None) == _git_blob_sha(local)


def push_hub(plan: ReleasePlan, template: str, *, api: HfApi | None = None) -> list[dict[str, Any]]:
    """Create each model's repository (if needed) and send what it lacks; returns the commits made."""
    from huggingface_hub import CommitOperationAdd, HfApi
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    api = api or HfApi()
    done = []
    for model in plan.models:
        repo = hub_repo(template, model.spec.stem, len(plan.models))
        try:
            api.create_repo(repo, repo_type="model", exist_ok=True)
            remote = {f.path: f for f in api.list_repo_tree(repo, recursive=True, expand=True)
                      if hasattr(f, "blob_id")}
            for commit in hub_commits(plan, model.spec.stem):
                missing = [(name, path) for name, path in commit.files
                           if name not in remote or not _already_there(path, remote[name])]
                if not missing:
                    continue
                api.create_commit(repo, operations=[CommitOperationAdd(path_in_repo=n, path_or_fileobj=str(p))
                                                    for n, p in missing],
                                  commit_message=commit.message, repo_type="model")
                done.append({"repo": repo, "message": commit.message, "files": [n for n, _ in missing]})
        except OfflineModeIsEnabled as exc:
            raise NetworkError(f"cannot push to {repo}: huggingface-hub is offline (HF_HUB_OFFLINE is set)") from exc
        except HfHubHTTPError as exc:
            raise NetworkError(f"cannot push to {repo}: {str(exc).splitlines()[0]}") from exc
        except OSError as exc:
            raise NetworkError(f"cannot push to {repo}: {exc}") from exc
    return done


def push_ollama(plan: ReleasePlan, *, host: str | None = None, push: bool = True) -> list[dict[str, Any]]:
    """Create every Modelfile's model in the Ollama at `host` (OLLAMA_HOST) and push it to ollama.com."""
    from blossom_edge.model.catalog import lookup
    from blossom_edge.ollama import client as oc
    from blossom_edge.release.tags import modelfile_name, ollama_name

    models = [(m, lookup(m.spec.alias) if m.spec.alias else None) for m in plan.models]
    unknown = [m.spec.stem for m, info in models if info is None]
    if unknown:
        raise UsageError(f"--push-ollama needs catalog models for their published names; not in the catalog: "
                         f"{', '.join(unknown)}")
    client = oc.connect(host)
    url = oc.server_url(client)
    oc.ping(client, url)
    created = []
    for model, info in models:
        for qtype in plan.qtypes:
            for gpu in (False, True) if plan.gpu_tags else (False,):
                name = ollama_name(info, qtype, gpu)
                path = model.spec.model_dir / modelfile_name(name)
                result = oc.create_model(client, str(name), path.read_text(encoding="utf-8"), model.spec.model_dir,
                                         url, progress=lambda _msg: None, push=push)
                created.append({"name": result.name, "digest": result.digest, "pushed": result.pushed})
    return created
