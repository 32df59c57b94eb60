"""Hostile JSON, and the other small files a checkpoint carries, through every command that reads each.

One reader bounds every JSON document a user can hand us (`blossom_edge.base.bounded_read`); here each
command is held to it: for each file × each hostile form × each command that reads that file, one
line on stderr starting `blossom-edge: error: ` that names the file, exit 1 or 2, nothing written,
and no model ever loaded (everything is refused before). The files gguf-py opens itself during a
conversion (the model card, generation_config.json, chat templates, merges.txt) are in the matrix
too, since ours must refuse them before gguf-py sees them. Report files and results-store rows,
read by `report` and `fit` alone, are held to the same reader in test_hostile_inputs.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from blossom_edge.base.bounded_read import MAX_JSON_DEPTH, json_int, parse_json
from blossom_edge.base.errors import CorruptFileError
from blossom_edge.base.sizes import parse_size
from blossom_edge.cli import main
from blossom_edge.convert.metadata import MAX_FRONT_MATTER_CHARS
from blossom_edge.demo.model import DemoShape, build_demo_checkpoint
from tests import ollama_server
from tests.hostile.test_hostile_inputs import GALAXY, _dev_zero, _directory, _fifo, _put, _sparse

pytestmark = pytest.mark.usefixtures("hang_guard")

Content = bytes | str | Callable[[Path], None]

# A Modelfile `--check --against` parses cleanly, so the command goes on to read the checkpoint.
MODELFILE = 'FROM model.gguf\nTEMPLATE """{{ .Prompt }}"""\n'


def _nest(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


# name → (content, exit code, text the message must hold besides the file's name)
HOSTILE_JSON: dict[str, tuple[Content, int, str]] = {
    "nested-100000": (_nest(100_000), 1, "nested too deeply"),
    "nested-100000-in-an-object": (b'{"a": ' + _nest(100_000) + b"}", 1, "nested too deeply"),
    # Deeper than our cap, yet shallow enough for json.loads itself to parse.
    "nested-past-the-cap": (b'{"a": ' + _nest(MAX_JSON_DEPTH) + b"}", 1, "nested too deeply"),
    "200-MB": (_sparse(200 << 20), 1, "larger than"),
    "not-utf8": (b'{"a": "\xff\xfe"}', 1, "UTF-8"),
    "not-an-object": (b"[1, 2]", 1, "malformed"),
    "fifo": (_fifo, 2, "FIFO"),
    "directory": (_directory, 1, "directory"),
    "dev-zero": (_dev_zero, 2, "not a regular file"),
}

# The commands that read a checkpoint's files, as argv for checkpoint `c`, scratch directory `w` and
# the fake Ollama server's URL `h`.
COMMANDS: dict[str, Callable[[Path, Path, str], list[str]]] = {
    "convert": lambda c, w, h: ["convert", str(c), "-o", str(w / "out.gguf")],
    "convert --dry-run": lambda c, w, h: ["convert", str(c), "--dry-run"],
    "quantize": lambda c, w, h: ["quantize", str(c), "q8_0", "-o", str(w / "out")],
    "modelfile": lambda c, w, h: ["modelfile", str(c), "--model", "4b"],
    "modelfile --check --against": lambda c, w, h: ["modelfile", "--check", str(w / "Modelfile"), "--against", str(c)],
    "release --dry-run": lambda c, w, h: ["release", str(c), "--quants", "q8_0", "-o", str(w / "out"), "--dry-run"],
    "ollama create": lambda c, w, h: ["ollama", "create", str(c), "q8_0", "--model", "4b", "--host", h,
                                      "-o", str(w / "out")],
}
CONVERTING = ["convert", "convert --dry-run", "quantize", "ollama create"]
TEMPLATE_READERS = ["modelfile", "modelfile --check --against"]

# file → every command that reads it (the converting ones through gguf-py as well as our own readers)
JSON_READERS: dict[str, list[str]] = {
    "config.json": [*CONVERTING, *TEMPLATE_READERS, "release --dry-run"],
    "tokenizer_config.json": [*CONVERTING, *TEMPLATE_READERS],
    "tokenizer.json": CONVERTING,
    "generation_config.json": CONVERTING,
    "chat_template.json": CONVERTING,
    "model.safetensors.index.json": CONVERTING,
}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny valid checkpoint (the demo model's tokenizer, 1.5 MB of weights)."""
    directory = tmp_path_factory.mktemp("base") / "ckpt"
    return build_demo_checkpoint(directory, DemoShape(hidden=64, intermediate=128, layers=1, heads=4, kv_heads=2,
                                                      context=256))


