"""Damaged and hostile GGUF, safetensors and importance-matrix files, built byte by byte.

Every one must end in one CorruptFileError (NotFoundError for a missing shard, UnsupportedError
for a real but unsupported dtype) that names the file, from the library call and as one line
from the CLI, quickly and without allocating what the file merely declares.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from blossom_edge.base.bounded_read import MAX_JSON_BYTES
from blossom_edge.base.errors import (
    MAX_MESSAGE,
    BlossomError,
    CorruptFileError,
    NotFoundError,
    UnsupportedError,
    excerpt,
)
from blossom_edge.cli import main
from blossom_edge.imatrix.reader import load_imatrix
from blossom_edge.inputs.checkpoint import MAX_HEADER_BYTES, NUMPY_DTYPES, Checkpoint, Shard
from blossom_edge.inputs.gguf_check import MAX_DECODED_ITEMS
from blossom_edge.inputs.gguf_info import GGUFInfo, read_gguf_info
from blossom_edge.inputs.gguf_inspect import inspect_report
from tests import ROOT
from tests.quantize.test_quantize_tiny import write_tiny_gguf

# What one refusal may take; they are microseconds, the margin is for slow CI machines.
FAST_SECONDS = 2.0

U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
GGML_F32, GGML_Q4_0 = 0, 2


# --- GGUF bytes ----------------------------------------------------------------------------

def _str(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(raw)) + raw


def _kv(key: str | bytes, vtype: int, payload: bytes) -> bytes:
    return _str(key) + struct.pack("<I", vtype) + payload


def _u32(key: str, value: int) -> bytes:
    return _kv(key, U32, struct.pack("<I", value))


def _array(key: str, item_type: int, count: int, items: bytes = b"") -> bytes:
    return _kv(key, ARRAY, struct.pack("<IQ", item_type, count) + items)


def _tensor(name: str | bytes, dims: list[int], ggml_type: int = GGML_F32, offset: int = 0,
            n_dims: int | None = None) -> bytes:
    n = len(dims) if n_dims is None else n_dims
    return _str(name) + struct.pack("<I", n) + b"".join(struct.pack("<Q", d) for d in dims) + struct.pack(
        "<IQ", ggml_type, offset)


BASE_KVS = [_kv("general.architecture", STRING, _str("qwen2")), _u32("qwen2.block_count", 2)]
BASE_TENSORS = [_tensor("w", [4])]


def _gguf(kvs: list[bytes] | None = None, tensors: list[bytes] | None = None, data: bytes = b"\0" * 16, *,
          n_kv: int | None = None, n_tensors: int | None = None, version: int = 3) -> bytes:
    """A GGUF v3 file: header, key/values, tensor infos and, when there are tensors, padding to 32 and data."""
    kvs = BASE_KVS if kvs is None else kvs
    tensors = BASE_TENSORS if tensors is None else tensors
    head = b"GGUF" + struct.pack("<IQQ", version, len(tensors) if n_tensors is None else n_tensors,
                                 len(kvs) if n_kv is None else n_kv)
    body = head + b"".join(kvs) + b"".join(tensors)
    return body + b"\0" * (-len(body) % 32) + data if tensors else body


def _nested(depth: int) -> bytes:
    """An array of arrays `depth` deep, the innermost holding one u8."""
    payload = struct.pack("<IQ", U8, 1) + b"\1"
    for _ in range(depth - 1):
        payload = struct.pack("<IQ", ARRAY, 1) + payload
    return _kv("x.nested", ARRAY, payload)


# (id, file bytes, a fragment the message must contain, also an invalid importance matrix)
HOSTILE_GGUF = [
    ("empty", b"", "GGUF", True),
    ("magic-only", b"GGUF", "truncated", True),
    ("header-cut", b"GGUF" + struct.pack("<IQ", 3, 0), "truncated", True),
    ("version-1", _gguf(version=1), "version 1", True),
    ("version-99", _gguf(version=99), "version 99", True),
    ("kv-count-2**62", _gguf(n_kv=2**62), "4611686018427387904", True),
    ("tensor-count-2**62", _gguf(n_tensors=2**62), "4611686018427387904", True),
    ("kv-count-past-file", _gguf(n_kv=60000), "60000", True),
    ("tensor-count-past-file", _gguf(n_tensors=60000), "60000", True),
    ("kv-count-one-more", _gguf(n_kv=3, tensors=[]), "truncated", True),
    ("tensor-count-one-more", _gguf(n_tensors=2), "tensor name", True),
    ("key-length-2**60", _gguf([struct.pack("<Q", 2**60) + b"key"]), "1152921504606846976", True),
    ("key-length-2**64-1", _gguf([struct.pack("<Q", 2**64 - 1) + b"key"]), "18446744073709551615", True),
    ("key-empty", _gguf([_kv("", U8, b"\0")]), "0 bytes long", True),
    ("key-5000-bytes", _gguf([_kv("k" * 5000, U8, b"\0")]), "5000 bytes long", True),
    ("key-not-utf8", _gguf([_kv(b"\xff\xfe", U8, b"\0")]), "not UTF-8", True),
    ("key-duplicate", _gguf(BASE_KVS + [_u32("qwen2.block_count", 3)]), "appears twice", True),
    ("key-reserved", _gguf(BASE_KVS + [_u32("GGUF.version", 3)]), "reserved", True),
    ("string-2**60", _gguf([_kv("general.name", STRING, struct.pack("<Q", 2**60) + b"abc")]), "1152921504606846976",
     True),
    ("string-past-end", _gguf([_kv("general.name", STRING, struct.pack("<Q", 1000) + b"abc")], []), "truncated",
     True),
    ("value-type-13", _gguf([_kv("x.y", 13, b"\0" * 8)]), "unknown value type 13", True),
    ("value-type-2**31", _gguf([_kv("x.y", 2**31, b"\0" * 8)]), "unknown value type", True),
    ("scalar-cut", _gguf([_kv("x.y", U64, b"\0" * 3)], [], b""), "truncated", True),
    ("array-u8-2**40", _gguf([_array("x.big", U8, 2**40)]), "1099511627776", True),
    ("array-u64-2**40", _gguf([_array("x.big", U64, 2**40)]), "1099511627776", True),
    ("array-count-2**64-1", _gguf([_array("x.big", U32, 2**64 - 1)]), "18446744073709551615", True),
    ("array-strings-2**40", _gguf([_array("x.big", STRING, 2**40)]), "1099511627776", True),
    ("array-arrays-2**40", _gguf([_array("x.big", ARRAY, 2**40)]), "1099511627776", True),
    ("tokens-2**40", _gguf([_array("tokenizer.ggml.tokens", STRING, 2**40)]), "1099511627776", True),
    ("tokens-string-2**60", _gguf([_array("tokenizer.ggml.tokens", STRING, 2, _str("a") + struct.pack(
        "<Q", 2**60))]), "past the end", True),
    ("tokens-strings-cut", _gguf([_array("tokenizer.ggml.tokens", STRING, 3, _str("a") * 2)], [], b""),
     "truncated", True),
    ("tokens-not-array", _gguf([_kv("tokenizer.ggml.tokens", STRING, _str("a"))]), "must be an array", False),
    ("array-item-type-13", _gguf([_array("x.y", 13, 1, b"\0" * 8)]), "unknown item type 13", True),
    ("array-nested-too-deep", _gguf([_nested(10)]), "deeper than", True),
    ("array-items-over-budget", _gguf([_array("x.big", U8, MAX_DECODED_ITEMS + 1, b"\0" * (MAX_DECODED_ITEMS + 1))]),
     str(MAX_DECODED_ITEMS), True),
    ("array-items-over-budget-in-pieces", _gguf([_array(f"x.a{i}", STRING, MAX_DECODED_ITEMS // 3,
                                                        _str("") * (MAX_DECODED_ITEMS // 3)) for i in range(4)]),
     str(MAX_DECODED_ITEMS), True),
    ("alignment-zero", _gguf(BASE_KVS + [_u32("general.alignment", 0)]), "power of two", True),
    ("alignment-three", _gguf(BASE_KVS + [_u32("general.alignment", 3)]), "power of two", True),
    ("alignment-string", _gguf(BASE_KVS + [_kv("general.alignment", STRING, _str("32"))]), "power of two", True),
    ("alignment-u64", _gguf(BASE_KVS + [_kv("general.alignment", U64, struct.pack("<Q", 32))]), "power of two",
     True),
    ("tensor-n-dims-5", _gguf(tensors=[_tensor("w", [1, 1, 1, 1, 4])]), "5 dimensions", True),
    ("tensor-n-dims-0", _gguf(tensors=[_tensor("w", [])]), "0 dimensions", True),
    ("tensor-n-dims-2**32-1", _gguf(tensors=[_tensor("w", [4], n_dims=2**32 - 1)]), "4294967295 dimensions", True),
    ("tensor-dims-overflow", _gguf(tensors=[_tensor("w", [2**32] * 4)]), "truncated", True),
    ("tensor-dim-2**63", _gguf(tensors=[_tensor("w", [2**63, 1])]), "more than the whole file", True),
    ("tensor-empty-but-2**62-rows", _gguf(tensors=[_tensor("w", [4, 0, 2**62])]), "more than the whole file", True),
    ("tensor-empty-but-2**63-1-rows", _gguf(tensors=[_tensor("w", [0, 2**63 - 1])]), "more than the whole file",
     True),
    ("tensor-dims-past-file", _gguf(tensors=[_tensor("w", [1 << 30])]), "truncated", True),
    ("tensor-offset-past-file", _gguf(tensors=[_tensor("w", [4], offset=2**40)]), "truncated", True),
    ("tensor-offset-2**64-32", _gguf(tensors=[_tensor("w", [4], offset=2**64 - 32)]), "truncated", True),
    ("tensor-offset-misaligned", _gguf(tensors=[_tensor("w", [2], offset=4)]), "multiple of 32", True),
    ("tensor-type-unknown", _gguf(tensors=[_tensor("w", [4], ggml_type=99)]), "unknown ggml type 99", True),
    ("tensor-type-removed-q4_2", _gguf(tensors=[_tensor("w", [32], ggml_type=4)]), "unknown ggml type 4", True),
    ("tensor-row-not-whole-blocks", _gguf(tensors=[_tensor("w", [31], ggml_type=GGML_Q4_0)]),
     "not whole blocks", True),
    ("tensor-duplicate-name", _gguf(tensors=[_tensor("w", [2]), _tensor("w", [2], offset=32)], data=b"\0" * 40),
     "same name", True),
    ("tensor-overlap", _gguf(tensors=[_tensor("a", [4]), _tensor("b", [4])]), "overlap", True),
    ("tensor-name-not-utf8", _gguf(tensors=[_tensor(b"\xc3", [4])]), "not UTF-8", True),
    ("tensor-name-2**62", _gguf(tensors=[struct.pack("<Q", 2**62) + b"w"]), "4611686018427387904", True),
    ("tensor-data-cut", _gguf(data=b"\0" * 15), "truncated", True),
    ("big-endian-array-2**40", b"GGUF" + struct.pack(">IQQ", 3, 0, 1) + struct.pack(">Q", 3) + b"x.y" +
     struct.pack(">IIQ", ARRAY, U8, 2**40), "1099511627776", True),
]


def _one_line(capsys, argv: list[str]) -> str:
    """Run the CLI; it must exit 1 with exactly one line on stderr, not a traceback or an internal error."""
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 1 and len(lines) == 1, err
    assert "internal error" not in err and "Traceback" not in err
    assert len(lines[0]) < MAX_MESSAGE + len("blossom-edge: error: "), lines[0]
    return lines[0]


def _refused(call, expected: type[BlossomError] = CorruptFileError) -> str:
    """`call()` must raise `expected` (exactly that class), quickly; return its message."""
    start = time.perf_counter()
    with pytest.raises(BlossomError) as caught:
        call()
    assert time.perf_counter() - start < FAST_SECONDS
    assert type(caught.value) is expected, caught.value
    message = str(caught.value)
    assert len(message) < MAX_MESSAGE and "\n" not in message, message
    return message


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """A small valid GGUF (f32, width 8: some 20 kB) for the truncation sweep and as quantize input."""
    return write_tiny_gguf(tmp_path_factory.mktemp("tiny") / "tiny-F32.gguf", dtype="f32", hidden=8, layers=1, ff=16)


def test_the_builder_makes_a_valid_file(tmp_path):
    path = tmp_path / "base.gguf"
    path.write_bytes(_gguf())
    info = read_gguf_info(path)
    assert info.architecture == "qwen2" and info.n_layer == 2 and info.n_params == 4


@pytest.mark.parametrize("content, fragment, also_imatrix", [c[1:] for c in HOSTILE_GGUF],
                         ids=[c[0] for c in HOSTILE_GGUF])
def test_hostile_gguf_is_one_clear_error(tmp_path, capsys, content, fragment, also_imatrix):
    path = tmp_path / "hostile.gguf"
    path.write_bytes(content)
    message = _refused(lambda: read_gguf_info(path))
    assert str(path) in message and fragment in message, message
    assert fragment in _one_line(capsys, ["inspect", str(path)])
    if also_imatrix and content.startswith(b"GGUF"):
        message = _refused(lambda: load_imatrix(path))
        assert "importance matrix" in message and fragment in message, message


def test_a_refusal_quotes_an_excerpt_not_the_input():
    assert excerpt("x" * 10_000) == "x" * 79 + "…"
    assert len(excerpt(list(range(1_000_000)))) <= 80
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    assert excerpt(deep).startswith("[[")


def test_truncated_everywhere(tiny, tmp_path):
    """Cut at every 7th byte, from the end backwards (each cut only shortens the same file)."""
    from gguf import GGUFReader

    reader = GGUFReader(tiny)
    data_end = max(t.data_offset + int(t.n_bytes) for t in reader.tensors)
    del reader
    path = tmp_path / "cut.gguf"
    path.write_bytes(tiny.read_bytes())
    cuts = range(data_end - 1, -1, -7)
    for cut in cuts:
        os.truncate(path, cut)
        with pytest.raises(CorruptFileError):
            read_gguf_info(path)
    assert len(cuts) > 1000


# --- GGUF metadata of the wrong type ---------------------------------------------------------

def _f32(value: float) -> bytes:
    return struct.pack("<f", value)


# (key, GGUF value type, payload): each a value llama.cpp would refuse for that key
WRONG_TYPES = [
    ("qwen2.block_count", STRING, _str("abc")),
    ("qwen2.block_count", F32, _f32(float("nan"))),
    ("qwen2.block_count", F32, _f32(float("inf"))),
    ("qwen2.block_count", F64, struct.pack("<d", 2.0)),
    ("qwen2.block_count", BOOL, b"\1"),
    ("qwen2.block_count", I32, struct.pack("<i", -2)),
    ("qwen2.block_count", ARRAY, struct.pack("<IQ", U32, 2) + struct.pack("<II", 1, 2)),
    ("qwen2.block_count", U64, struct.pack("<Q", 2**40)),
    ("qwen2.embedding_length", STRING, _str("8")),
    ("qwen2.attention.head_count", I32, struct.pack("<i", -4)),
    ("qwen2.attention.head_count", F32, _f32(4.0)),
    ("qwen2.attention.head_count_kv", STRING, _str("two")),
    ("qwen2.attention.key_length", F32, _f32(float("nan"))),
    ("qwen2.context_length", I64, struct.pack("<q", -1)),
    ("qwen2.context_length", ARRAY, struct.pack("<IQ", STRING, 1) + _str("4096")),
    ("qwen2.feed_forward_length", STRING, _str("lots")),
    ("qwen2.vocab_size", F64, struct.pack("<d", float("inf"))),
    ("tokenizer.ggml.vocab_size", STRING, _str("many")),
    ("tokenizer.ggml.bos_token_id", STRING, _str("<s>")),
    ("tokenizer.ggml.eos_token_id", I32, struct.pack("<i", -1)),
    ("tokenizer.chat_template", U32, struct.pack("<I", 7)),
    ("tokenizer.chat_template", ARRAY, struct.pack("<IQ", STRING, 1) + _str("{{ x }}")),
    ("general.architecture", U32, struct.pack("<I", 2)),
    ("general.architecture", ARRAY, struct.pack("<IQ", STRING, 1) + _str("qwen2")),
    ("general.name", F32, _f32(1.5)),
]


def _with_key(key: str, vtype: int, payload: bytes) -> bytes:
    """The base file with `key` set (added, or replacing the base's own value)."""
    kvs = [kv for kv in BASE_KVS if not kv.startswith(_str(key))] + [_kv(key, vtype, payload)]
    return _gguf(kvs)


@pytest.mark.parametrize("key, vtype, payload", WRONG_TYPES, ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(WRONG_TYPES)])
def test_metadata_of_the_wrong_type_names_the_key(tmp_path, capsys, key, vtype, payload):
    path = tmp_path / "typed.gguf"
    path.write_bytes(_with_key(key, vtype, payload))
    message = _refused(lambda: inspect_report(path, 4096))
    assert key in message and str(path) in message, message
    assert key in _one_line(capsys, ["inspect", str(path), "--json"])


