"""The house rules that keep the package navigable, checked on the source itself.

- Only `blossom_edge/engine/` reaches below the public APIs of llama-cpp-python, ggml, gguf-py
  and the ollama client: no `ctypes` and no private attribute of theirs anywhere else.
- Commands only parse, call the library and render: no command module imports another.
- `convert/arch.py` and the architecture modules do not import each other both ways.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "blossom_edge"
ENGINE = PACKAGE / "engine"
# The library internals the engine seam wraps (see each module's "Public replacement").
BELOW_PUBLIC_API = re.compile(r"ctypes|\._ctx\b|\._client\b|_pack_val|_build_fields")


def _sources(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports, absolute names, at any depth (lazy imports in functions too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_only_the_engine_reaches_below_public_apis() -> None:
    offenders = [f"{p.relative_to(PACKAGE)}:{n}: {line.strip()}"
                 for p in _sources(PACKAGE) if ENGINE not in p.parents
                 for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
                 if BELOW_PUBLIC_API.search(line)]
    assert offenders == []


def test_the_engine_says_what_would_replace_each_reach_in() -> None:
    for path in _sources(ENGINE):
        if path.name != "__init__.py":
            assert "Public replacement" in path.read_text(encoding="utf-8"), path.name


def test_the_rule_catches_what_it_is_for(tmp_path: Path) -> None:
    assert BELOW_PUBLIC_API.search("import ctypes") and BELOW_PUBLIC_API.search("llm._ctx.get_logits_ith(-1)")
    assert BELOW_PUBLIC_API.search("client._client.head(url)") and not BELOW_PUBLIC_API.search("self._clients")
    module = tmp_path / "cmd.py"
    module.write_text("def f():\n    from blossom_edge.cli.commands.modelfile import x\n")
    assert "blossom_edge.cli.commands.modelfile" in _imported_modules(module)


def test_no_command_module_imports_another() -> None:
    commands = PACKAGE / "cli" / "commands"
    names = {p.stem for p in _sources(commands) if p.name != "__init__.py"}
    for path in _sources(commands):
        if path.name == "__init__.py":
            continue  # the registry imports them all by name, on purpose
        others = {m for m in _imported_modules(path) if m.startswith("blossom_edge.cli.commands")}
        assert not others, f"{path.name} imports {sorted(others)}"
    assert names  # the rule looked at something


def test_architecture_modules_do_not_import_the_registry_back() -> None:
    assert not any(m.startswith("blossom_edge.convert.archs") for m in _imported_modules(PACKAGE / "convert" / "arch.py"))


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles_inside_the_package() -> None:
    """Every import counts, lazy ones inside functions and TYPE_CHECKING ones too: a cycle hidden in a
    function body is still two modules that cannot be understood one without the other."""
    import grimp

    graph = grimp.build_graph("blossom_edge")
    edges = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    assert _cycles(edges) == []


def test_the_cycle_finder_finds_cycles() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
