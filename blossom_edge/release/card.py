"""The model card (`README.md` with the Hub's YAML front matter) and the Modelfiles of one model.

Everything is read back from what the release left on disk (manifests, quality and split
records), so a resumed release writes the same card as an uninterrupted one; files are
rewritten only when their text changes, so a second run leaves them untouched.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from blossom_edge.release import resume

if TYPE_CHECKING:
    from blossom_edge.model.catalog import ModelInfo
    from blossom_edge.release.plan import ModelSpec

CARD_NAME = "README.md"
TERMUX_URL = "https://raw.githubusercontent.com/blossom-edge/blossom-edge/main/scripts/termux.sh"


def _write_if_changed(path: Path, text: str) -> bool:
    from blossom_edge.base.atomic import atomic_write_text

    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except OSError:
        pass
    atomic_write_text(path, text)
    return True


def file_rows(spec: ModelSpec, qtypes: list[str]) -> list[dict[str, Any]]:
    """Per type: its manifest, quality record and shards, as the card and the Hub push list them."""
    from blossom_edge.model.naming import gguf_name
    from blossom_edge.quantize.manifest import manifest_path
    from blossom_edge.quantize.types import parse_qtype

    rows = []
    for qtype in qtypes:
        final = spec.model_dir / gguf_name(spec.stem, parse_qtype(qtype).name)
        manifest = resume.read_record(manifest_path(final))
        if manifest is None:
            raise FileNotFoundError(2, "a release output is missing its manifest", str(final))
        rows.append({"final": final, "manifest": manifest,
                     "quality": resume.matching_quality(spec.model_dir, final, manifest["sha256"]),
                     "shards": _shard_names(resume.read_record(resume.split_path(spec.model_dir, final)),
                                            manifest["sha256"])})
    return rows


def _shard_names(split: dict[str, Any] | None, sha256: str) -> list[str]:
    """The shard files a split record lists for this very file; a record of another file, or one edited
    into another shape, lists none (the card then offers the unsplit file only)."""
    if not split or split.get("sha256") != sha256 or not isinstance(split.get("shards"), list):
        return []
    return [s["file"] for s in split["shards"] if isinstance(s, dict) and isinstance(s.get("file"), str)]


def write_card(spec: ModelSpec, qtypes: list[str], *, gpu_tags: bool, quantized_by: str) -> dict[str, Any]:
    """Write README.md and, for a catalog model, its Modelfiles; returns what is there and what changed."""
    from blossom_edge.model.catalog import lookup

    model = lookup(spec.alias) if spec.alias else None
    rows = file_rows(spec, qtypes)
    modelfiles = _modelfiles(spec, model, rows, gpu_tags)
    changed = [name for name, text in modelfiles.items() if _write_if_changed(spec.model_dir / name, text)]
    card = render_card(spec, model, rows, sorted(modelfiles), quantized_by)
    if _write_if_changed(spec.model_dir / CARD_NAME, card):
        changed.append(CARD_NAME)
    return {"card": str(spec.model_dir / CARD_NAME), "modelfiles": sorted(modelfiles), "changed": changed}


def _modelfiles(spec: ModelSpec, model: ModelInfo | None, rows: list[dict[str, Any]], gpu_tags: bool) -> dict[str, str]:
    """File name → text of the cpu (and gpu) Modelfile of every type, FROM the unsplit file (and the
    vision projector), drafting with the file's MTP layers where it has them."""
    from blossom_edge.inputs.gguf_info import read_gguf_info
    from blossom_edge.ollama.create import own_chat
    from blossom_edge.ollama.modelfile import blossom_modelfile, catalog_chat, from_path
    from blossom_edge.release.tags import modelfile_name, ollama_name

    if model is None:
        return {}
    files = {}
    for row in rows:
        chat = own_chat(str(row["final"]), model) or catalog_chat(model)
        found = projector(spec, row)
        projector_from = from_path(found, spec.model_dir) if found else None
        mtp_layers = read_gguf_info(row["final"]).mtp_layers
        for gpu in (False, True) if gpu_tags else (False,):
            name = ollama_name(model, row["manifest"]["qtype"], gpu)
            files[modelfile_name(name)] = blossom_modelfile(model, from_path(row["final"], spec.model_dir),
                                                            name=str(name), gpu=gpu, chat=chat,
                                                            projector=projector_from, mtp_layers=mtp_layers)
    return files


def projector(spec: ModelSpec, row: dict[str, Any]) -> Path | None:
    """The vision projector a type's manifest records, in the model's folder; None for a text model."""
    record = row["manifest"].get("projector")
    return spec.model_dir / record["file"] if record else None


