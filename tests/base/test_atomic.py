"""atomic_output: the final name appears only for complete outputs."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
import threading

import pytest

from blossom_edge.base.atomic import (
    STALE_INFIX,
    OutputBlockedError,
    OutputBusyError,
    OutputNotWritableError,
    _take_away,
    atomic_output,
    atomic_write_text,
    check_writable_dir,
    partial_path,
    refuse_overwriting,
)
from blossom_edge.base.errors import UsageError, one_line


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


def test_stale_partial_is_replaced_by_a_new_file_and_never_written(tmp_path):
    final = tmp_path / "x.gguf"
    partial_path(final).write_bytes(b"stale from a crash")
    old = os.open(partial_path(final), os.O_RDONLY)  # keeps the stale inode readable after it is unlinked
    try:
        with atomic_output(final) as tmp:
            assert tmp.read_bytes() == b""
            assert tmp.stat().st_ino != os.fstat(old).st_ino
            tmp.write_bytes(b"new")
        assert os.pread(old, 100, 0) == b"stale from a crash" and os.fstat(old).st_nlink == 0
    finally:
        os.close(old)
    assert final.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.gguf"]


@pytest.mark.parametrize("dangling", [False, True])
def test_a_symlink_at_the_partial_is_removed_not_followed(tmp_path, dangling):
    victim = tmp_path / "victim" / ".bashrc"
    victim.parent.mkdir()
    if not dangling:
        victim.write_bytes(b"export PATH=/usr/bin\n")
    final = tmp_path / "out" / "x.gguf"
    final.parent.mkdir()
    partial_path(final).symlink_to(victim)
    with atomic_output(final) as tmp:
        assert not tmp.is_symlink()
        tmp.write_bytes(b"output")
    assert final.read_bytes() == b"output" and not final.is_symlink()
    if dangling:
        assert not victim.exists()  # O_CREAT through a dangling link would have made it
    else:
        assert victim.read_bytes() == b"export PATH=/usr/bin\n"
    assert sorted(p.name for p in final.parent.iterdir()) == ["x.gguf"]


def test_a_hard_link_at_the_partial_leaves_the_other_name_alone(tmp_path):
    other = tmp_path / "notes.txt"
    other.write_bytes(b"someone else's file")
    final = tmp_path / "x.gguf"
    os.link(other, partial_path(final))
    with atomic_output(final) as tmp:
        tmp.write_bytes(b"output")
    assert other.read_bytes() == b"someone else's file" and other.stat().st_nlink == 1
    assert final.read_bytes() == b"output" and not os.path.samefile(final, other)


def test_a_fifo_at_the_partial_is_removed_without_being_opened(tmp_path):
    final = tmp_path / "x.gguf"
    os.mkfifo(partial_path(final))  # opening it would block for ever: there is no writer
    with atomic_output(final) as tmp:
        tmp.write_bytes(b"output")
    assert final.read_bytes() == b"output"


def test_a_symlink_at_the_final_name_is_replaced_and_its_target_untouched(tmp_path):
    target = tmp_path / "elsewhere.gguf"
    target.write_bytes(b"target")
    final = tmp_path / "x.gguf"
    final.symlink_to(target)
    atomic_write_text(final, "output")
    assert not final.is_symlink() and final.read_text() == "output"
    assert target.read_bytes() == b"target"


def test_a_directory_at_the_partial_is_one_clear_line(tmp_path):
    final = tmp_path / "x.gguf"
    partial_path(final).mkdir()
    (partial_path(final) / "keep").write_bytes(b"k")
    with pytest.raises(OutputBlockedError) as info, atomic_output(final):
        pytest.fail("the body ran")
    message, code = one_line(info.value)
    assert "x.gguf.partial is a directory" in message and "\n" not in message and code == 1
    assert (partial_path(final) / "keep").read_bytes() == b"k" and not final.exists()


def test_a_directory_at_the_final_name_is_one_clear_line(tmp_path):
    final = tmp_path / "x.gguf"
    final.mkdir()
    with pytest.raises(OutputBlockedError, match="x.gguf is a directory"):
        atomic_write_text(final, "output")
    assert final.is_dir() and sorted(p.name for p in tmp_path.iterdir()) == ["x.gguf"]


def test_an_entry_that_cannot_be_removed_is_one_clear_line(tmp_path, monkeypatch):
    # Root removes anything; a refused rename stands in for another user's link in a sticky directory.
    final = tmp_path / "x.gguf"
    victim = tmp_path / "victim"
    victim.write_bytes(b"v")
    partial_path(final).symlink_to(victim)
    real_rename = os.rename

    def rename(src, dst, *args, **kwargs):
        if os.fspath(src) == os.fspath(partial_path(final)):
            raise PermissionError(1, "Operation not permitted", os.fspath(src))
        return real_rename(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(OutputBlockedError) as info, atomic_output(final):
        pytest.fail("the body ran")
    assert "cannot be removed (Operation not permitted)" in one_line(info.value)[0]
    assert victim.read_bytes() == b"v" and partial_path(final).is_symlink()


def test_a_partial_locked_by_another_process_is_busy_and_untouched(tmp_path):
    final = tmp_path / "x.gguf"
    partial = partial_path(final)
    partial.write_bytes(b"a live run's bytes")
    code = ("import fcntl, sys\n"
            f"fh = open({str(partial)!r}, 'rb'); fcntl.flock(fh, fcntl.LOCK_EX)\n"
            "print('ready', flush=True); sys.stdin.read()\n")
    other = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline() == "ready\n"
        inode = partial.stat().st_ino
        with pytest.raises(OutputBusyError, match="another run is writing x.gguf"), atomic_output(final):
            pytest.fail("the body ran")
        assert partial.stat().st_ino == inode and partial.read_bytes() == b"a live run's bytes"
    finally:
        other.communicate("")
    assert not final.exists()


@pytest.mark.parametrize("stale", ["file", "symlink"])
def test_an_entry_that_changed_before_it_was_taken_away_is_put_back(tmp_path, stale):
    # Two runs clear the same stale entry: the slower must not remove the new partial the faster made,
    # even when the file system gives the new partial the number of the symlink just removed.
    partial = tmp_path / "x.gguf.partial"
    if stale == "file":
        partial.write_bytes(b"stale")
    else:
        partial.symlink_to(tmp_path / "victim")
    seen = os.lstat(partial)
    held = os.open(partial, os.O_RDONLY) if stale == "file" else None  # a clearing run holds a file, not a link
    try:
        partial.unlink()
        partial.write_bytes(b"the faster run's partial")
        inode = partial.stat().st_ino
        with pytest.raises(OutputBusyError):
            _take_away(partial, seen)
    finally:
        if held is not None:
            os.close(held)
    assert partial.stat().st_ino == inode and partial.stat().st_nlink == 1
    assert partial.read_bytes() == b"the faster run's partial"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.gguf.partial"]


def test_a_partial_swapped_during_the_run_is_not_published(tmp_path):
    final = tmp_path / "x.gguf"
    victim = tmp_path / "victim"
    victim.write_bytes(b"v")
    with pytest.raises(OutputBlockedError, match="replaced by something else"), atomic_output(final) as tmp:
        tmp.write_bytes(b"output")
        tmp.unlink()
        tmp.symlink_to(victim)
    assert not final.exists() and victim.read_bytes() == b"v"
    assert partial_path(final).is_symlink()  # not ours to remove


def test_clearing_waits_its_turn_on_the_directory(tmp_path):
    final = tmp_path / "x.gguf"
    partial_path(final).symlink_to(tmp_path / "victim")
    code = ("import fcntl, os, sys\n"
            f"fd = os.open({str(tmp_path)!r}, os.O_RDONLY); fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "print('ready', flush=True); sys.stdin.read()\n")
    other = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline() == "ready\n"
        writer = threading.Thread(target=atomic_write_text, args=(final, "output"))
        writer.start()
        writer.join(0.5)
        assert writer.is_alive() and partial_path(final).is_symlink()
    finally:
        other.communicate("")
    writer.join(10)
    assert final.read_text() == "output" and not (tmp_path / "victim").exists()


def test_without_directory_locks_a_link_is_still_removed_not_followed(tmp_path, monkeypatch):
    import fcntl

    real_flock = fcntl.flock

    def flock(fd, operation):
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))  # as NFS answers for a read-only descriptor
        return real_flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", flock)
    victim = tmp_path / "victim"
    victim.write_bytes(b"v")
    final = tmp_path / "x.gguf"
    partial_path(final).symlink_to(victim)
    atomic_write_text(final, "output")
    stale = partial_path(final)
    stale.write_bytes(b"stale")
    atomic_write_text(final, "again")
    assert final.read_text() == "again" and victim.read_bytes() == b"v"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["victim", "x.gguf"]


_RACER = """
import os, random, sys, time
from pathlib import Path
from blossom_edge.base.atomic import OutputBusyError, atomic_output, partial_path
final, victim, me = Path(sys.argv[1]), sys.argv[2], sys.argv[3].encode()
deadline, won, busy = time.monotonic() + float(sys.argv[4]), 0, 0
while time.monotonic() < deadline:
    if random.random() < 0.3:
        try:
            os.symlink(victim, partial_path(final))
        except FileExistsError:
            pass
    try:
        with atomic_output(final) as tmp:
            tmp.write_bytes(me)
            time.sleep(random.random() / 500)
            if tmp.read_bytes() != me:
                sys.exit(f"two writers in one partial: {tmp.read_bytes()!r}")
            won += 1
    except OutputBusyError:
        busy += 1
print(won, busy)
"""


def test_racing_runs_and_planted_links_never_share_a_partial_or_write_a_victim(tmp_path):
    final = tmp_path / "x.gguf"
    victim = tmp_path / "victim"
    victim.write_bytes(b"v")
    runs = [subprocess.Popen([sys.executable, "-c", _RACER, str(final), str(victim), f"run{i}", "2"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(4)]
    results = [run.communicate() for run in runs]
    assert all(run.returncode == 0 for run in runs), [err for _, err in results]
    assert sum(int(out.split()[0]) for out, _ in results) > 0
    assert victim.read_bytes() == b"v"
    assert final.read_bytes() in {f"run{i}".encode() for i in range(4)}
    assert not [p.name for p in tmp_path.iterdir() if STALE_INFIX in p.name]


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
    code = ("import sys, time; from pathlib import Path; from blossom_edge.base.atomic import atomic_output\n"
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