@pytest.mark.parametrize("accessor, key, value", [
    ("n_layer", "qwen2.block_count", "abc"),
    ("n_embd", "qwen2.embedding_length", [8]),
    ("n_head", "qwen2.attention.head_count", -4),
    ("n_head_kv", "qwen2.attention.head_count_kv", float("nan")),
    ("head_dim", "qwen2.attention.key_length", float("inf")),
    ("head_dim", "qwen2.attention.head_count", "0"),
    ("context_length", "qwen2.context_length", True),
    ("vocab_size", "tokenizer.ggml.vocab_size", "150k"),
    ("vocab_size", "qwen2.vocab_size", 2**64),
    ("chat_template", "tokenizer.chat_template", 3),
    ("special_tokens", "tokenizer.ggml.pad_token_id", "pad"),
    ("to_dict", "tokenizer.ggml.unk_token_id", [0]),
])
def test_gguf_info_accessors_check_what_they_read(accessor, key, value):
    info = GGUFInfo(path=Path("made-up.gguf"), file_size=0, architecture="qwen2", name=None, n_params=0,
                    tensor_bytes=0, types={}, metadata={"qwen2.embedding_length": 8, key: value}, tensor_types={})
    attribute = getattr(type(info), accessor)
    message = _refused(lambda: attribute.fget(info) if isinstance(attribute, property) else attribute(info))
    assert key in message and "made-up.gguf" in message


