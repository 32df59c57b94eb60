"""llama.cpp's own sources, as vendored in the llama-cpp-python source distribution.

The reference converter (convert_hf_to_gguf.py with its gguf-py) and llama-bench come
from here, so tests and benchmarks compare against exactly the llama.cpp we run.
Found through $LLAMA_CPP_SRC, else fetched once from PyPI (a package registry, reachable
in CI) into ~/.cache/blossom-edge.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

VERSION = "0.3.36"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "blossom-edge" / "llama-cpp-src"


def llama_cpp_source() -> Path | None:
    """The vendored llama.cpp directory, or None when it cannot be had (tests then fail, see
    `require_llama_cpp_source`; a benchmark reports the reference as unavailable)."""
    env = os.environ.get("LLAMA_CPP_SRC")
    if env:
        return Path(env) if (Path(env) / "convert_hf_to_gguf.py").is_file() else None
    root = CACHE / f"llama_cpp_python-{VERSION}" / "vendor" / "llama.cpp"
    if (root / "convert_hf_to_gguf.py").is_file():
        return root
    CACHE.mkdir(parents=True, exist_ok=True)
    fetched = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-d", str(CACHE),
         f"llama-cpp-python=={VERSION}"],
        capture_output=True, text=True,
    )
    sdist = CACHE / f"llama_cpp_python-{VERSION}.tar.gz"
    if fetched.returncode != 0 or not sdist.is_file():
        return None
    with tarfile.open(sdist) as tar:
        tar.extractall(CACHE, filter="data")
    return root if (root / "convert_hf_to_gguf.py").is_file() else None


def require_llama_cpp_source() -> Path:
    """The vendored llama.cpp directory, or the test fails in one line saying how to provide it.

    A parity test without its reference has proved nothing, and a skip reads as a pass in a
    CI summary: a machine that lost its way to PyPI would go on reporting green.
    """
    import pytest

    src = llama_cpp_source()
    if src is None:
        env = os.environ.get("LLAMA_CPP_SRC")
        where = f"LLAMA_CPP_SRC={env} has no convert_hf_to_gguf.py" if env else "set LLAMA_CPP_SRC or let pip reach PyPI"
        pytest.fail(f"llama.cpp's reference sources could not be had: {where}", pytrace=False)
    return src


def run_reference_converter(src: Path, model_dir: Path, out: Path, outtype: str) -> subprocess.CompletedProcess:
    """Run llama.cpp's converter with its own gguf-py first on the path, as its README says."""
    env = {**os.environ, "PYTHONPATH": str(src / "gguf-py"), "NO_LOCAL_GGUF": ""}
    return subprocess.run(
        [sys.executable, str(src / "convert_hf_to_gguf.py"), str(model_dir), "--outfile", str(out),
         "--outtype", outtype],
        capture_output=True, text=True, env=env,
    )
