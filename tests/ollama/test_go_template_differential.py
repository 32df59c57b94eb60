"""`go.template` against Go's own text/template, on the named bug cases and thousands of generated ones.

tests/ollama/go_template_driver is a tiny Go program (standard library only) that parses each case the
way Ollama's template.go does (option missingkey=zero, Ollama's FuncMap) and executes it on the case's
JSON data decoded into map[string]any. It is built once per source and Go version into
~/.cache/blossom-edge/go-template-driver/ and run once per session over every case (JSON lines in,
JSON lines out). For every case one of these holds:

- ours renders exactly Go's bytes;
- Go fails (to parse, or part-way through executing) and ours raises TemplateError;
- ours raises TemplateRefused: a construct it does not reproduce. Refusals are counted and kept rare,
  and no named case may be refused.

Go comes from Debian's golang-go (Go 1.19), which .ci/run installs; Ollama builds with a newer Go.
The text/template differences between them that these cases could reach are refused by ours rather
than compared: `{{else with}}` and ranging over an integer (Go 1.23 and 1.22 on), encoding/json's
escapes of \\b and \\f (Go 1.22 on), and slicing a list past its length (depends on capacity).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from blossom_edge.ollama.go.strconv import go_bytes
from blossom_edge.ollama.go.template import GoTemplate, TemplateError, TemplateRefused
from tests.ollama.test_go_template_cases import Case, all_cases, named_cases

DRIVER_SRC = Path(__file__).parent / "go_template_driver"
APT_HINT = "apt-get update && apt-get install -y golang-go"
MAX_REFUSED_SHARE = 0.05


def _go() -> str:
    go = shutil.which("go")
    if go is None:
        message = f"Go is needed to check go.template against text/template: {APT_HINT}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return go


def _driver() -> Path:
    """The driver binary, built once per driver source and Go version."""
    go = _go()
    version = subprocess.run([go, "version"], capture_output=True, text=True, check=True).stdout
    digest = hashlib.sha256(version.encode())
    for path in sorted(DRIVER_SRC.iterdir()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    folder = Path.home() / ".cache" / "blossom-edge" / "go-template-driver" / digest.hexdigest()[:16]
    binary = folder / "driver"
    if not binary.exists():
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f"driver.partial-{os.getpid()}"
        subprocess.run([go, "build", "-o", str(partial), "."], cwd=DRIVER_SRC, check=True,
                       env={**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"})
        partial.rename(binary)
    return binary


def _go_render(cases: list[Case]) -> list[bytes | None]:
    """Go's rendered bytes for each case, None where Go fails."""
    lines = "".join(json.dumps({"template": c.template, "data": json.loads(c.data)}, ensure_ascii=False) + "\n"
                    for c in cases)
    done = subprocess.run([str(_driver())], input=lines.encode(), capture_output=True, check=True, timeout=120)
    results = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert len(results) == len(cases), done.stderr.decode()
    return [base64.b64decode(r["out"]) if "out" in r else None for r in results]


def _ours(case: Case) -> bytes | TemplateError:
    data = json.loads(case.data, parse_int=float)  # Go decodes every JSON number as float64
    try:
        return go_bytes(GoTemplate(case.template).execute(data))
    except TemplateError as exc:
        return exc


@pytest.fixture(scope="module")
def outcomes() -> dict[str, tuple[Case, bytes | None, bytes | TemplateError]]:
    cases = all_cases()
    go = _go_render(cases)
    return {case.name: (case, want, _ours(case)) for case, want in zip(cases, go)}


def _verdict(want: bytes | None, got: bytes | TemplateError) -> str:
    if isinstance(got, TemplateRefused):
        return "refused"
    if want is None:
        return "agree" if isinstance(got, TemplateError) else "go fails, ours renders"
    if isinstance(got, TemplateError):
        return f"go renders, ours fails ({got})"
    return "agree" if got == want else "different bytes"


def test_ours_renders_go_bytes_or_fails_with_go_or_refuses(outcomes):
    verdicts = {name: _verdict(want, got) for name, (_, want, got) in outcomes.items()}
    refused = [name for name, v in verdicts.items() if v == "refused"]
    wrong = [name for name, v in verdicts.items() if v not in ("agree", "refused")]
    rendered = sum(1 for _, want, got in outcomes.values() if isinstance(got, bytes) and want is not None)
    print(f"\n{len(outcomes)} cases: {rendered} rendered alike, {len(refused)} refused, {len(wrong)} wrong")
    report = [f"{name}: {verdicts[name]}\n  template: {outcomes[name][0].template!r}\n  go:   {outcomes[name][1]!r}\n"
              f"  ours: {outcomes[name][2]!r}" for name in wrong[:15]]
    assert not wrong, f"{len(wrong)} cases differ from Go:\n" + "\n".join(report)
    assert len(refused) <= MAX_REFUSED_SHARE * len(outcomes), f"{len(refused)} refusals"
    assert rendered > len(outcomes) / 2, "most generated templates should render, not fail"


REFUSED_NAMED = {
    "else_with_refused_1_19_error": "{{else with}} is Go 1.23's; Go 1.19 fails to parse it",
    "range_over_int": "Go 1.22 ranges over an integer; Go 1.19 fails",
}


@pytest.mark.parametrize("name", [c.name for c in named_cases()])
def test_named_case_matches_go_and_is_not_refused(outcomes, name):
    _, want, got = outcomes[name]
    if name in REFUSED_NAMED:
        assert isinstance(got, TemplateRefused), REFUSED_NAMED[name]
        return
    assert not isinstance(got, TemplateRefused), got
    assert _verdict(want, got) == "agree", (want, got)


def test_without_go_ci_fails_and_a_developer_is_told_how_to_install_it(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="golang-go"):
        _go()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="apt-get update && apt-get install -y golang-go"):
        _go()
