"""The README's cluster section, run as written: a head and two worker nodes started with `ray start` on
this machine, a release of two checkpoints × two types through `--address` over one shared directory,
and one worker node killed (its raylet and every process under it) while a quantize task runs there.
The release still completes, and every GGUF it wrote is byte for byte what `quantize` makes alone.

The README's lines are read from the README itself, so the two cannot drift apart. On one machine:
HEAD_IP is 127.0.0.1, 6379 a free port, `4b 9b` two small checkpoints inside the shared directory, and
each `ray start` gets `--num-cpus 1 --temp-dir DIR` (three nodes on two cores; every process of this
cluster carries DIR in its command line, which is how the test finds and ends exactly its own).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
MODELS = (("blossom-v5-4b", "qwen2"), ("blossom-v5.1-9b", "llama"))
ALIASES = ("4b", "9b")
RELEASE_TIMEOUT = 300


def readme_cluster_lines() -> list[str]:
    """The commands of the README's cluster block (comments dropped), in order."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("\n## Release\n"):]
    section = section[:section.index("\n## ", 1)]
    for block in re.findall(r"```sh\n(.*?)```", section, re.S):
        if "ray start --head" in block:
            return [line.split(" #")[0].strip() for line in block.splitlines() if line.split(" #")[0].strip()]
    raise AssertionError("the README's Release section has no block with `ray start --head`")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _processes() -> dict[int, tuple[int, str]]:
    """pid → (parent pid, command line) of every process now running."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        found[int(entry.name)] = (ppid, cmdline)
    return found


def _tree(root: int, procs: dict[int, tuple[int, str]]) -> list[int]:
    """`root` and every process under it."""
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += [p for p, (ppid, _) in procs.items() if ppid == pid]
    return tree


def _raylets(temp: Path) -> set[int]:
    return {pid for pid, (_, cmd) in _processes().items() if "/raylet/raylet " in cmd and str(temp) in cmd}


def _kill(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@dataclass
class ClusterRun:
    out: Path
    checkpoints: list[Path]
    killed: str = ""
    # Per task name, the raylets (nodes) it was seen running under.
    seen: dict[str, set[int]] = field(default_factory=dict)
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""


def _command(line: str, *, port: int, shared: Path, checkpoints: list[Path], temp: Path) -> list[str]:
    """One README line as this machine runs it (see the module's docstring)."""
    words = shlex.split(line.replace("HEAD_IP", "127.0.0.1").replace("6379", str(port))
                        .replace("/shared", str(shared)))
    if words[0] == "ray":
        extra = ["--num-cpus", "1", "--temp-dir", str(temp)] if words[1] == "start" else []
        return [str(Path(sys.executable).with_name("ray")), *words[1:], *extra]
    assert words[0] == "blossom-edge", line
    words = [str(checkpoints[ALIASES.index(w)]) if w in ALIASES else w for w in words]
    return [sys.executable, "-m", "blossom_edge", *words[1:]]


def _watch(release: subprocess.Popen, workers: set[int], temp: Path, run: ClusterRun) -> None:
    """Until the release ends: note which task runs under which raylet; kill the first worker node
    seen running a quantize task (its raylet and every process under it, as a crash would)."""
    deadline = time.monotonic() + RELEASE_TIMEOUT
    while release.poll() is None and time.monotonic() < deadline:
        procs = _processes()
        for raylet in _raylets(temp):
            for pid in _tree(raylet, procs)[1:]:
                title = procs[pid][1]
                if title.startswith("ray::") and "/" in title:
                    run.seen.setdefault(title.removeprefix("ray::"), set()).add(raylet)
                    if not run.killed and raylet in workers and title.endswith("/quantize"):
                        _kill(_tree(raylet, procs))
                        run.killed = title.removeprefix("ray::")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def cluster_release() -> Iterator[ClusterRun]:
    from tests.builders.checkpoints import build_checkpoint

    shared = Path(tempfile.mkdtemp(prefix="be-shared-"))
    # Ray's socket paths must stay short (108 bytes): a short directory of our own under /tmp.
    temp = Path(tempfile.mkdtemp(prefix="be-ray-", dir="/tmp"))
    checkpoints = [build_checkpoint(shared / "checkpoints" / stem, arch, hidden=256, layers=2)
                   for stem, arch in MODELS]
    run = ClusterRun(shared / "release", checkpoints)
    port = _free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    lines = readme_cluster_lines()
    try:
        head: set[int] = set()
        for line in lines:
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").partition("=")
                env[name] = value
                continue
            cmd = _command(line, port=port, shared=shared, checkpoints=checkpoints, temp=temp)
            if "--address" in line and "ray start" in line:
                # Two worker nodes; one after the other, as two `ray start` on one machine race for names.
                for _ in range(2):
                    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
                    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
            elif line.startswith("blossom-edge"):
                workers = _raylets(temp) - head
                assert len(head) == 1 and len(workers) == 2, (head, workers)
                release = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                try:
                    _watch(release, workers, temp, run)
                finally:
                    if release.poll() is None:
                        release.kill()
                    run.stdout, run.stderr = release.communicate()
                    run.returncode = release.returncode
            else:
                done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
                assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
                if "--head" in line:
                    head = _raylets(temp)
    finally:
        procs = _processes()
        ours = [pid for pid, (_, cmd) in procs.items() if str(temp) in cmd]
        _kill([pid for root in ours for pid in _tree(root, procs)])
        shutil.rmtree(temp, ignore_errors=True)
    yield run
    shutil.rmtree(shared, ignore_errors=True)


@pytest.mark.slow
def test_readme_names_the_commands_the_test_runs() -> None:
    lines = readme_cluster_lines()
    assert any(line.startswith("ray start --head --port 6379") for line in lines)
    assert any(line.startswith("ray start --address HEAD_IP:6379") for line in lines)
    release = next(line for line in lines if line.startswith("blossom-edge release"))
    assert "--address HEAD_IP:6379" in release and " -o /shared/" in release
    assert release.split()[2:4] == list(ALIASES)


@pytest.mark.slow
def test_release_survives_a_killed_worker_node(cluster_release: ClusterRun) -> None:
    run = cluster_release
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.killed, f"no quantize task was seen on a worker node; seen: {run.seen}"
    # The killed task ran again on a node still alive.
    assert len(run.seen[run.killed]) >= 2, run.seen
    # Ray's notices of the failed attempt stay off stdout, which holds our lines only.
    assert "✓ release in" in run.stdout and "retries remaining" not in run.stdout, run.stdout


@pytest.mark.slow
def test_every_file_is_what_quantize_makes_alone(cluster_release: ClusterRun, tmp_path: Path) -> None:
    from blossom_edge.quantize.manifest import manifest_path
    from blossom_edge.quantize.pipeline import quantize_pipeline

    run = cluster_release
    assert run.returncode == 0, run.stderr[-3000:]
    qtypes = re.search(r"--quants (\S+)", next(ln for ln in readme_cluster_lines()
                                                if ln.startswith("blossom-edge"))).group(1).split(",")
    for (stem, _arch), ckpt in zip(MODELS, run.checkpoints):
        made = sorted(p.name for p in (run.out / stem).glob("*.gguf"))
        assert made == sorted(f"{stem}-{q.upper()}.gguf" for q in qtypes)
        for qtype in qtypes:
            alone = quantize_pipeline(str(ckpt), qtype, tmp_path / stem).path
            ours = run.out / stem / alone.name
            assert ours.read_bytes() == alone.read_bytes(), ours.name
            assert manifest_path(ours).is_file()
        assert (run.out / stem / "README.md").is_file()
    assert not list(run.out.rglob("*.partial")) and not list(run.out.rglob("*.intermediate.gguf"))
