"""`general.*` metadata: what the model is and where it came from.

gguf-py's `Metadata.load` reads the model card and config the way llama.cpp's converter
does; the catalog then fills what a Blossom card may omit (base model, licence) and the
source repository, so a GGUF found on a phone years later still says what it is.

gguf-py opens README.md, config.json and generation_config.json itself, trusting each to be
small, UTF-8 and well formed, and copies their values into the metadata as they are; so each
file is read through `bounded_read` first and every value checked against the GGUF type of its
key, and a hostile one is refused in one line before anything is written.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blossom_edge.base.bounded_read import read_json_object, read_small_text
from blossom_edge.base.errors import CorruptFileError, excerpt

if TYPE_CHECKING:
    import gguf

    from blossom_edge.inputs.source import LocalSource

HF_URL = "https://huggingface.co"
CARD_NAME = "README.md"
# A model card is kilobytes of prose and tables (more with images inlined). gguf-py parses its YAML
# front matter with the pure-Python loader at some 100 kB/s, so the front matter has a cap of its own:
# real ones are a few kilobytes, tens with a leaderboard's model-index.
MAX_CARD_BYTES = 4 << 20
MAX_FRONT_MATTER_CHARS = 256 << 10
_FLOAT32_MAX = 3.4028234663852886e38


def model_metadata(model_dir: Path, n_params: int, source: LocalSource) -> gguf.Metadata:
    """The `general.*` metadata, every value of a type its GGUF key can hold (else one CorruptFileError)."""
    import gguf
    import yaml

    card = read_small_text(model_dir / CARD_NAME, MAX_CARD_BYTES, what="a model card")
    if card is not None and _front_matter_chars(card) > MAX_FRONT_MATTER_CHARS:
        raise CorruptFileError(f"{model_dir / CARD_NAME}: its YAML front matter is longer than "
                               f"{MAX_FRONT_MATTER_CHARS >> 10} KiB, more than a model card's metadata can be")
    # gguf-py reads config.json and generation_config.json itself next. The first was read, and so
    # checked, once for the whole run (`source.files`, which the checkpoint reader takes before this);
    # the second is checked here.
    read_json_object(model_dir / "generation_config.json", required=False)
    try:
        meta = gguf.Metadata.load(None, model_dir, None, n_params)
    except RecursionError:
        raise CorruptFileError(f"{model_dir / CARD_NAME}: the YAML front matter is nested too deeply") from None
    except yaml.YAMLError as exc:
        raise CorruptFileError(f"{model_dir / CARD_NAME}: the front matter is not YAML gguf-py can read "
                               f"({excerpt(str(exc))})") from None
    except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
        raise CorruptFileError(f"{model_dir}: the model card's front matter or config.json holds a value gguf-py "
                               f"cannot read ({type(exc).__name__}: {excerpt(str(exc))})") from None
    model = source.model
    if model is not None:
        meta.name = model.name
        meta.basename = model.name
        if not meta.license:
            meta.license = model.license
        if not meta.base_models:
            org, _, base = model.base_model.partition("/")
            meta.base_models = [{"name": base, "organization": org, "repo_url": f"{HF_URL}/{model.base_model}"}]
    elif meta.name is None:
        meta.name = source.repo_id.split("/")[-1] if source.repo_id else model_dir.name
    if source.repo_id:
        meta.repo_url = f"{HF_URL}/{source.repo_id}"
        meta.source_repo_url = meta.repo_url
        if source.revision:
            meta.source_url = f"{HF_URL}/{source.repo_id}/tree/{source.revision}"
    if meta.size_label is None and n_params > 0:
        meta.size_label = gguf.size_label(n_params, 0, 0, 0)
    _check_writable(meta, model_dir)
    return meta


def _front_matter_chars(card: str) -> int:
    """The length of what gguf-py hands to YAML: the lines between a first line `---` and the next `---`."""
    lines = card.splitlines()
    if not lines or lines[0] != "---":
        return 0
    end = next((i for i, line in enumerate(lines) if i > 0 and line == "---"), len(lines))
    return sum(len(line) + 1 for line in lines[1:end])


def _is_int32(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and -(2**31) <= value < 2**31


def _is_float32(value: Any) -> bool:
    """A number struct packs as a float32: infinities and NaN are, finite values past its range are not."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return abs(value) <= _FLOAT32_MAX or (isinstance(value, float) and not math.isfinite(value))


def _is_strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _is_entries(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(e, dict) and all(isinstance(v, str) for v in e.values())
                                           for e in value)


# gguf.Metadata's field annotations → (what the GGUF key takes, its check). `license` may also be a
# list, which set_gguf_meta_model joins with commas.
_CHECKS: dict[str, tuple[str, Any]] = {
    "Optional[str]": ("a string", lambda v: isinstance(v, str)),
    "Optional[int]": ("a 32-bit integer", _is_int32),
    "Optional[float]": ("a 32-bit float", _is_float32),
    "Optional[list[str]]": ("a list of strings", _is_strings),
    "Optional[list[dict]]": ("a list of objects of strings", _is_entries),
}


def _check_writable(meta: gguf.Metadata, model_dir: Path) -> None:
    """Refuse a value set_gguf_meta_model could not pack: the writer would fail halfway through the
    output, unnamed. Fields of a type this table does not know are gguf-py's to write as they are."""
    for field in dataclasses.fields(meta):
        value = getattr(meta, field.name)
        expected, check = _CHECKS.get(str(field.type), (None, None))
        if value is None or check is None or check(value) or (field.name == "license" and _is_strings(value)):
            continue
        source = "generation_config.json" if field.name.startswith("sampling_") else f"{CARD_NAME}'s front matter"
        raise CorruptFileError(f"{model_dir}: {source} gives general.{field.name} the value {excerpt(value)}, "
                               f"not {expected}")


def output_stem(source: LocalSource) -> str:
    """The file-name stem: the catalog name, else the repository or directory name."""
    if source.model is not None:
        return source.model.name
    if source.repo_id:
        return source.repo_id.split("/")[-1].lower()
    return source.path.resolve().name.lower()
