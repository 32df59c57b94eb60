"""atomic_output: the final name appears only for complete outputs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from blossom_edge.atomic import (
    OutputBusyError,
    OutputNotWritableError,
    atomic_output,
    check_writable_dir,
    partial_path,
    refuse_overwriting,
)
from blossom_edge.errors import UsageError


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
        assert tmp.read_bytes() == b""  # taken over and emptied: held by no live run
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


def test_a_second_writer_of_the_same_output_fails_at_once_and_spares_the_first(tmp_path):
    final = tmp_path / "x.gguf"
    with atomic_output(final) as tmp:
        tmp.write_bytes(b"first")
        with pytest.raises(OutputBusyError, match="another run is writing x.gguf"), atomic_output(final):
            pytest.fail("the second writer got in")
        assert tmp.read_bytes() == b"first"
    assert final.read_bytes() == b"first"


def test_a_writer_in_another_process_holds_the_output(tmp_path):
    final = tmp_path / "x.gguf"
    code = ("import sys, time; from pathlib import Path; from blossom_edge.atomic import atomic_output\n"
            f"with atomic_output(Path({str(final)!r})) as tmp:\n"
            "    tmp.write_bytes(b'other'); print('ready', flush=True); sys.stdin.read()\n")
    other = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline() == "ready\n"
        with pytest.raises(OutputBusyError), atomic_output(final):
            pass
    finally:
        other.communicate("")
    assert other.returncode == 0 and final.read_bytes() == b"other"


def test_an_empty_output_is_not_a_finished_one(tmp_path):
    with pytest.raises(FileNotFoundError), atomic_output(tmp_path / "x.gguf"):
        pass
    assert list(tmp_path.iterdir()) == []


def test_outputs_that_are_inputs_are_refused(tmp_path):
    shard = tmp_path / "model.safetensors"
    shard.write_bytes(b"x")
    (tmp_path / "link").symlink_to(shard)
    import os

    os.link(shard, tmp_path / "hard")
    for output in (shard, tmp_path / "link", tmp_path / "hard", tmp_path / "sub" / ".." / "model.safetensors"):
        with pytest.raises(UsageError, match="one of the inputs"):
            refuse_overwriting(output, [shard])
    refuse_overwriting(tmp_path / "other.gguf", [shard])
