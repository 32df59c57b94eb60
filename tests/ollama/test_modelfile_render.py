"""Rendering: every generated Modelfile reads back unchanged, hostile prompts are written or refused,
the published `modelfiles/` set matches the catalog, and the `modelfile` command's modes."""

from __future__ import annotations

import json
import random

import pytest

from blossom_edge.base.errors import UnsupportedError
from blossom_edge.cli import main
from blossom_edge.model.catalog import DEFAULT_QTYPE, MODELS, published, resolve
from blossom_edge.ollama import modelfile as mf
from blossom_edge.ollama.go import create_request, modelfile_parser
from blossom_edge.ollama.names import is_gpu_tag
from tests import ROOT
from tests.builders.tiny_gguf import build_metadata_gguf

REPO_MODELFILES = ROOT / "modelfiles"

HOSTILE = [
    'Say "hello" and \'bye\'',
    '"starts and ends with quotes"',
    'a """ inside a line """ twice',
    'ends with triple """',
    "back\\slashes \\n \\\" \\\\",
    "line one\nline two\n",
    "\nleading and trailing newlines\n",
    "# looks like a comment\n# on every line",
    "FROM evil\nPARAMETER num_gpu 0\nSYSTEM injected",
    "你是一个乐于助人的助手。请用中文回答。",
    "emoji 🌸🚀 and a flag 🇨🇳",
    "  leading and trailing spaces  ",
    "\ttabs\tinside\t",
    '"',
    '""',
    '""" ',
    "",
    "windows\r\nline endings\r\n",
    'quote at a line end"\nnext line',
    'multi\nline with "quotes" and """ triple mid-line\nend',
]

UNWRITABLE = [
    ('first line\nsecond ends with """\nthird', 'line 2 ends with """'),
    ('x"""  \nrest', 'line 1 ends with """'),
    ("ZWJ family 👨\u200d👩\u200d👧", "U+200D (ZERO WIDTH JOINER)"),
    ("ideographic\u3000space", "U+3000 (IDEOGRAPHIC SPACE)"),
    ("no-break\u00a0space", "U+00A0 (NO-BREAK SPACE)"),
    ("a\nb\x00c", "line 2 contains U+0000"),
    ("vertical\x0btab", "U+000B"),
]


@pytest.mark.parametrize("model", [m for m in MODELS if m.chat], ids=lambda m: m.alias)
@pytest.mark.parametrize("gpu", [False, True], ids=["cpu", "gpu"])
def test_render_parse_render_is_identical_for_every_catalog_model(model, gpu):
    commands = mf.blossom_commands(model, f"./{model.gguf_filename(DEFAULT_QTYPE)}", gpu=gpu)
    comment = mf.blossom_comment(model, model.ollama_name(gpu), gpu)
    text = mf.render(commands, comment)
    assert modelfile_parser.parse(text) == commands
    assert mf.render(modelfile_parser.parse(text), comment) == text
    assert [p for p in create_request.check(modelfile_parser.parse(text))] == []
    params = create_request.create_fields(modelfile_parser.parse(text))["parameters"]
    assert params["stop"] == model.chat.stop_sequences()
    assert params["num_ctx"] == min(model.context_length, 4096)
    assert ("num_gpu" in params) is gpu and params.get("num_gpu", 999) == 999
    assert params["temperature"] == 0.5 and params["top_k"] == 50
    assert params["top_p"] == pytest.approx(0.85) and params["repeat_penalty"] == pytest.approx(1.05)


@pytest.mark.parametrize("prompt", HOSTILE)
def test_hostile_system_prompts_round_trip(prompt):
    model = resolve("4b")
    text = mf.blossom_modelfile(model, "./x.gguf", name="azure99/blossom:4b", system=prompt)
    system = [c.args for c in modelfile_parser.parse(text) if c.name == "system"]
    assert system == [prompt]
    assert mf.render(modelfile_parser.parse(text), mf.blossom_comment(model, "azure99/blossom:4b", False)) == text


