"""llama.cpp's command-line tools (llama-imatrix, llama-bench), built from the vendored sources.

llama-cpp-python builds the libraries, not the tools, so the references the tests and
benchmarks compare against are compiled here from the same sdist (`llama_cpp_source`), CPU
only, as llama-cpp-python's own build configures ggml. The build is cached beside the sources
(~/.cache/blossom-edge, or $LLAMA_CPP_BUILD) so only the first run pays its minutes.

    python -m tests.builders.llama_cpp_tools llama-imatrix    # build now, print the path
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.builders.llama_cpp_source import CACHE, VERSION, llama_cpp_source

BUILD = Path(os.environ.get("LLAMA_CPP_BUILD", CACHE / f"build-{VERSION}"))
_CONFIGURE = [
    "-DCMAKE_BUILD_TYPE=Release", "-DBUILD_SHARED_LIBS=OFF", "-DLLAMA_BUILD_TOOLS=ON",
    "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_SERVER=OFF",
    "-DLLAMA_BUILD_APP=OFF", "-DLLAMA_BUILD_HTML=OFF", "-DLLAMA_CURL=OFF", "-DLLAMA_OPENSSL=OFF",
]


def llama_tool(name: str) -> Path:
    """The built tool's path; builds it on first use and raises with cmake's output if that fails."""
    binary = BUILD / "bin" / name
    if binary.is_file():
        return binary
    src = llama_cpp_source()
    if src is None:
        raise RuntimeError("the llama-cpp-python sdist could not be fetched from PyPI to build " + name)
    for cmd in (["cmake", "-S", str(src), "-B", str(BUILD), *_CONFIGURE],
                ["cmake", "--build", str(BUILD), "--target", name, "-j", str(os.cpu_count() or 2)]):
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return binary


if __name__ == "__main__":
    print(llama_tool(sys.argv[1] if len(sys.argv) > 1 else "llama-imatrix"))
