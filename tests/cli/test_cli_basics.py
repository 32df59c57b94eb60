"""The CLI's front door: version, help speed-critical imports, catalog output, error shape."""

from __future__ import annotations

import json
import subprocess
import sys

from blossom_edge import __version__
from blossom_edge.base.errors import NotFoundError
from blossom_edge.cli import main
from blossom_edge.model.catalog import MODELS, PUBLISHED_SIZES, lookup, resolve


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"blossom-edge {__version__}"


def test_help_does_not_import_heavy_modules():
    code = (
        "import sys; from blossom_edge.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('numpy', 'gguf', 'llama_cpp', 'huggingface_hub', 'torch', 'psutil') if m in sys.modules]\n"
        "print('HEAVY', heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out


def test_models_json_lists_every_release(capsys):
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["alias"] for r in rows] == [m.alias for m in MODELS]
    by_alias = {a: r for r in rows for a in r["aliases"]}
    assert by_alias["4b"]["repo_id"] == "Azure99/blossom-v5-4b"
    assert by_alias["9b"]["repo_id"] == "Azure99/blossom-v5.1-9b"
    assert by_alias["34b"]["repo_id"] == "Azure99/blossom-v5.1-34b"
    assert by_alias["14b"]["repo_id"] == "Azure99/blossom-v5-14b"
    for r in rows:
        assert r["architecture"].endswith(("ForCausalLM", "ForConditionalGeneration"))
        assert r["context_length"] > 0 and (r["eos_token"] or "eos_token" in r["unverified"])
        assert r["sources"] and set(r["sources"]) | set(r["unverified"]) >= {"repo_id", "base_model", "ollama"}


def test_catalog_covers_required_bases():
    bases = {m.base_model for m in MODELS}
    for required in ("Qwen/Qwen1.5-4B", "01-ai/Yi-9B", "Qwen/Qwen1.5-14B", "Qwen/Qwen1.5-32B", "01-ai/Yi-34B",
                     "mistralai/Mistral-7B-v0.1", "01-ai/Yi-1.5-9B", "01-ai/Yi-1.5-34B"):
        assert required in bases
    assert any(m.architecture == "Qwen3ForCausalLM" for m in MODELS)
    assert any(m.base_model.startswith("Qwen/Qwen2.5") for m in MODELS)
    assert [resolve(s).published for s in PUBLISHED_SIZES] == [f"azure99/blossom:{s}" for s in PUBLISHED_SIZES]


def test_lookup_by_repo_id_and_revision():
    assert lookup("Azure99/blossom-v5-4b@main").alias == "v5-4b"
    assert lookup("AZURE99/BLOSSOM-V5-4B").alias == "v5-4b"


def test_unknown_alias_suggests():
    try:
        resolve("4bb")
    except NotFoundError as exc:
        assert "4b" in str(exc)
    else:
        raise AssertionError("unknown alias accepted")


def test_unknown_command_is_usage_error(capsys):
    assert main(["no-such-command"]) == 2
