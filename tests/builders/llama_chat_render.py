"""llama.cpp's own chat-template rendering, as llama-server applies it, for comparing with ours.

When a Modelfile has no TEMPLATE, Ollama has llama-server render the GGUF's Jinja template with
llama.cpp's Jinja engine (common/jinja, through common_chat_templates_apply). `data/chat_render.cpp`
is a few lines around that call, compiled here against the static libraries `llama_cpp_tools`
builds from the vendored sources (llama-cpp-python's llama.cpp, not the b10488 Ollama bundles)
and cached beside them under a name holding the source's hash.

    python -m tests.builders.llama_chat_render    # build now, print the path
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

from tests.builders.llama_cpp_source import llama_cpp_source
from tests.builders.llama_cpp_tools import BUILD, llama_tool

SOURCE = Path(__file__).parent / "data" / "chat_render.cpp"
_LIBS = ("common/libllama-common.a", "common/libllama-common-base.a", "src/libllama.a", "ggml/src/libggml.a",
         "ggml/src/libggml-cpu.a", "ggml/src/libggml-base.a")


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def chat_render_tool() -> Path:
    """The driver's path; builds the libraries (with llama-imatrix) and the driver on first use."""
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:12]
    binary = BUILD / "bin" / f"blossom-chat-render-{digest}"
    if binary.is_file():
        return binary
    src = llama_cpp_source()
    if src is None:
        raise RuntimeError("the llama-cpp-python sdist could not be fetched from PyPI to build the chat renderer")
    if not all((BUILD / lib).is_file() for lib in _LIBS):
        llama_tool("llama-imatrix")  # the tests' own llama.cpp build, which makes these libraries too
    binary.parent.mkdir(parents=True, exist_ok=True)
    partial = binary.with_name(binary.name + ".partial")
    _run(["c++", "-std=c++17", "-O1", f"-I{src / 'common'}", f"-I{src / 'include'}", f"-I{src / 'ggml' / 'include'}",
          str(SOURCE), "-o", str(partial), *(str(BUILD / lib) for lib in _LIBS), "-fopenmp", "-lpthread", "-ldl"])
    partial.replace(binary)
    return binary


def llama_cpp_render(template: str, body: dict[str, Any], bos: str = "", eos: str = "") -> str | None:
    """The prompt llama-server renders for a /v1/chat/completions `body`, or None when llama.cpp
    refuses the request (the template raised, or no parser could be made for it)."""
    done = subprocess.run([str(chat_render_tool())], input=json.dumps({"template": template, "bos": bos, "eos": eos,
                                                                       "body": body}),
                          capture_output=True, text=True, encoding="utf-8")
    return done.stdout if done.returncode == 0 else None


if __name__ == "__main__":
    print(chat_render_tool())
