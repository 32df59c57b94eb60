"""Our GGUF against llama.cpp's converter's: the one comparison every reference test makes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

# Keys we deliberately write differently: names and provenance come from our catalog and
# source (llama.cpp guesses them from the directory name), and `general.size_label`
# follows from the name heuristics too.
OURS_ONLY_PREFIXES = ("general.name", "general.basename", "general.size_label", "general.finetune",
                      "general.repo_url", "general.source.", "general.base_model.", "general.license",
                      "general.version", "general.organization")


def read_gguf(path: Path) -> tuple[dict, dict]:
    """(every key → value, every tensor → (type, shape, bytes)) of a GGUF."""
    import gguf

    from blossom_edge.inputs.gguf_info import _field_value

    reader = gguf.GGUFReader(path)
    keys = {k: _field_value(f) for k, f in reader.fields.items() if not k.startswith("GGUF.")}
    tensors = {t.name: (t.tensor_type.name, [int(d) for d in t.shape], t.data.tobytes()) for t in reader.tensors}
    return keys, tensors


# GGUF float types as (unsigned view, sign bit, +inf's bits): larger magnitudes are NaNs.
_FLOAT_BITS = {"F32": (np.uint32, 1 << 31, 0x7F800000), "F16": (np.uint16, 1 << 15, 0x7C00),
               "BF16": (np.uint16, 1 << 15, 0x7F80)}


def ulp_distance(ours: bytes, ref: bytes, tensor_type: str) -> np.ndarray:
    """Per element, how many steps between representable values of `tensor_type` separate ours from the reference's.

    Sign-magnitude bits are mapped onto one ordered integer line, so a distance counts across
    zero too (+0 and −0 are the same point); NaNs must be NaNs in both, with the same bits.
    """
    unsigned, sign, inf = _FLOAT_BITS[tensor_type]
    a, b = np.frombuffer(ours, dtype=unsigned), np.frombuffer(ref, dtype=unsigned)
    nan = (a & (sign - 1)) > inf
    assert (nan == ((b & (sign - 1)) > inf)).all() and (a[nan] == b[nan]).all(), "NaNs differ"

    def line(bits: np.ndarray) -> np.ndarray:
        magnitude = (bits & (sign - 1)).astype(np.int64)
        return np.where(bits & sign, -magnitude, magnitude)

    return np.abs(line(a) - line(b))


def assert_same_gguf(ours: Path, ref: Path, ignore_keys: tuple[str, ...] = (),
                     ulps: Mapping[str, int] | None = None) -> tuple[dict, dict]:
    """Same tensors (names, types, shapes, bytes) and the same keys but for our provenance ones
    and `ignore_keys` (a difference the caller has checked). Returns both files' keys.

    `ulps` maps a tensor-name pattern (a regular expression matching the whole name) to the
    most units in the last place an element may differ by: only for tensors whose reference
    bytes depend on the CPU the reference ran on, each pattern stated and explained by the
    test that passes it. Every pattern must match some tensor, so a renamed tensor cannot
    quietly lose its byte comparison to a stale pattern; every other tensor stays byte for byte.
    """
    tolerances = {re.compile(pattern): limit for pattern, limit in (ulps or {}).items()}
    our_keys, our_tensors = read_gguf(ours)
    ref_keys, ref_tensors = read_gguf(ref)
    assert our_tensors.keys() == ref_tensors.keys()
    unused = set(tolerances)
    for name, (rtype, rshape, rbytes) in ref_tensors.items():
        otype, oshape, obytes = our_tensors[name]
        assert (otype, oshape) == (rtype, rshape), name
        matched = [pattern for pattern in tolerances if pattern.fullmatch(name)]
        if not matched:
            assert obytes == rbytes, f"{name}: bytes differ"
            continue
        unused.difference_update(matched)
        limit = min(tolerances[pattern] for pattern in matched)
        worst = int(ulp_distance(obytes, rbytes, rtype).max(initial=0))
        assert worst <= limit, f"{name}: {worst} ulps from the reference, more than the {limit} allowed"
    assert not unused, f"tolerance patterns that match no tensor: {sorted(p.pattern for p in unused)}"

    def comparable(keys: dict) -> dict:
        return {k: v for k, v in keys.items() if not k.startswith(OURS_ONLY_PREFIXES) and k not in ignore_keys}

    assert comparable(our_keys) == comparable(ref_keys)
    return our_keys, ref_keys
