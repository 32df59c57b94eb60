"""Without llama.cpp's reference sources a parity test fails in one line, it is never skipped.

A skip would let a machine that lost its way to the sources report every parity test green.
"""

from __future__ import annotations

import os

import pytest

from tests import ROOT
from tests.builders import llama_cpp_source

pytest_plugins = ["pytester"]


def _failure() -> str:
    """The one-line message `require_llama_cpp_source` fails with; a skip or an error fails this test."""
    with pytest.raises(BaseException) as caught:
        llama_cpp_source.require_llama_cpp_source()
    assert caught.type is pytest.fail.Exception, f"{caught.typename}: {caught.value}"
    assert caught.value.pytrace is False
    message = str(caught.value)
    assert "\n" not in message and message.startswith("llama.cpp's reference sources could not be had: ")
    return message


def test_a_llama_cpp_src_without_the_converter_fails(monkeypatch, tmp_path):
    monkeypatch.setenv("LLAMA_CPP_SRC", str(tmp_path))
    assert str(tmp_path) in _failure()


def test_no_cache_and_no_package_index_fails(monkeypatch, tmp_path):
    """The CI case: nothing cached and pip cannot reach PyPI (no index, no local wheels, no config)."""
    monkeypatch.delenv("LLAMA_CPP_SRC", raising=False)
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setattr(llama_cpp_source, "CACHE", tmp_path)
    assert "set LLAMA_CPP_SRC or let pip reach PyPI" in _failure()


def test_the_reference_src_fixture_fails_every_test_that_needs_it(pytester, monkeypatch, tmp_path):
    """Through conftest.py's fixture as the parity tests use it: errors with the one line, no skips."""
    monkeypatch.setenv("LLAMA_CPP_SRC", str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    pytester.makeconftest("from tests.conftest import reference_src  # noqa: F401")
    pytester.makepyfile("def test_one(reference_src):\n    pass\n\ndef test_two(reference_src):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=2)
    line = f"llama.cpp's reference sources could not be had: LLAMA_CPP_SRC={tmp_path} has no convert_hf_to_gguf.py"
    result.stdout.fnmatch_lines(["*ERROR at setup of test_one*", line, "*ERROR at setup of test_two*", line])
    result.stdout.no_fnmatch_line("*Traceback*")