def test_the_shape_feed_forward_key_is_checked_too():

    info = GGUFInfo(path=Path("ff.gguf"), file_size=0, architecture="qwen2", name=None, n_params=0, tensor_bytes=0,
                    types={}, metadata={"qwen2.feed_forward_length": [64, 64]}, tensor_types={})
    assert "qwen2.feed_forward_length" in _refused(lambda: info.model_shape())


# --- safetensors -----------------------------------------------------------------------------

ST_DATA = np.arange(7, dtype="<f4").tobytes()  # a: 2×2 at [0, 16), b: 3 at [16, 28)


def _st_header(tensor: str = "a", **fields: object) -> dict:
    """A valid two-tensor header with `fields` of one tensor's entry set to other values."""
    header: dict = {
        "__metadata__": {"format": "pt"},
        "a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
        "b": {"dtype": "F32", "shape": [3], "data_offsets": [16, 28]},
    }
    header[tensor].update(fields)
    return header


def _st_replace(key: str, value: object) -> dict:
    """The valid header with one whole entry (or `__metadata__`) replaced."""
    return {**_st_header(), key: value}


def _st_bytes(header: dict | bytes, data: bytes = ST_DATA) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


def _many_tensors(n: int) -> bytes:
    return json.dumps({f"t{i}": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]} for i in range(n)}).encode()


