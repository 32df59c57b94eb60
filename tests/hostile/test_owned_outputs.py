"""Real commands write only files they created: links and stale files planted at their outputs
(or at the outputs' `.partial`) are replaced, never written through."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from blossom_edge.base.atomic import partial_path
from blossom_edge.cli import main
from blossom_edge.demo.model import build_demo_checkpoint

VICTIM_TEXT = b"export PATH=/usr/local/bin:$PATH\n"


@pytest.fixture()
def victim(tmp_path) -> Path:
    """A file of someone else's, which no run may write."""
    path = tmp_path / "home" / ".bashrc"
    path.parent.mkdir()
    path.write_bytes(VICTIM_TEXT)
    return path


def _ok(capsys, code: int) -> None:
    assert code == 0, capsys.readouterr().err


def _one_line(capsys, code: int) -> str:
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "internal error" not in err, err
    return err


def _is_gguf(path: Path) -> bool:
    return not path.is_symlink() and path.read_bytes()[:4] == b"GGUF"


def test_convert_through_a_symlink_planted_at_its_partial(demo, tmp_path, victim, capsys):
    out = tmp_path / "out" / "m.gguf"
    out.parent.mkdir()
    partial_path(out).symlink_to(victim)
    _ok(capsys, main(["convert", str(demo), "-o", str(out)]))
    assert victim.read_bytes() == VICTIM_TEXT
    assert _is_gguf(out) and sorted(p.name for p in out.parent.iterdir()) == ["m.gguf"]


def test_convert_over_a_hard_link_and_a_stale_partial(demo, tmp_path, victim, capsys):
    out = tmp_path / "m.gguf"
    os.link(victim, partial_path(out))
    _ok(capsys, main(["convert", str(demo), "-o", str(out)]))
    assert victim.read_bytes() == VICTIM_TEXT and victim.stat().st_nlink == 1 and _is_gguf(out)
    first = out.read_bytes()
    partial_path(out).write_bytes(b"left by a run that was killed")
    stale = os.open(partial_path(out), os.O_RDONLY)
    try:
        _ok(capsys, main(["convert", str(demo), "-o", str(out)]))
        assert os.pread(stale, 64, 0) == b"left by a run that was killed"
    finally:
        os.close(stale)
    assert out.read_bytes() == first and not partial_path(out).exists()


def test_convert_replaces_a_symlink_at_its_output_and_spares_the_target(demo, tmp_path, victim, capsys):
    out = tmp_path / "m.gguf"
    out.symlink_to(victim)
    _ok(capsys, main(["convert", str(demo), "-o", str(out)]))
    assert victim.read_bytes() == VICTIM_TEXT and _is_gguf(out)


def test_convert_with_a_directory_at_its_partial_is_one_line(demo, tmp_path, capsys):
    out = tmp_path / "m.gguf"
    partial_path(out).mkdir()
    err = _one_line(capsys, main(["convert", str(demo), "-o", str(out)]))
    assert "m.gguf.partial is a directory" in err and not out.exists()


@pytest.mark.parametrize("planted", ["symlink", "hard link"])
def test_modelfile_through_a_link_planted_at_its_partial(tmp_path, victim, capsys, planted):
    out = tmp_path / "blossom.Modelfile"
    if planted == "symlink":
        partial_path(out).symlink_to(victim)
    else:
        os.link(victim, partial_path(out))
    _ok(capsys, main(["modelfile", "4b", "-o", str(out)]))
    assert victim.read_bytes() == VICTIM_TEXT
    assert not out.is_symlink() and "\nFROM " in out.read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blossom.Modelfile", "home"]


def test_modelfile_replaces_a_symlink_at_its_output(tmp_path, victim, capsys):
    out = tmp_path / "blossom.Modelfile"
    out.symlink_to(victim)
    _ok(capsys, main(["modelfile", "4b", "-o", str(out)]))
    assert victim.read_bytes() == VICTIM_TEXT and not out.is_symlink() and "TEMPLATE" in out.read_text("utf-8")


def test_device_capture_over_an_old_capture_holding_a_link(tmp_path, victim, capsys):
    cap = tmp_path / "cap"
    (cap / "proc").mkdir(parents=True)
    (cap / "proc" / "meminfo").symlink_to(victim)
    _ok(capsys, main(["device", "--capture", str(cap)]))
    assert victim.read_bytes() == VICTIM_TEXT
    meminfo = cap / "proc" / "meminfo"
    assert not meminfo.is_symlink() and meminfo.read_text().startswith("MemTotal")


def test_device_capture_refuses_a_directory_that_leads_outside_it(tmp_path, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cap = tmp_path / "cap"
    cap.mkdir()
    (cap / "proc").symlink_to(elsewhere)
    err = _one_line(capsys, main(["device", "--capture", str(cap)]))
    assert "is not a directory of the capture" in err
    assert list(elsewhere.iterdir()) == []


def test_demo_checkpoint_rebuilt_over_planted_links(demo, tmp_path, victim):
    again = Path(shutil.copytree(demo, tmp_path / "again"))
    for name in ("config.json", "tokenizer.json", "model.safetensors"):
        (again / name).unlink()
        (again / name).symlink_to(victim)
    build_demo_checkpoint(again)
    assert victim.read_bytes() == VICTIM_TEXT
    for name in ("config.json", "tokenizer.json", "model.safetensors"):
        assert not (again / name).is_symlink() and (again / name).read_bytes() == (demo / name).read_bytes()