@pytest.fixture(scope="module")
def ollama_url() -> Iterator[str]:
    state, server = ollama_server.start()
    yield state.url
    server.shutdown()


@pytest.fixture(autouse=True)
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data_home: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)


def _checkpoint(base: Path, tmp_path: Path, name: str, content: Content) -> Path:
    """A copy of `base` (links to its files) with `name` replaced by `content`."""
    directory = tmp_path / "ckpt"
    directory.mkdir()
    for path in base.iterdir():
        (directory / path.name).symlink_to(path)
    _put(directory / name, content)
    (tmp_path / "Modelfile").write_text(MODELFILE)
    return directory


def _refused(capsys: pytest.CaptureFixture[str], argv: list[str], code: int, *needles: str) -> str:
    """Run the CLI; it must exit `code` with one line on stderr holding every needle, and write nothing."""
    capsys.readouterr()
    result = main(argv)
    err = capsys.readouterr().err
    assert result == code, err
    assert err.startswith("blossom-edge: error: ") and err.count("\n") == 1, err
    assert "internal error" not in err and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


def _nothing_written(work: Path) -> bool:
    """No GGUF, partial file or manifest under `work` but the checkpoint's own files."""
    return not [p for p in work.rglob("*") if p.suffix in (".gguf", ".partial") or p.name.endswith(".manifest.json")]


JSON_MATRIX = [(name, case, command) for name, commands in JSON_READERS.items() for case in HOSTILE_JSON
               for command in commands]


@pytest.mark.parametrize("name, case, command", JSON_MATRIX, ids=["|".join(m) for m in JSON_MATRIX])
def test_hostile_json_is_one_line_from_every_reader(base: Path, tmp_path: Path, ollama_url: str,
                                                    capsys: pytest.CaptureFixture[str], name: str, case: str,
                                                    command: str) -> None:
    content, code, needle = HOSTILE_JSON[case]
    checkpoint = _checkpoint(base, tmp_path, name, content)
    _refused(capsys, COMMANDS[command](checkpoint, tmp_path, ollama_url), code, name, needle)
    assert _nothing_written(tmp_path)


