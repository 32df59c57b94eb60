"""Every command's human output at 60, 80 and 120 columns: no line wider than the screen, no name cut.

The data is the demo's: its tiny checkpoint, its Q4_K_M GGUF and Modelfile, a BF16 reference
converted from the checkpoint, the catalog, and captured devices. `bench` and `quality` measure
once (the first width) and the other widths render the same rows, so the test stays fast.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len

from blossom_edge.cli import main
from blossom_edge.model.catalog import MODELS
from tests import DATA

WIDTHS = (60, 80, 120)
DEVICES = DATA / "devices"
GGUF = "blossom-demo-tiny-Q4_K_M.gguf"
REFERENCE = "blossom-demo-tiny-BF16.gguf"
CHECKPOINT = "checkpoint/blossom-demo-tiny"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The demo's files, a BF16 reference next to them, and a results store of their own."""
    root = tmp_path_factory.mktemp("widths")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_DATA_HOME", str(root / "xdg"))
        mp.chdir(root)
        assert main(["demo", "-o", "demo", "--json"]) == 0
        mp.chdir(root / "demo")
        assert main(["convert", CHECKPOINT, "-o", REFERENCE]) == 0
        yield root / "demo"


@pytest.fixture(scope="module")
def measured() -> dict[str, Any]:
    """Rows `bench` and `quality` measured at the first width, for the others to render."""
    return {}


@pytest.fixture
def in_demo(demo: Path, measured: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Path:
    from blossom_edge.bench import llama
    from blossom_edge.quantize import quality

    monkeypatch.chdir(demo)
    monkeypatch.setenv("XDG_DATA_HOME", str(demo.parent / "xdg"))
    monkeypatch.setattr(llama, "run", _once(measured, "bench", llama.run))
    monkeypatch.setattr(quality, "measure", _once(measured, "quality", quality.measure))
    return demo


def _once(cache: dict[str, Any], key: str, measure: Callable[..., Any], **fixed: Any) -> Callable[..., Any]:
    def cached(*args: Any, **kwargs: Any) -> Any:
        if key not in cache:
            cache[key] = measure(*args, **kwargs, **fixed)
        return cache[key]

    return cached


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(list(args)) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    return json.loads(_run(capsys, *args, "--json"))


FIT = ("fit", "--ram", "16G", "--bandwidth", "30", "--device-root", str(DEVICES / "orange-pi-5-rk3588s"))


def _names(capsys: pytest.CaptureFixture[str], command: str) -> tuple[list[str], list[str]]:
    """A command's arguments and the identifiers of its data that its output must show whole."""
    if command == "models":
        return ["models"], [n for m in MODELS for n in (m.alias, *m.other_aliases, m.repo_id, m.published) if n]
    if command in ("fit", "fit --all"):
        args = [*FIT, *command.split()[1:]]
        data = _json(capsys, *args)
        rows = data["rows"] if "--all" in args else [m["best"] for m in data["models"] if m["best"]]
        pick = [r["file_name"] for r in (data["pick"], data["nearest"]) if r]
        return args, [n for r in rows for n in (r["model"], r["quant"])] + pick
    if command == "device":
        return ["device", "--root", str(DEVICES / "galaxy-s23-snapdragon-8-gen-2")], []
    if command == "inspect":
        return ["inspect", GGUF], [GGUF, "qwen2"]
    if command == "bench":
        return ["bench", GGUF, "--pp", "8", "--tg", "4", "--reps", "1", "--threads", "1", "--bandwidth", "10"], [GGUF]
    if command == "quality":
        # Four short chunks of the shipped text: a real measurement of both files, at a fraction of the time.
        return ["quality", REFERENCE, GGUF, "--ctx", "64", "--chunks", "4"], [REFERENCE, GGUF]
    if command == "report":
        results = Path("bench-results.json")
        if not results.exists():
            results.write_text(json.dumps(_json(capsys, *_names(capsys, "bench")[0])))
        return ["report", str(results)], [GGUF]
    if command == "release --dry-run":
        args = ["release", CHECKPOINT, "--quants", "q4_k_m,q8_0", "-o", "release", "--dry-run"]
        return args, [t["key"] for t in _json(capsys, *args)["tasks"]]
    if command == "modelfile --check":
        warned = Path("warned.Modelfile")  # the demo's, with a line Ollama warns about: a long message
        warned.write_text(Path("Modelfile").read_text() + "PARAMETER mirostat 1\n")
        return ["modelfile", "--check", str(warned)], [str(warned), "mirostat"]
    if command == "convert --dry-run":
        args = ["convert", CHECKPOINT, "--dry-run"]
        data = _json(capsys, *args)
        return args, [data["output"], *(t["name"] for t in data["tensors"])]
    raise AssertionError(command)


COMMANDS = ("models", "fit", "fit --all", "device", "inspect", "bench", "quality", "report", "release --dry-run",
            "modelfile --check", "convert --dry-run")


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("command", COMMANDS)
def test_output_fits_the_width_and_keeps_names_whole(command: str, width: int, in_demo: Path,
                                                     capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    args, names = _names(capsys, command)
    monkeypatch.setenv("COLUMNS", str(width))
    out = _run(capsys, *args)
    lines = out.splitlines()
    assert lines, f"{command} printed nothing"
    wide = [line for line in lines if cell_len(line) > width]
    assert not wide, f"{command} at {width} columns: {len(wide)} lines wider, e.g. {wide[0]!r}"
    cut = [name for name in names if name not in out]
    assert not cut, f"{command} at {width} columns cut or wrapped {cut[:5]}"