def _figure(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def render_card(spec: ModelSpec, model: ModelInfo | None, rows: list[dict[str, Any]], modelfiles: list[str],
                quantized_by: str) -> str:
    """The card's text: front matter, the files table, and how to run a file three ways."""
    from blossom_edge.base.output import human_bytes
    from blossom_edge.release.tags import ollama_name

    first = rows[0]["manifest"]
    source = first.get("source") or {}
    repo = model.repo_id if model else source.get("repo_id")
    front = ["---"]
    if repo:
        front += [f"base_model: {repo}", "base_model_relation: quantized"]
    if model:
        front.append(f"license: {model.license}")
    front += ["language:", "- zh", "- en", "tags:", "- gguf", "- llama.cpp", "- ollama", "- blossom",
              f"quantized_by: {quantized_by}", "pipeline_tag: text-generation", "---", ""]
    tools = first.get("tools", {})
    origin = f"[{repo}](https://huggingface.co/{repo})" if repo else f"`{spec.stem}`"
    revision = source.get("revision")
    lines = [f"# {spec.stem} GGUF", "",
             f"GGUF files of {origin}" + (f" at revision `{revision}`" if revision else "")
             + (f" (base model {model.base_model})" if model else "")
             + f", quantized with llama.cpp {tools.get('llama_cpp', '?')} by blossom-edge "
             f"{tools.get('blossom_edge', '?')}.", "",
             "## Files", "",
             "| file | type | size | bits per weight | perplexity | KL divergence (mean / p99) | same top token "
             "| sha256 |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    measured = None
    for row in rows:
        m, q = row["manifest"], row["quality"] or {}
        measured = measured or (q if q.get("reference") else None)
        kl = f"{_figure(q.get('kl_mean'), 4)} / {_figure(q.get('kl_p99'), 4)}" if q else "—"
        same = f"{q['same_top']:.1%}" if q.get("same_top") is not None else "—"
        lines.append(f"| `{m['file']}` | {m['qtype']} | {human_bytes(m['bytes'])} | {m['bits_per_weight']:.2f} | "
                     f"{_figure(q.get('perplexity'), 3)} | {kl} | {same} | `{m['sha256']}` |")
    vision = first.get("projector")
    if vision:
        lines.append(f"| `{vision['file']}` | vision projector, {vision['type']} | {human_bytes(vision['bytes'])} "
                     f"| — | — | — | — | `{vision['sha256']}` |")
    lines.append("")
    if vision:
        lines += [f"The model sees images through its vision projector `{vision['file']}`, one file for every type "
                  "above: keep it beside the model (llama.cpp: `--mmproj`; the Modelfiles name it as a second FROM).",
                  ""]
    if measured:
        reference, text = measured["reference"], measured["text"].removeprefix("blossom-edge:")
        lines += [f"Perplexity and KL divergence are llama-perplexity's (`-f {text} -c {measured['ctx']}`, then "
                  f"`--kl-divergence` against the 16-bit file, {reference['type']}, perplexity "
                  f"{reference['perplexity']:.3f}), on blossom-edge's Chinese/English evaluation text `{text}` "
                  f"({measured['chunks']} chunks of {measured['ctx']} tokens, the second half of each scored; "
                  f"sha256 `{measured['text_sha256'][:12]}…`). They rank the types of this model, not models "
                  "against each other; `blossom-edge quality` or llama-perplexity reproduces them.", ""]
    split = [row for row in rows if row["shards"]]
    if split:
        lines += ["Files over the Hub's size limit are also split in llama.cpp's layout; load a split file from "
                  "its first shard. The unsplit file is kept for Ollama, which cannot read split files:", ""]
        lines += [f"- `{row['manifest']['file']}`: " + ", ".join(f"`{s}`" for s in row["shards"]) for row in split]
        lines.append("")
    example = next((r for r in rows if r["manifest"]["qtype"] == "Q4_K_M"), rows[0])
    first_file = example["shards"][0] if example["shards"] else example["manifest"]["file"]
    lines += ["## Run it", "", "With llama.cpp:", "", "```sh", f"llama-cli -m {first_file} -cnv"]
    if vision:
        lines.append(f"llama-mtmd-cli -m {first_file} --mmproj {vision['file']} --image photo.jpg -p 'Describe it.'")
    lines += ["```", ""]
    if model is not None and modelfiles:
        name = ollama_name(model, example["manifest"]["qtype"], False)
        lines += ["With Ollama (each Modelfile here is one tag"
                  + (", `-gpu` tags keep every layer on the GPU" if any("-gpu" in f for f in modelfiles) else "")
                  + "):", "", "```sh", f"ollama run {name}",
                  f"# or from these files: ollama create {name} -f {modelfiles[0]}", "```", "",
                  "On an Android phone (Termux), install Ollama and run the same tag:", "", "```sh",
                  f"curl -fsSL {TERMUX_URL} | bash", f"ollama run {name}", "```", ""]
    else:
        lines += ["On an Android phone (Termux), install Ollama with", "", "```sh", f"curl -fsSL {TERMUX_URL} | bash",
                  "```", "", f"and create a model from `{example['manifest']['file']}` with a Modelfile.", ""]
    return "\n".join(front + lines)