def test_the_commands_read_the_good_checkpoint(base: Path, tmp_path: Path, ollama_url: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """The matrix's refusals come from the hostile file: untouched, these commands get past every read."""
    checkpoint = _checkpoint(base, tmp_path, "unused.txt", "")
    for command in ("convert --dry-run", "modelfile", "release --dry-run"):
        assert main(COMMANDS[command](checkpoint, tmp_path, ollama_url)) == 0, capsys.readouterr().err
    # The demo model's template is not the Modelfile's: the check got as far as comparing them.
    _refused(capsys, COMMANDS["modelfile --check --against"](checkpoint, tmp_path, ollama_url), 1,
             "TEMPLATE does not prompt as")


# ---------------------------------------------------------------------------------------------
# Text files gguf-py (and `modelfile`) open themselves: chat templates, merges.txt, the model card

HOSTILE_TEXT: dict[str, tuple[Content, int, str]] = {
    "200-MB": (_sparse(200 << 20), 1, "larger than"),
    "not-utf8": (b"\xff\xfe{{ messages }}", 1, "UTF-8"),
    "fifo": (_fifo, 2, "FIFO"),
    "directory": (_directory, 1, "directory"),
    "dev-zero": (_dev_zero, 2, "not a regular file"),
}
TEXT_READERS: dict[str, list[str]] = {
    "chat_template.jinja": [*CONVERTING, *TEMPLATE_READERS],
    "merges.txt": CONVERTING,
    "additional_chat_templates/tools.jinja": CONVERTING,
    "README.md": CONVERTING,
}
TEXT_MATRIX = [(name, case, command) for name, commands in TEXT_READERS.items() for case in HOSTILE_TEXT
               for command in commands]


@pytest.mark.parametrize("name, case, command", TEXT_MATRIX, ids=["|".join(m) for m in TEXT_MATRIX])
def test_hostile_side_files_are_one_line_from_every_reader(base: Path, tmp_path: Path, ollama_url: str,
                                                           capsys: pytest.CaptureFixture[str], name: str, case: str,
                                                           command: str) -> None:
    content, code, needle = HOSTILE_TEXT[case]
    checkpoint = _checkpoint(base, tmp_path, name, content)
    if name.startswith("additional_chat_templates"):  # gguf-py reads these beside a chat_template.jinja
        template = json.loads((base / "tokenizer_config.json").read_text())["chat_template"]
        (checkpoint / "chat_template.jinja").write_text(template)
    _refused(capsys, COMMANDS[command](checkpoint, tmp_path, ollama_url), code, Path(name).name, needle)
    assert _nothing_written(tmp_path)


def _alias_bomb() -> str:
    """YAML whose aliases expand to 9**9 strings: cheap to load, ruinous to walk as a tree."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    return "---\n" + "\n".join(lines) + "\ntags: *a8\n---\n"


# name → (file, content, text the message must hold): well-formed files whose values gguf-py would
# copy into the GGUF's metadata and then fail to write halfway through the output.
HOSTILE_METADATA: dict[str, tuple[str, str, str]] = {
    "card-not-yaml": ("README.md", "---\nlicense: [unclosed\n---\n", "not YAML"),
    "card-nested-1000": ("README.md", "---\ntags: " + "[" * 1000 + "]" * 1000 + "\n---\n", "nested too deeply"),
    "card-front-matter-too-long": ("README.md", "---\n" + "k: v\n" * (MAX_FRONT_MATTER_CHARS // 4) + "---\n",
                                   "front matter is longer"),
    "card-tags-nested": ("README.md", "---\ntags: [[1, 2]]\n---\n", "general.tags"),
    "card-tags-a-cycle": ("README.md", "---\ntags: &a [*a]\n---\n", "general.tags"),
    "card-tags-an-alias-bomb": ("README.md", _alias_bomb(), "general.tags"),
    "card-version-a-number": ("README.md", "---\nversion: 1.5\n---\n", "general.version"),
    "generation-top-k-a-string": ("generation_config.json", '{"top_k": "forty"}', "general.sampling_top_k"),
    "generation-top-k-past-int32": ("generation_config.json", '{"top_k": 1099511627776}', "general.sampling_top_k"),
    "generation-temperature-past-float32": ("generation_config.json", '{"temperature": 1e300}',
                                            "general.sampling_temp"),
}
METADATA_MATRIX = [(case, command) for case in HOSTILE_METADATA for command in CONVERTING]


@pytest.mark.parametrize("case, command", METADATA_MATRIX, ids=["|".join(m) for m in METADATA_MATRIX])
def test_metadata_gguf_py_cannot_write_is_one_line(base: Path, tmp_path: Path, ollama_url: str,
                                                   capsys: pytest.CaptureFixture[str], case: str,
                                                   command: str) -> None:
    name, content, needle = HOSTILE_METADATA[case]
    checkpoint = _checkpoint(base, tmp_path, name, content)
    _refused(capsys, COMMANDS[command](checkpoint, tmp_path, ollama_url), 1, needle)
    assert _nothing_written(tmp_path)


# ---------------------------------------------------------------------------------------------
# Numbers in config.json

# (config.json change, the converter's message): values that are JSON but no count of anything.
BAD_CONFIG_NUMBERS = [
    ({"num_attention_heads": 0}, "num_attention_heads"),
    ({"hidden_size": 1e999}, "hidden_size"),
    ({"num_hidden_layers": "2"}, "num_hidden_layers"),
    ({"vocab_size": True}, "vocab_size"),
    ({"vocab_size": 2**31}, "vocab_size"),
    ({"head_dim": 10**400}, "head_dim"),
]


def _config_with(base: Path, change: dict[str, Any]) -> bytes:
    config = json.loads((base / "config.json").read_text())
    return json.dumps({**config, **change}).encode()


@pytest.mark.parametrize("change, needle", BAD_CONFIG_NUMBERS, ids=[next(iter(c)) + "=" + str(next(iter(c.values())))[:12]
                                                                    for c, _ in BAD_CONFIG_NUMBERS])
def test_config_numbers_that_count_nothing(base: Path, tmp_path: Path, ollama_url: str,
                                           capsys: pytest.CaptureFixture[str], change: dict[str, Any],
                                           needle: str) -> None:
    """Refused in one line by every command that converts; a release plan only needs them for its memory
    estimates, so its dry run still plans (from the file sizes) instead of dividing by zero."""
    checkpoint = _checkpoint(base, tmp_path, "config.json", _config_with(base, change))
    for command in CONVERTING:
        _refused(capsys, COMMANDS[command](checkpoint, tmp_path, ollama_url), 1, "config.json", needle)
    assert main([*COMMANDS["release --dry-run"](checkpoint, tmp_path, ollama_url), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["models"][0]["stem"] == "ckpt"


# ---------------------------------------------------------------------------------------------
# Release records: a damaged one means "redo that step"; something that cannot be a file is refused

def _done_type(checkpoint: Path, out: Path) -> Path:
    """A Q8_0 output with the records a finished release leaves (a stand-in file, its true sha256):
    its manifest, its quality figures and an empty split record (split at 1K)."""
    from blossom_edge.base.digest import sha256_file
    from blossom_edge.quantize.manifest import manifest_path, tool_versions
    from blossom_edge.release import resume

    final = out / "ckpt" / "ckpt-Q8_0.gguf"
    final.parent.mkdir(parents=True)
    final.write_bytes(b"GGUF" + bytes(4096))
    sha256 = sha256_file(final)
    manifest = {"qtype": "Q8_0", "tools": tool_versions(), "bytes": final.stat().st_size, "sha256": sha256,
                "source": {"repo_id": None, "revision": None, "path": str(checkpoint.resolve())}}
    manifest_path(final).write_text(json.dumps(manifest))
    resume.write_record(resume.quality_path(final.parent, final), {"sha256": sha256, **resume.quality_method()})
    resume.write_record(resume.split_path(final.parent, final), {"sha256": sha256, "max_size": 1000, "shards": []})
    return final


def _release_plan(capsys: pytest.CaptureFixture[str], checkpoint: Path, out: Path, *extra: str) -> dict[str, bool]:
    capsys.readouterr()
    code = main(["release", str(checkpoint), "--quants", "q8_0", "-o", str(out), "--dry-run", "--json", *extra])
    captured = capsys.readouterr()
    assert code == 0 and captured.err == "", captured.err
    return {task["key"]: task["done"] for task in json.loads(captured.out)["tasks"]}


RECORD_CONTENTS = ["nested-100000", "nested-past-the-cap", "200-MB", "not-utf8", "not-an-object"]
RECORD_NOT_FILES = ["fifo", "directory", "dev-zero"]


@pytest.mark.parametrize("record", ["manifest", "quality", "split"])
@pytest.mark.parametrize("case", RECORD_CONTENTS + RECORD_NOT_FILES)
def test_a_hostile_release_record(base: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], record: str,
                                  case: str) -> None:
    from blossom_edge.quantize.manifest import manifest_path
    from blossom_edge.release import resume

    checkpoint, out = _checkpoint(base, tmp_path, "unused.txt", ""), tmp_path / "out"
    final = _done_type(checkpoint, out)
    key = {"manifest": "ckpt/Q8_0/verify", "quality": "ckpt/Q8_0/quality", "split": "ckpt/Q8_0/split"}[record]
    assert _release_plan(capsys, checkpoint, out, "--split-max-size", "1K")[key] is True
    path = {"manifest": manifest_path(final), "quality": resume.quality_path(final.parent, final),
            "split": resume.split_path(final.parent, final)}[record]
    content, code, needle = HOSTILE_JSON[case]
    _put(path, content)
    if case in RECORD_CONTENTS:
        assert _release_plan(capsys, checkpoint, out, "--split-max-size", "1K")[key] is False
    else:
        _refused(capsys, ["release", str(checkpoint), "--quants", "q8_0", "-o", str(out), "--dry-run",
                          "--split-max-size", "1K"], code, path.name, needle)


@pytest.mark.parametrize("shards", [[1], ["a.gguf"], [{"file": 5}], "all", [{"file": "ckpt-Q8_0.gguf"}]])
def test_a_split_record_with_shards_of_the_wrong_shape_means_split_again(base: Path, tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str],
                                                                          shards: Any) -> None:
    from blossom_edge.release import resume

    checkpoint, out = _checkpoint(base, tmp_path, "unused.txt", ""), tmp_path / "out"
    final = _done_type(checkpoint, out)
    path = resume.split_path(final.parent, final)
    resume.write_record(path, {**json.loads(path.read_text()), "shards": shards})
    assert _release_plan(capsys, checkpoint, out, "--split-max-size", "1K")["ckpt/Q8_0/split"] is False


# ---------------------------------------------------------------------------------------------
# Sizes on the command line

MALFORMED_SIZES = ["1.2.3G", "", "-1G", "1e999G", "G", "0G", "0.0001K", "inf", "nan", "lots", "5iB", "1_000G",
                   "\u0663G", "9" * 200 + "G", "99999999999T", "8 G B"]
BARE_NUMBERS = ["4", "6000000000", "7.5"]


@pytest.mark.parametrize("text", MALFORMED_SIZES + BARE_NUMBERS)
@pytest.mark.parametrize("option", ["--ram", "--split-max-size"])
def test_a_size_that_is_not_one_is_one_usage_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  option: str, text: str) -> None:
    argv = (["fit", "--ram", text, "--bandwidth", "10"] if option == "--ram" else
            ["release", "4b", "--quants", "q8_0", "-o", str(tmp_path / "out"), "--dry-run", "--split-max-size", text])
    err = _refused(capsys, argv, 2, option)
    if text in BARE_NUMBERS:
        assert "takes a size with a unit" in err, err
    assert len(err) < 200, err


@pytest.mark.parametrize("text, binary, expected", [
    ("8G", True, 8 << 30), ("8g", True, 8 << 30), ("8GB", True, 8 << 30), ("7.5GiB", True, int(7.5 * 2**30)),
    ("512M", True, 512 << 20), (" 1 T ", True, 1 << 40), ("4096B", True, 4096), (".5K", True, 512),
    ("50G", False, 50 * 10**9), ("50GB", False, 50 * 10**9), ("1.5GiB", False, 3 << 29), ("1M", False, 10**6),
    ("0.3K", False, 300), ("1.0000000000000001G", False, 10**9),
])
def test_sizes_in_each_options_units(text: str, binary: bool, expected: int) -> None:
    assert parse_size(text, option="--size", example="8G", binary=binary) == expected


def test_fit_says_how_it_read_the_ram_it_was_given(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", "--ram", "7.5GiB", "--bandwidth", "10", "--json", "--device-root", str(GALAXY)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ram_total"] == int(7.5 * 2**30) and "7.5 GiB you gave" in data["budget_basis"]


def test_sizes_are_documented_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, base_unit in ((["fit", "--help"], "1024"), (["release", "--help"], "1000")):
        assert main(argv) == 0
        help_text = " ".join(capsys.readouterr().out.replace("│", " ").split())
        assert f"powers of {base_unit}" in help_text and "a unit is required" in help_text, help_text


# ---------------------------------------------------------------------------------------------
# The reader itself

def test_the_depth_cap_is_exact() -> None:
    assert parse_json(_nest(MAX_JSON_DEPTH), "x") is not None
    with pytest.raises(CorruptFileError, match="nested too deeply"):
        parse_json(_nest(MAX_JSON_DEPTH + 1), "x")
    deep_in_a_wide_one = [[1]] * 10_000 + [json.loads(_nest(MAX_JSON_DEPTH))]
    with pytest.raises(CorruptFileError, match="nested too deeply"):
        parse_json(json.dumps(deep_in_a_wide_one), "x")


def test_the_reader_names_its_file_in_every_failure() -> None:
    for data in (b"\xff", b"{", _nest(100_000), b'{"a": 1, "a": 2}'):
        with pytest.raises(CorruptFileError) as caught:
            parse_json(data, "where/it.json: malformed JSON", unique_keys=True)
        assert str(caught.value).startswith("where/it.json: malformed JSON (") and "\n" not in str(caught.value)


@pytest.mark.parametrize("value, expected", [
    (8, 8), (8.0, 8), (True, None), ("8", None), (8.5, None), (float("inf"), None), (float("nan"), None),
    (1e999, None), (10**400, None), (0, None), (None, None), ([8], None),
])
def test_json_int_reads_only_counts_in_range(value: Any, expected: int | None) -> None:
    assert json_int(value, low=1, high=1 << 31) == expected