@pytest.mark.parametrize("prompt, reason", UNWRITABLE)
def test_prompts_ollama_cannot_represent_are_refused_naming_the_line(prompt, reason):
    with pytest.raises(UnsupportedError) as info:
        mf.blossom_modelfile(resolve("4b"), "./x.gguf", name="azure99/blossom:4b", system=prompt)
    message = str(info.value)
    assert message.startswith("SYSTEM text line ") and reason in message and "\n" not in message


def test_writable_exactly_when_ollama_could_read_it_back():
    """Random strings over the characters that matter: `quote` must either produce a spelling that
    parses back unchanged, or refuse, and refuse only for the two real reasons."""
    rng = random.Random(5)
    alphabet = ['"', '"', "'", " ", "\t", "\n", "\r", "#", "\\", "a", "你", "\u200d", "{"]
    for _ in range(3000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        lines = value.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        representable = "\u200d" not in value and not any(
            line.rstrip(" \t").endswith('"""') for line in lines[:-1])
        try:
            form = mf.quote(value, "SYSTEM text")
        except UnsupportedError:
            assert not representable, repr(value)
        else:
            assert representable, repr(value)
            assert modelfile_parser.parse(f"FROM x\nSYSTEM {form}\n")[1].args == value


def test_message_and_parameter_names_are_checked_when_rendering():
    text = mf.render([modelfile_parser.Command("model", "x"), modelfile_parser.Command("message", 'user: say "hi"\n')])
    assert modelfile_parser.parse(text)[1] == modelfile_parser.Command("message", 'user: say "hi"\n')
    with pytest.raises(Exception, match="PARAMETER name"):
        mf.render([modelfile_parser.Command("model", "x"), modelfile_parser.Command("bad name", "1")])


def test_published_set_is_every_size_cpu_and_gpu_plus_latest_and_gpu():
    files = mf.published_set("Q4_K_M")
    tags = [m.published.split(":", 1)[1] for m in published()]
    assert sorted(files) == sorted([f"{t}.Modelfile" for t in tags] + [f"{t}-gpu.Modelfile" for t in tags]
                                   + ["latest.Modelfile", "gpu.Modelfile"])
    for name, text in files.items():
        commands = modelfile_parser.parse(text)
        tag = name.removesuffix(".Modelfile")
        model = resolve("9b" if tag in ("latest", "gpu") else tag.removesuffix("-gpu"))
        assert commands[0] == modelfile_parser.Command("model", f"./{model.gguf_filename('Q4_K_M')}")
        assert any(c.name == "num_gpu" for c in commands) is is_gpu_tag(tag)
        assert text.startswith(f"# azure99/blossom:{tag}: {model.repo_id}")

    def strip(text: str) -> str:
        return text.split("\n", 1)[1]

    assert strip(files["latest.Modelfile"]) == strip(files["9b.Modelfile"])
    assert strip(files["gpu.Modelfile"]) == strip(files["9b-gpu.Modelfile"])


def test_repository_modelfiles_match_the_catalog(tmp_path, capsys):
    """Fails when modelfiles/ drifts: regenerate with `blossom-edge modelfile --all modelfiles/`."""
    assert main(["modelfile", "--all", str(tmp_path)]) == 0
    generated = {p.name: p.read_text(encoding="utf-8") for p in tmp_path.iterdir()}
    in_repo = {p.name: p.read_text(encoding="utf-8") for p in REPO_MODELFILES.glob("*.Modelfile")}
    assert in_repo == generated
    for path in REPO_MODELFILES.glob("*.Modelfile"):
        assert main(["modelfile", "--check", str(path)]) == 0
    capsys.readouterr()


def test_cli_renders_to_stdout_and_to_a_file(tmp_path, capsys, monkeypatch):
    assert main(["modelfile", "4b", "--gpu", "--ctx", "2048"]) == 0
    out = capsys.readouterr().out
    params = create_request.create_fields(modelfile_parser.parse(out))["parameters"]
    assert params["num_ctx"] == 2048 and params["num_gpu"] == 999
    gguf_dir = tmp_path / "models"
    gguf_dir.mkdir()
    build_metadata_gguf(gguf_dir / "blossom-v5-mistral-7b-Q5_K_M.gguf")  # no chat template: the catalog's
    target = tmp_path / "out" / "mistral.Modelfile"
    target.parent.mkdir()
    monkeypatch.chdir(tmp_path)
    code = main(["modelfile", "models/blossom-v5-mistral-7b-Q5_K_M.gguf", "-o", str(target),
                 "--system", "你好\n", "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report == {"file": str(target), "tag": "q5_k_m", "model": "v5-mistral-7b",
                      "from": "../models/blossom-v5-mistral-7b-Q5_K_M.gguf", "projector": None}
    fields = create_request.create_fields(mf.read(target))
    assert fields["system"] == "你好\n" and fields["parameters"]["stop"] == ["</s>", "|Human|:"]
    assert not list(target.parent.glob("*.partial"))


@pytest.mark.parametrize("args, code, fragment", [
    (["modelfile"], 2, "exactly one of SRC, --check FILE or --all DIR"),
    (["modelfile", "4b", "--check", "x"], 2, "got SRC and --check"),
    (["modelfile", "4bb"], 1, "unknown model alias '4bb'"),
    (["modelfile", "4b", "--tag", "4b-gpu"], 2, "add --gpu"),
    (["modelfile", "4b", "--gpu", "--tag", "fast"], 2, "tag ending in -gpu"),
    (["modelfile", "4b", "--tag", "bad tag"], 2, "invalid Ollama tag 'bad tag'"),
    (["modelfile", "4b", "--system", 'a"""\nb'], 1, 'SYSTEM text line 1 ends with """'),
    (["modelfile", "missing.gguf"], 1, "no such GGUF file"),
    (["modelfile", "4b", "--qtype", "q4_q"], 2, "unknown quant type"),
])
def test_cli_errors_are_one_line(args, code, fragment, capsys):
    assert main(args) == code
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1


def test_check_reports_like_ollama(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # one line per problem when the screen has room for it
    bad = tmp_path / "Modelfile"
    bad.write_text("FROM x\nPARAMETER temprature 0.5\nPARAMETER top_k 1.5\nPARAMETER mirostat 1\n")
    assert main(["modelfile", "--check", str(bad)]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [f"{bad}:2: error: unknown parameter 'temprature'",
                                         f"{bad}:3: error: invalid int value [1.5]",
                                         f"{bad}:4: warning: parameter mirostat is deprecated"]
    assert "Ollama would refuse this Modelfile: unknown parameter 'temprature'" in captured.err
    bad.write_text("FROM x\nBOGUS y\n")
    assert main(["modelfile", "--check", str(bad), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and report["problems"] == [
        {"line": 2, "severity": "error", "message": modelfile_parser.ERR_INVALID_COMMAND}]
    good = tmp_path / "good"
    good.write_text("from x\n")
    assert main(["modelfile", "--check", str(good)]) == 0
    assert "ok, 1 commands" in capsys.readouterr().out


@pytest.mark.parametrize("asked", [None, 1024, 4096, 65536])
def test_num_ctx_never_passes_the_models_context(asked):
    """A 2048-token model once got `num_ctx 4096`; an asked context past a model's own is cut to it."""
    from blossom_edge.demo.model import demo_model_info

    for model in (demo_model_info(), resolve("9b"), resolve("4b")):
        commands = mf.blossom_commands(model, "./m.gguf", num_ctx=asked)
        num_ctx = int(next(c.args for c in commands if c.name == "num_ctx"))
        assert num_ctx == min(asked or mf.DEFAULT_NUM_CTX, model.context_length) <= model.context_length
