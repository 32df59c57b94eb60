"""atomic_output: the final name appears only for complete outputs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from blossom_edge.atomic import OutputNotWritableError, atomic_output, check_writable_dir, partial_path


def test_success_renames_partial(tmp_path):
    final = tmp_path / "model.gguf"
    with atomic_output(final) as tmp:
        assert tmp == partial_path(final) and tmp.name == "model.gguf.partial"
        tmp.write_bytes(b"data")
        assert not final.exists()
    assert final.read_bytes() == b"data"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.gguf"]


def test_error_removes_partial_and_keeps_old_final(tmp_path):
    final = tmp_path / "model.gguf"
    final.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_output(final) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("boom")
    assert final.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.gguf"]


def test_keyboard_interrupt_removes_partial(tmp_path):
    final = tmp_path / "model.gguf"
    with pytest.raises(KeyboardInterrupt), atomic_output(final) as tmp:
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_body_that_writes_nothing_fails(tmp_path):
    with pytest.raises(FileNotFoundError), atomic_output(tmp_path / "x.gguf"):
        pass
    assert list(tmp_path.iterdir()) == []


def test_stale_partial_is_replaced(tmp_path):
    final = tmp_path / "x.gguf"
    partial_path(final).write_bytes(b"stale from a crash")
    with atomic_output(final) as tmp:
        assert not tmp.exists()
        tmp.write_bytes(b"new")
    assert final.read_bytes() == b"new"


def test_child_process_can_write_the_partial(tmp_path):
    final = tmp_path / "x.bin"
    with atomic_output(final) as tmp:
        subprocess.run([sys.executable, "-c", f"open({str(tmp)!r}, 'wb').write(b'child')"], check=True)
    assert final.read_bytes() == b"child"


def test_missing_directory_is_one_clear_error(tmp_path):
    with pytest.raises(OutputNotWritableError, match="does not exist"):
        with atomic_output(tmp_path / "nope" / "x.gguf"):
            pass


def test_unwritable_directory_fails_before_work(tmp_path, monkeypatch):
    # Tests run as root, where chmod does not stop writes; a failing probe stands in for a ro mount.
    from pathlib import Path

    real_touch = Path.touch

    def touch(self, *args, **kwargs):
        if self.parent == tmp_path:
            raise PermissionError(13, os.strerror(13), str(self))
        return real_touch(self, *args, **kwargs)

    monkeypatch.setattr(Path, "touch", touch)
    with pytest.raises(OutputNotWritableError, match="cannot write to"):
        check_writable_dir(tmp_path)
