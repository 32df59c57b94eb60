"""Our GGUF against llama.cpp's converter's: the one comparison every reference test makes."""

from __future__ import annotations

from pathlib import Path

# Keys we deliberately write differently: names and provenance come from our catalog and
# source (llama.cpp guesses them from the directory name), and `general.size_label`
# follows from the name heuristics too.
OURS_ONLY_PREFIXES = ("general.name", "general.basename", "general.size_label", "general.finetune",
                      "general.repo_url", "general.source.", "general.base_model.", "general.license",
                      "general.version", "general.organization")


def read_gguf(path: Path) -> tuple[dict, dict]:
    """(every key → value, every tensor → (type, shape, bytes)) of a GGUF."""
    import gguf

    from blossom_edge.gguf_info import _field_value

    reader = gguf.GGUFReader(path)
    keys = {k: _field_value(f) for k, f in reader.fields.items() if not k.startswith("GGUF.")}
    tensors = {t.name: (t.tensor_type.name, [int(d) for d in t.shape], t.data.tobytes()) for t in reader.tensors}
    return keys, tensors


def assert_same_gguf(ours: Path, ref: Path, ignore_keys: tuple[str, ...] = ()) -> tuple[dict, dict]:
    """Same tensors (names, types, shapes, bytes) and the same keys but for our provenance ones
    and `ignore_keys` (a difference the caller has checked). Returns both files' keys."""
    our_keys, our_tensors = read_gguf(ours)
    ref_keys, ref_tensors = read_gguf(ref)
    assert our_tensors.keys() == ref_tensors.keys()
    for name, (rtype, rshape, rbytes) in ref_tensors.items():
        otype, oshape, obytes = our_tensors[name]
        assert (otype, oshape) == (rtype, rshape), name
        assert obytes == rbytes, f"{name}: bytes differ"

    def comparable(keys: dict) -> dict:
        return {k: v for k, v in keys.items() if not k.startswith(OURS_ONLY_PREFIXES) and k not in ignore_keys}

    assert comparable(our_keys) == comparable(ref_keys)
    return our_keys, ref_keys