# (id, file bytes, a fragment the message must contain, the error class)
HOSTILE_SAFETENSORS = [
    ("empty", b"", "truncated", CorruptFileError),
    ("five-bytes", b"\x05\0\0\0\0", "truncated", CorruptFileError),
    ("header-length-2**64-1", struct.pack("<Q", 2**64 - 1) + b"{}", "past the end", CorruptFileError),
    ("header-length-zero", struct.pack("<Q", 0) + ST_DATA, "malformed", CorruptFileError),
    ("nested-100000", _st_bytes(b"[" * 100_000 + b"]" * 100_000), "nested too deeply", CorruptFileError),
    ("nested-in-entry", _st_bytes(b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"), "nested too deeply",
     CorruptFileError),
    ("nested-objects-bad", _st_bytes(b'{"a":' * 100_000), "malformed", CorruptFileError),
    ("not-json", _st_bytes(b"{not json"), "malformed", CorruptFileError),
    ("not-utf8", _st_bytes(b'{"\xff": 1}'), "malformed", CorruptFileError),
    ("utf16", _st_bytes(json.dumps(_st_header()).encode("utf-16")), "malformed", CorruptFileError),
    ("top-level-list", _st_bytes(b"[]"), "not an object", CorruptFileError),
    ("top-level-number", _st_bytes(b"5"), "not an object", CorruptFileError),
    ("huge-integer", _st_bytes(b'{"a": {"dtype": "F32", "shape": [' + b"9" * 5000 + b'], "data_offsets": [0, 4]}}'),
     "malformed", CorruptFileError),
    ("duplicate-tensor", _st_bytes(b'{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, '
                                   b'"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}'),
     "appears twice", CorruptFileError),
    ("nan-shape", _st_bytes(b'{"a": {"dtype": "F32", "shape": [NaN], "data_offsets": [0, 4]}}'), "shape",
     CorruptFileError),
    ("infinity-offset", _st_bytes(b'{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, Infinity]}}'),
     "data_offsets", CorruptFileError),
    ("entry-number", _st_bytes(_st_replace("a", 5)), "not an object", CorruptFileError),
    ("entry-list", _st_bytes(_st_replace("a", [1, 2])), "not an object", CorruptFileError),
    ("dtype-missing", _st_bytes(_st_replace("a", {"shape": [2, 2], "data_offsets": [0, 16]})), "dtype",
     CorruptFileError),
    ("dtype-number", _st_bytes(_st_header(dtype=5)), "dtype", CorruptFileError),
    ("dtype-list", _st_bytes(_st_header(dtype=["F32"])), "dtype", CorruptFileError),
    ("dtype-unknown", _st_bytes(_st_header(dtype="Q4")), "not a safetensors dtype", CorruptFileError),
    ("dtype-10000-chars", _st_bytes(_st_header(dtype="F" * 10_000)), "…", CorruptFileError),
    ("dtype-i64", _st_bytes(_st_header(dtype="I64")), "only BF16", UnsupportedError),
    ("shape-missing", _st_bytes(_st_replace("a", {"dtype": "F32", "data_offsets": [0, 16]})), "shape",
     CorruptFileError),
    ("shape-string", _st_bytes(_st_header(shape="2x2")), "shape", CorruptFileError),
    ("shape-floats", _st_bytes(_st_header(shape=[2.0, 2.0])), "shape", CorruptFileError),
    ("shape-bools", _st_bytes(_st_header(shape=[True, True])), "shape", CorruptFileError),
    ("shape-negative", _st_bytes(_st_header(shape=[-2, -2])), "shape", CorruptFileError),
    ("shape-nested", _st_bytes(_st_header(shape=[[2], [2]])), "shape", CorruptFileError),
    ("shape-rank-100000", _st_bytes(_st_header(shape=[1] * 100_000)), "shape", CorruptFileError),
    ("shape-int64-overflow", _st_bytes(_st_header(shape=[2**32, 2**32, 2**32, 2**32])), "needs",
     CorruptFileError),
    ("shape-2**70", _st_bytes(_st_header(shape=[2**70])), "needs", CorruptFileError),
    ("shape-disagrees", _st_bytes(_st_header(shape=[3, 2])), "needs 24", CorruptFileError),
    ("shape-empty-but-2**62-rows", _st_bytes(_st_header(shape=[0, 2**62], data_offsets=[0, 0])), "needs",
     CorruptFileError),
    ("offsets-missing", _st_bytes(_st_replace("a", {"dtype": "F32", "shape": [2, 2]})), "data_offsets",
     CorruptFileError),
    ("offsets-one", _st_bytes(_st_header(data_offsets=[0])), "data_offsets", CorruptFileError),
    ("offsets-three", _st_bytes(_st_header(data_offsets=[0, 16, 32])), "data_offsets", CorruptFileError),
    ("offsets-negative", _st_bytes(_st_header(data_offsets=[-16, 0])), "data_offsets", CorruptFileError),
    ("offsets-strings", _st_bytes(_st_header(data_offsets=["0", "16"])), "data_offsets", CorruptFileError),
    ("offsets-floats", _st_bytes(_st_header(data_offsets=[0.0, 16.0])), "data_offsets", CorruptFileError),
    ("offsets-null", _st_bytes(_st_header(data_offsets=None)), "data_offsets", CorruptFileError),
    ("offsets-reversed", _st_bytes(_st_header(data_offsets=[16, 0])), "reversed", CorruptFileError),
    ("offsets-past-data", _st_bytes(_st_header("b", data_offsets=[16, 2**40])), "truncated", CorruptFileError),
    ("offsets-2**64", _st_bytes(_st_header("b", data_offsets=[2**64, 2**64 + 12])), "truncated", CorruptFileError),
    ("offsets-overlap", _st_bytes(_st_header("b", data_offsets=[12, 24])), "overlap", CorruptFileError),
    ("data-cut", _st_bytes(_st_header(), ST_DATA[:-1]), "truncated", CorruptFileError),
    ("metadata-list", _st_bytes(_st_replace("__metadata__", ["format", "pt"])), "__metadata__", CorruptFileError),
    ("metadata-numbers", _st_bytes(_st_replace("__metadata__", {"step": 5})), "__metadata__", CorruptFileError),
    ("metadata-nested", _st_bytes(_st_replace("__metadata__", {"a": {"b": "c"}})), "__metadata__", CorruptFileError),
    ("name-lone-surrogate", _st_bytes(b'{"\\udc00": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}'),
     "not valid Unicode", CorruptFileError),
    ("too-many-tensors", _st_bytes(_many_tensors(70_000), b""), "70000 tensors", CorruptFileError),
]


@pytest.fixture
def checkpoint_dir(tmp_path) -> Path:
    """A directory convert would open: config.json beside the shard under test."""
    directory = tmp_path / "ckpt"
    directory.mkdir()
    (directory / "config.json").write_text("{}")
    return directory


@pytest.mark.parametrize("content, fragment, expected", [c[1:] for c in HOSTILE_SAFETENSORS],
                         ids=[c[0] for c in HOSTILE_SAFETENSORS])
def test_hostile_safetensors_is_one_clear_error(checkpoint_dir, tmp_path, capsys, content, fragment, expected):
    path = checkpoint_dir / "model.safetensors"
    path.write_bytes(content)
    message = _refused(lambda: Shard(path), expected)
    assert "model.safetensors" in message and fragment in message, message
    assert fragment in _one_line(capsys, ["convert", str(checkpoint_dir), "-o", str(tmp_path / "out.gguf")])
    assert not (tmp_path / "out.gguf").exists()


def test_the_safetensors_builder_makes_a_valid_file(tmp_path):
    from safetensors.numpy import save_file

    path = tmp_path / "model.safetensors"
    path.write_bytes(_st_bytes(_st_header()))
    shard = Shard(path)
    a = shard.tensors["a"]
    with path.open("rb") as fh:
        fh.seek(a.offset)
        values = np.frombuffer(fh.read(a.nbytes), dtype=NUMPY_DTYPES[a.dtype])
    assert values.tolist() == [0, 1, 2, 3] and shard.metadata == {"format": "pt"}
    real = tmp_path / "real.safetensors"
    save_file({"x": np.ones((3, 5), np.float16)}, real, metadata={"k": "v"})
    assert Shard(real).tensors["x"].shape == (3, 5)


def test_header_longer_than_the_cap(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(struct.pack("<Q", MAX_HEADER_BYTES + 1) + b"{")
    os.truncate(path, MAX_HEADER_BYTES + 64)  # sparse: as long as the header claims, costing no disk
    assert str(MAX_HEADER_BYTES) in _refused(lambda: Shard(path))


def test_safetensors_truncated_everywhere(tmp_path):
    from safetensors.numpy import save_file

    path = tmp_path / "model.safetensors"
    save_file({f"t{i}": np.full((i + 1, 3), i, np.float32) for i in range(12)}, path)
    Shard(path)
    for cut in range(path.stat().st_size - 1, -1, -7):
        os.truncate(path, cut)
        with pytest.raises(CorruptFileError):
            Shard(path)


# --- the shard index and config.json ---------------------------------------------------------

SHARD = "model-00001-of-00001.safetensors"


def _index(weight_map: object) -> bytes:
    return json.dumps({"metadata": {"total_size": 28}, "weight_map": weight_map}).encode()


# (id, index bytes, a fragment the message must contain, the error class)
HOSTILE_INDEX = [
    ("not-json", b"{weight_map", "malformed", CorruptFileError),
    ("not-utf8", b'{"weight_map": {"a": "\xff"}}', "malformed", CorruptFileError),
    ("nested-100000", b"[" * 100_000 + b"]" * 100_000, "nested too deeply", CorruptFileError),
    ("nested-in-map", b'{"weight_map": {"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}", "nested too deeply",
     CorruptFileError),
    ("top-level-list", b"[]", "weight_map", CorruptFileError),
    ("no-weight-map", b'{"metadata": {}}', "weight_map", CorruptFileError),
    ("weight-map-list", _index([SHARD]), "weight_map", CorruptFileError),
    ("weight-map-empty", _index({}), "weight_map", CorruptFileError),
    ("duplicate-key", b'{"weight_map": {"a": "x.safetensors", "a": "y.safetensors"}}', "appears twice",
     CorruptFileError),
    ("shard-parent", _index({"a": f"../{SHARD}", "b": SHARD}), "not a file name", CorruptFileError),
    ("shard-absolute", _index({"a": "/etc/passwd", "b": SHARD}), "not a file name", CorruptFileError),
    ("shard-subdirectory", _index({"a": f"sub/{SHARD}", "b": SHARD}), "not a file name", CorruptFileError),
    ("shard-dotdot", _index({"a": "..", "b": SHARD}), "not a file name", CorruptFileError),
    ("shard-dot", _index({"a": ".", "b": SHARD}), "not a file name", CorruptFileError),
    ("shard-empty", _index({"a": "", "b": SHARD}), "not a file name", CorruptFileError),
    ("shard-backslash", _index({"a": "..\\x.safetensors", "b": SHARD}), "not a file name", CorruptFileError),
    ("shard-nul", _index({"a": "x\0.safetensors", "b": SHARD}), "not a file name", CorruptFileError),
    ("shard-number", _index({"a": 1, "b": SHARD}), "not a file name", CorruptFileError),
    ("shard-list", _index({"a": [SHARD], "b": SHARD}), "not a file name", CorruptFileError),
    ("shard-1000-chars", _index({"a": "/" + "x" * 1000, "b": SHARD}), "…", CorruptFileError),
    ("shard-name-too-long", _index({"a": "x" * 300, "b": SHARD}), "not a file name", CorruptFileError),
    ("shard-lone-surrogate", b'{"weight_map": {"a": "\\ud800.safetensors"}}', "not a file name", CorruptFileError),
    ("shard-missing", _index({"a": SHARD, "b": "model-00002-of-00002.safetensors"}), "missing", NotFoundError),
    ("shard-is-directory", _index({"a": SHARD, "b": "sub"}), "missing", NotFoundError),
    ("tensor-not-in-shard", _index({"a": SHARD, "b": SHARD, "zz": SHARD}), "zz", CorruptFileError),
]


@pytest.mark.parametrize("index, fragment, expected", [c[1:] for c in HOSTILE_INDEX], ids=[c[0] for c in HOSTILE_INDEX])
def test_hostile_index_is_one_clear_error(checkpoint_dir, tmp_path, capsys, index, fragment, expected):
    (checkpoint_dir / SHARD).write_bytes(_st_bytes(_st_header()))
    (checkpoint_dir / "sub").mkdir()
    (checkpoint_dir / "model.safetensors.index.json").write_bytes(index)
    message = _refused(lambda: Checkpoint.open(checkpoint_dir), expected)
    assert fragment in message, message
    assert fragment in _one_line(capsys, ["convert", str(checkpoint_dir), "-o", str(tmp_path / "out.gguf")])


def test_a_good_index_still_opens(checkpoint_dir):
    (checkpoint_dir / SHARD).write_bytes(_st_bytes(_st_header()))
    (checkpoint_dir / "model.safetensors.index.json").write_bytes(_index({"a": SHARD, "b": SHARD}))
    checkpoint = Checkpoint.open(checkpoint_dir)
    assert [t.name for t in checkpoint.tensors()] == ["a", "b"]


@pytest.mark.parametrize("config, fragment", [
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b'{"a": ' * 100_000, "nested too deeply"),
    (b"[]", "not an object"),
    (b'"qwen2"', "not an object"),
    (b"\xff\xfe{}", "malformed"),
    (b"{", "malformed"),
], ids=["nested", "nested-open", "list", "string", "not-utf8", "cut"])
def test_hostile_config_is_one_clear_error(checkpoint_dir, tmp_path, capsys, config, fragment):
    (checkpoint_dir / "config.json").write_bytes(config)
    (checkpoint_dir / "model.safetensors").write_bytes(_st_bytes(_st_header()))
    assert fragment in _refused(lambda: Checkpoint.open(checkpoint_dir))
    assert fragment in _one_line(capsys, ["convert", str(checkpoint_dir), "-o", str(tmp_path / "out.gguf")])


@pytest.mark.parametrize("name", ["config.json", "model.safetensors.index.json"])
def test_side_files_longer_than_the_cap(checkpoint_dir, name):
    path = checkpoint_dir / name
    path.write_bytes(b"{")
    os.truncate(path, MAX_JSON_BYTES + 1)
    assert f"larger than {MAX_JSON_BYTES >> 20} MiB" in _refused(lambda: Checkpoint.open(checkpoint_dir))


# --- importance matrices -------------------------------------------------------------------

def _dat_entry(name: bytes, ncall: int, values: list[float], *, length: int | None = None,
               nval: int | None = None) -> bytes:
    return (struct.pack("<i", len(name) if length is None else length) + name
            + struct.pack("<ii", ncall, len(values) if nval is None else nval) + struct.pack(f"<{len(values)}f", *values))


def _dat(*entries: bytes, n: int | None = None) -> bytes:
    return struct.pack("<i", len(entries) if n is None else n) + b"".join(entries)


GOOD_ENTRY = _dat_entry(b"blk.0.ffn_up.weight", 4, [4.0, 8.0])

# (id, file bytes, a fragment the message must contain)
HOSTILE_DAT = [
    ("empty", b"", "truncated"),
    ("three-bytes", b"\1\0\0", "truncated"),
    ("no-entries", _dat(), "no entries"),
    ("count-negative", _dat(GOOD_ENTRY, n=-1), "entry count is -1"),
    ("count-2**31-1", _dat(GOOD_ENTRY, n=2**31 - 1), "entry count is 2147483647"),
    ("count-one-more", _dat(GOOD_ENTRY, n=2), "truncated"),
    ("name-length-negative", _dat(_dat_entry(b"a", 1, [1.0], length=-12)), "name length is -12"),
    ("name-length-2**31-1", _dat(_dat_entry(b"a", 1, [1.0], length=2**31 - 1)), "name length is 2147483647"),
    ("name-empty", _dat(_dat_entry(b"", 1, [1.0])), "empty name"),
    ("name-not-utf8", _dat(_dat_entry(b"\xff\xfe\xfd", 1, [1.0])), "not UTF-8"),
    ("name-duplicate", _dat(GOOD_ENTRY, GOOD_ENTRY), "appears twice"),
    ("ncall-negative", _dat(_dat_entry(b"a", -1, [1.0])), "call count of a is -1"),
    ("nval-negative", _dat(_dat_entry(b"a", 1, [1.0], nval=-1)), "value count of a is -1"),
    ("nval-2**31-1", _dat(_dat_entry(b"a", 1, [1.0], nval=2**31 - 1)), "value count of a is 2147483647"),
    ("values-cut", _dat(GOOD_ENTRY)[:-3], "value count"),
    ("second-entry-cut", _dat(GOOD_ENTRY, _dat_entry(b"b", 1, [1.0]))[:-6], "truncated"),
    ("values-nan", _dat(_dat_entry(b"a", 1, [1.0, float("nan")])), "NaN"),
    ("values-inf", _dat(_dat_entry(b"a", 2, [float("inf")])), "NaN"),
    ("values-negative", _dat(_dat_entry(b"a", 1, [-1.0])), "negative"),
]


def _imatrix_gguf(path: Path, tensors: dict[str, np.ndarray], **fields: object) -> Path:
    import gguf

    writer = gguf.GGUFWriter(str(path), "imatrix")
    for key, value in fields.items():
        writer.add_key_value(f"imatrix.{key}", value[1], value[0])
    for name, array in tensors.items():
        writer.add_tensor(name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _f(*shape: int) -> np.ndarray:
    return np.ones(shape, np.float32)


def _gguf_imatrix_cases() -> list[tuple[str, dict, dict, str]]:
    from gguf import GGUFValueType as T

    w = "blk.0.ffn_up.weight"
    return [
        ("in_sum2-without-counts", {f"{w}.in_sum2": _f(1, 4)}, {}, "not both"),
        ("counts-without-in_sum2", {f"{w}.counts": _f(1, 1)}, {}, "not both"),
        ("rows-do-not-divide", {f"{w}.in_sum2": _f(1, 5), f"{w}.counts": _f(2, 1)}, {}, "not a whole number"),
        ("no-counts", {f"{w}.in_sum2": _f(1, 4), f"{w}.counts": _f(0, 1)}, {}, "0 counts"),
        ("no-values", {f"{w}.in_sum2": _f(1, 0), f"{w}.counts": _f(1, 1)}, {}, "0 in_sum2"),
        ("in_sum2-f16", {f"{w}.in_sum2": np.ones((1, 4), np.float16), f"{w}.counts": _f(1, 1)}, {}, "not F32"),
        ("counts-i32", {f"{w}.in_sum2": _f(1, 4), f"{w}.counts": np.ones((1, 1), np.int32)}, {}, "not F32"),
        ("in_sum2-nan", {f"{w}.in_sum2": _f(1, 4) * np.nan, f"{w}.counts": _f(1, 1)}, {}, "NaN"),
        ("in_sum2-negative", {f"{w}.in_sum2": -_f(1, 4), f"{w}.counts": _f(1, 1)}, {}, "negative"),
        ("counts-overflow", {f"{w}.in_sum2": _f(1, 4) * 3e38, f"{w}.counts": _f(1, 1) * 1e-30}, {}, "infinite"),
        ("no-entries", {"other.weight": _f(1, 4)}, {}, "no entries"),
        ("chunk-count-string", {f"{w}.in_sum2": _f(1, 4), f"{w}.counts": _f(1, 1)},
         {"chunk_count": (T.STRING, "four")}, "chunk_count"),
        ("chunk-count-negative", {f"{w}.in_sum2": _f(1, 4), f"{w}.counts": _f(1, 1)},
         {"chunk_count": (T.INT32, -4)}, "chunk_count"),
        ("chunk-count-float", {f"{w}.in_sum2": _f(1, 4), f"{w}.counts": _f(1, 1)},
         {"chunk_count": (T.FLOAT32, 4.0)}, "chunk_count"),
        ("datasets-number", {f"{w}.in_sum2": _f(1, 4), f"{w}.counts": _f(1, 1)},
         {"datasets": (T.UINT32, 3)}, "datasets"),
        ("datasets-numbers", {f"{w}.in_sum2": _f(1, 4), f"{w}.counts": _f(1, 1)},
         {"datasets": (T.ARRAY, [1, 2])}, "datasets"),
    ]


@pytest.mark.parametrize("content, fragment", [c[1:] for c in HOSTILE_DAT], ids=[c[0] for c in HOSTILE_DAT])
def test_hostile_legacy_imatrix_is_one_clear_error(tmp_path, capsys, tiny, content, fragment):
    path = tmp_path / "bad.dat"
    path.write_bytes(content)
    message = _refused(lambda: load_imatrix(path))
    assert "importance matrix" in message and str(path) in message and fragment in message, message
    out = tmp_path / "out"
    line = _one_line(capsys, ["quantize", str(tiny), "iq2_xxs", "--imatrix", str(path), "-o", str(out)])
    assert fragment in line and not out.exists()


@pytest.mark.parametrize("case", _gguf_imatrix_cases(), ids=lambda c: c[0])
def test_hostile_gguf_imatrix_is_one_clear_error(tmp_path, capsys, tiny, case):
    _, tensors, fields, fragment = case
    path = _imatrix_gguf(tmp_path / "bad.imatrix.gguf", tensors, **fields)
    message = _refused(lambda: load_imatrix(path))
    assert "importance matrix" in message and fragment in message, message
    out = tmp_path / "out"
    assert fragment in _one_line(capsys, ["quantize", str(tiny), "iq2_xxs", "--imatrix", str(path), "-o", str(out)])


def test_good_imatrix_files_still_load(tmp_path):
    from gguf import GGUFValueType as T

    w = "blk.0.ffn_up.weight"
    sums = np.array([[2.0, 4.0], [9.0, 3.0]], np.float32)  # two matrices (experts) of two columns
    path = _imatrix_gguf(tmp_path / "ok.gguf", {f"{w}.in_sum2": sums, f"{w}.counts": np.array([[2.0], [0.0]],
                                                                                                np.float32)},
                         chunk_count=(T.UINT32, 4), datasets=(T.ARRAY, ["wiki.txt"]))
    meta = load_imatrix(path)
    assert meta["entries"][w].tolist() == [1.0, 2.0, 1.0, 1.0]
    assert meta["chunks"] == 4 and meta["dataset"] == "wiki.txt"
    legacy = tmp_path / "ok.dat"
    legacy.write_bytes(_dat(GOOD_ENTRY, _dat_entry(b"b", 0, [3.0])))
    assert {k: v.tolist() for k, v in load_imatrix(legacy)["entries"].items()} == {
        "blk.0.ffn_up.weight": [1.0, 2.0], "b": [3.0]}


def test_gguf_imatrix_truncated_everywhere(tmp_path):
    from gguf import GGUFReader

    w = "blk.0.ffn_up.weight"
    path = _imatrix_gguf(tmp_path / "cut.gguf", {f"{w}.in_sum2": _f(1, 64), f"{w}.counts": _f(1, 1)})
    load_imatrix(path)
    data_end = max(t.data_offset + int(t.n_bytes) for t in GGUFReader(path).tensors)  # padding follows
    for cut in range(data_end - 1, -1, -7):
        os.truncate(path, cut)
        with pytest.raises(CorruptFileError, match="importance matrix"):
            load_imatrix(path)


# --- memory stays bounded --------------------------------------------------------------------

_BOUNDED = """
import resource, sys, time
from pathlib import Path
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
from blossom_edge.inputs.checkpoint import Shard
from blossom_edge.base.errors import CorruptFileError
from blossom_edge.inputs.gguf_info import read_gguf_info
from blossom_edge.imatrix.reader import load_imatrix
readers = {"gguf": read_gguf_info, "imatrix": load_imatrix, "safetensors": Shard}
start = time.perf_counter()
for kind, path in zip(sys.argv[1::2], sys.argv[2::2]):
    try:
        readers[kind](Path(path))
    except CorruptFileError:
        continue
    sys.exit(f"{path} was accepted")
print(time.perf_counter() - start)
"""


def test_declared_sizes_are_never_allocated(tmp_path):
    """Under a 1 GiB address-space limit, files declaring terabytes fail with CorruptFileError."""
    cases = {
        "gguf": [_gguf([_array("x.big", U8, 2**40)]), _gguf([_array("x.big", STRING, 2**40)]),
                 _gguf([_array("tokenizer.ggml.tokens", STRING, 2**40)]), _gguf([_array("x.big", ARRAY, 2**40)]),
                 _gguf(n_tensors=2**62), _gguf(n_kv=2**62), _gguf(tensors=[_tensor("w", [2**32] * 4)]),
                 _gguf([_kv("general.name", STRING, struct.pack("<Q", 2**60))])],
        "imatrix": [_gguf([_array("x.big", U64, 2**40)]), _dat(GOOD_ENTRY, n=2**31 - 1),
                    _dat(_dat_entry(b"a", 1, [1.0], nval=2**31 - 1))],
        "safetensors": [_st_bytes(_st_header(shape=[2**62, 2**62])), _st_bytes(b"[" * 100_000),
                        _st_bytes(_st_header("b", data_offsets=[16, 2**63]))],
    }
    argv = []
    for kind, contents in cases.items():
        for i, content in enumerate(contents):
            path = tmp_path / f"{kind}-{i}"
            path.write_bytes(content)
            argv += [kind, str(path)]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", _BOUNDED, *argv], capture_output=True, text=True, env=env,
                            timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert float(result.stdout) < FAST_SECONDS


def test_a_big_vocabulary_reads_in_linear_time(tmp_path):
    """A million tokens: the check walks each string once and the summary skips them."""
    n = 1_000_000
    tokens = _array("tokenizer.ggml.tokens", STRING, n, _str("tok") * n)
    path = tmp_path / "big-vocab.gguf"
    path.write_bytes(_gguf(BASE_KVS + [tokens]))
    start = time.perf_counter()
    assert read_gguf_info(path).vocab_size == n
    assert time.perf_counter() - start < 5 * FAST_SECONDS
