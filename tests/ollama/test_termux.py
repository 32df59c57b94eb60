"""scripts/termux.sh run by bash in a fake Termux, and the `blossom-edge termux` command.

The fake phone is a temporary directory laid out like /data/data/com.termux/files with
stub commands from tests/ollama/termux/bin first on PATH (pkg, apt, dpkg, git, go, cmake, make,
curl, pip, termux-wake-lock, getprop, uname, df). The stubs log every call to
calls.log and keep package state in files, so the tests check what the script ran and what
it left behind. The fake `ollama serve` is a sleeping bash loop; the fake curl answers
only for 127.0.0.1:11434 while it runs and refuses every other host, so no test reaches
the network or starts a real server.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from blossom_edge.cli import main
from blossom_edge.ollama.termux import SCRIPT_URL, one_liner, script_path
from tests import ROOT

REPO = ROOT
SCRIPT = REPO / "scripts" / "termux.sh"
PACKAGED = REPO / "blossom_edge" / "scripts" / "termux.sh"
STUBS = Path(__file__).resolve().parent / "termux"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


@dataclass
class FakeTermux:
    root: Path
    prefix: Path
    home: Path
    stub: Path

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            "PATH": f"{STUBS / 'bin'}:{self.prefix / 'bin'}:/usr/bin:/bin",
            "PREFIX": str(self.prefix),
            "HOME": str(self.home),
            "TERMUX_VERSION": "0.118.1",
            "TERMUX_APK_RELEASE": "F_DROID",
            "STUB_STATE": str(self.stub),
            "LANG": "C.UTF-8",
        }
        env.update(extra)
        return env

    def run(self, *args: str, env: dict[str, str] | None = None, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["bash", str(SCRIPT), *args],
            cwd=self.home,
            env=env if env is not None else self.env(**extra),
            capture_output=True,
            text=True,
            timeout=120,
        )

    def calls(self) -> list[str]:
        log = self.stub / "calls.log"
        return log.read_text().splitlines() if log.exists() else []

    def clear_calls(self) -> None:
        (self.stub / "calls.log").unlink(missing_ok=True)

    def installed(self) -> set[str]:
        path = self.stub / "installed"
        return set(path.read_text().split()) if path.exists() else set()

    def preinstall(self, *packages: str) -> None:
        with (self.stub / "installed").open("a") as f:
            f.writelines(f"{p}\n" for p in packages)

    @property
    def state(self) -> Path:
        return self.prefix / "var/lib/blossom-edge/termux"

    @property
    def pid_file(self) -> Path:
        return self.home / ".ollama/serve.pid"

    @property
    def ollama(self) -> Path:
        return self.prefix / "bin/ollama"

    def ollama_version(self) -> str:
        out = subprocess.run([str(self.ollama), "--version"], env=self.env(), capture_output=True, text=True)
        return out.stdout.strip().rsplit(" ", 1)[-1]

    def server_running(self) -> bool:
        return (self.stub / "server").exists()


@pytest.fixture
def phone(tmp_path: Path):
    files = tmp_path / "data/data/com.termux/files"
    fake = FakeTermux(tmp_path, files / "usr", files / "home", tmp_path / "stub")
    for d in (fake.prefix / "bin", fake.home, fake.stub):
        d.mkdir(parents=True)
    yield fake
    pids = fake.stub / "server_pids"
    if pids.exists():
        for pid in pids.read_text().split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("termux.sh: error:")]


def assert_no_network(phone: FakeTermux) -> None:
    assert not [c for c in phone.calls() if c.startswith("curl NETWORK")]


def pkg_installs(phone: FakeTermux) -> list[str]:
    return [c for c in phone.calls() if c.startswith("pkg install")]


# --- The script file itself ------------------------------------------------------------------


def test_shellcheck_reports_nothing():
    if shutil.which("shellcheck") is None:
        pytest.fail("shellcheck is not installed (CI installs it in .ci/run; locally: apt-get install shellcheck)")
    result = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stdout, result.stdout


def test_packaged_copy_is_identical():
    # raw.githubusercontent.com serves a symlink as its target path, so the one-liner needs a
    # real file in scripts/; the package needs its own copy for pip installs.
    assert SCRIPT.read_bytes() == PACKAGED.read_bytes(), (
        "scripts/termux.sh and blossom_edge/scripts/termux.sh differ; after editing scripts/termux.sh run: "
        "cp scripts/termux.sh blossom_edge/scripts/termux.sh"
    )
    assert os.access(SCRIPT, os.X_OK) and not SCRIPT.is_symlink()


def test_script_is_strict_bash():
    head = SCRIPT.read_text().splitlines()[:12]
    assert head[0] == "#!/usr/bin/env bash"
    assert any(line.startswith("set -") and "euo pipefail" in line for line in head)


def source_and_call(expr: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-c", f'source "$1"; {expr}', "bash", str(SCRIPT)], capture_output=True, text=True, timeout=30
    )


@pytest.mark.parametrize(
    ("tag", "era"),
    [
        ("v0.1.32", "generate"),
        ("v0.3.14", "generate"),
        ("0.3.0", "generate"),
        ("v0.4.0", "make"),
        ("v0.4.7", "make"),
        ("v0.5.0", "make"),
        ("v0.5.7", "make"),
        ("v0.5.8", "cmake"),
        ("v0.5.13", "cmake"),
        ("v0.6.8", "cmake"),
        ("v0.9.5", "cmake"),
        ("v0.12.11", "cmake"),
        ("v0.12.11-rc1", "cmake"),
        ("v1.0.0", "cmake"),
    ],
)
def test_build_era_per_release(tag: str, era: str):
    result = source_and_call(f"ollama_build_era {tag}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == era


@pytest.mark.parametrize("tag", ["main", "v0.12", "latest", "v0.12.11; rm -rf /", ""])
def test_build_era_rejects_non_tags(tag: str):
    result = source_and_call(f'ollama_build_era "{tag}" || echo REJECTED')
    assert result.stdout.strip() == "REJECTED"


@pytest.mark.parametrize(
    ("have", "need", "ge"),
    [("1.24.1", "1.24.0", True), ("1.24", "1.24.0", True), ("1.22.8", "1.24.0", False),
     ("1.9", "1.22", False), ("1.25.0", "1.24.6", True), ("2.0", "1.99.9", True), ("1.24rc1", "1.24", True)],
)
def test_version_ge(have: str, need: str, ge: bool):
    result = source_and_call(f"version_ge {have} {need} && echo GE || echo LT")
    assert result.stdout.strip() == ("GE" if ge else "LT")


def test_sourcing_runs_nothing(tmp_path: Path):
    result = source_and_call("echo SOURCED")
    assert result.stdout.strip() == "SOURCED" and result.returncode == 0


def test_piped_into_bash_runs_like_the_one_liner(phone: FakeTermux):
    result = subprocess.run(["bash", "-s", "--", "--gpu"], input=SCRIPT.read_text(), cwd=phone.home,
                            env=phone.env(), capture_output=True, text=True, timeout=120)
    ok(result)
    assert pkg_installs(phone) == ["pkg install -y ollama ollama-backend-vulkan"] and phone.server_running()


def test_pinned_version_is_a_cmake_era_release_tag():
    text = SCRIPT.read_text()
    pinned = next(line.split("=", 1)[1].strip('"') for line in text.splitlines()
                  if line.startswith("OLLAMA_PINNED_VERSION="))
    assert source_and_call(f"ollama_build_era {pinned}").stdout.strip() == "cmake"


# --- Refusals --------------------------------------------------------------------------------


def test_not_termux_is_refused(phone: FakeTermux):
    result = phone.run(PREFIX="/usr", HOME=str(phone.home))
    assert result.returncode != 0
    (line,) = error_lines(result)
    assert "Termux" in line and "/usr" in line
    assert not pkg_installs(phone)


def test_missing_prefix_is_refused(phone: FakeTermux):
    env = phone.env()
    del env["PREFIX"]
    result = phone.run(env=env)
    assert result.returncode != 0 and "unset" in error_lines(result)[0]


@pytest.mark.parametrize("arch", ["armv7l", "armv8l", "i686"])
def test_32_bit_phones_are_refused(phone: FakeTermux, arch: str):
    result = phone.run(STUB_UNAME_M=arch)
    assert result.returncode != 0
    (line,) = error_lines(result)
    assert arch in line and "64-bit" in line
    assert not pkg_installs(phone)


def test_x86_64_is_accepted(phone: FakeTermux):
    ok(phone.run(STUB_UNAME_M="x86_64"))


def test_play_store_build_warns(phone: FakeTermux):
    result = ok(phone.run(TERMUX_APK_RELEASE="GOOGLE_PLAYSTORE", TERMUX_VERSION="0.101"))
    assert "F-Droid" in result.stderr


def test_low_storage_is_refused_before_installing(phone: FakeTermux):
    result = phone.run(STUB_DF_AVAIL_KB="102400")
    assert result.returncode != 0
    (line,) = error_lines(result)
    assert "100 MB free" in line and "600 MB" in line
    assert not pkg_installs(phone)


@pytest.mark.parametrize(
    ("args", "needle"),
    [(["--version", "v0.12.11"], "--from-source"), (["--gpu", "--from-source"], "ollama-backend-vulkan"),
     (["--from-source", "--version", "main"], "release tag"), (["--jobs", "0"], "--jobs"),
     (["--frobnicate"], "unknown option"), (["--stop", "--status"], "choose one")],
)
def test_bad_options_fail_with_one_line(phone: FakeTermux, args: list[str], needle: str):
    result = phone.run(*args)
    assert result.returncode != 0
    (line,) = error_lines(result)
    assert needle in line
    assert not phone.calls()


def test_help(phone: FakeTermux):
    result = ok(phone.run("--help"))
    for option in ("--gpu", "--from-source", "--version", "--upgrade", "--uninstall", "--boot", "--stop", "--status",
                   "--with-toolkit"):
        assert option in result.stdout


# --- Default install from Termux's package ---------------------------------------------------


def test_default_install(phone: FakeTermux):
    result = ok(phone.run())
    assert pkg_installs(phone) == ["pkg install -y ollama"]
    assert phone.installed() == {"ollama"}
    assert phone.ollama_version() == "0.12.11"
    assert phone.server_running()
    assert phone.pid_file.read_text().strip().isdigit()
    assert (phone.home / ".ollama/serve.log").exists()
    assert "termux-wake-lock" in phone.calls()
    assert "ollama serve [OLLAMA_VULKAN=]" in phone.calls()
    assert "ollama run azure99/blossom --nowordwrap" in result.stdout
    assert "blossom-edge bench" not in result.stdout
    assert "phantom process killer" in result.stdout and "Disable child process restrictions" in result.stdout
    assert "max_phantom_processes 2147483647" in result.stdout
    assert (phone.state / "method").read_text().strip() == "pkg"
    assert_no_network(phone)
    for line in result.stdout.splitlines():
        if line.startswith("==> "):
            assert len(line) > 8


def test_phantom_killer_note_skipped_before_android_12(phone: FakeTermux):
    result = ok(phone.run(STUB_SDK="30"))
    assert "phantom process killer" not in result.stdout


def test_gpu_installs_vulkan_backend(phone: FakeTermux):
    ok(phone.run("--gpu"))
    assert pkg_installs(phone) == ["pkg install -y ollama ollama-backend-vulkan"]
    assert (phone.prefix / "lib/ollama/libggml-vulkan.so").exists()
    assert "ollama serve [OLLAMA_VULKAN=1]" in phone.calls()


def test_gpu_added_to_an_existing_install(phone: FakeTermux):
    ok(phone.run())
    phone.clear_calls()
    ok(phone.run("--gpu"))
    assert pkg_installs(phone) == ["pkg install -y ollama-backend-vulkan"]


def test_second_run_changes_nothing(phone: FakeTermux):
    ok(phone.run("--gpu", "--boot"))
    pid = phone.pid_file.read_text()
    boot = (phone.home / ".termux/boot/blossom-edge-ollama").read_text()
    phone.clear_calls()
    result = ok(phone.run("--gpu", "--boot"))
    assert not pkg_installs(phone)
    assert not [c for c in phone.calls() if c.startswith(("ollama serve", "apt"))]
    assert phone.pid_file.read_text() == pid
    assert (phone.home / ".termux/boot/blossom-edge-ollama").read_text() == boot
    assert "nothing to change" in result.stdout
    assert "reusing it, not starting another" in result.stdout


def test_running_server_is_reused_not_started_twice(phone: FakeTermux):
    result = ok(phone.run(STUB_FOREIGN_SERVER="0.12.9"))
    assert not [c for c in phone.calls() if c.startswith("ollama serve")]
    assert "0.12.9" in result.stdout and not phone.pid_file.exists()


def test_package_someone_else_installed_is_left_alone(phone: FakeTermux):
    phone.preinstall("ollama")
    subprocess.run(["bash", str(STUBS / "bin/pkg"), "install", "-y", "ollama"], env=phone.env(), check=True)
    phone.clear_calls()
    ok(phone.run())
    assert not pkg_installs(phone)
    ok(phone.run("--uninstall"))
    assert "ollama" in phone.installed() and phone.ollama.exists()
    assert not phone.server_running()


def test_upgrade_moves_package_to_newest(phone: FakeTermux):
    ok(phone.run(STUB_PKG_OLLAMA_VERSION="0.12.9"))
    assert phone.ollama_version() == "0.12.9"
    old_pid = phone.pid_file.read_text()
    phone.clear_calls()
    result = ok(phone.run("--upgrade", STUB_PKG_OLLAMA_VERSION="0.12.11"))
    assert "apt install --only-upgrade -y ollama" in phone.calls()
    assert phone.ollama_version() == "0.12.11"
    assert "0.12.9 -> 0.12.11" in result.stdout
    assert phone.pid_file.read_text() != old_pid, "the server must restart on the new binary"
    assert phone.server_running()


def test_pkg_failure_is_explained(phone: FakeTermux):
    result = phone.run(STUB_PKG_FAIL="1")
    assert result.returncode != 0
    (line,) = error_lines(result)
    assert "pkg install ollama failed" in line and "termux-change-repo" in line
    assert not phone.state.joinpath("packages").exists()


# --- Service ---------------------------------------------------------------------------------


def test_server_that_never_answers_times_out_with_log_tail(phone: FakeTermux):
    result = phone.run(STUB_SERVE_MODE="never", BLOSSOM_OLLAMA_WAIT="2")
    assert result.returncode != 0
    (line,) = error_lines(result)
    assert "did not answer within 2s" in line and "serve.log" in line
    assert "loading (this fake never answers)" in result.stderr
    assert not phone.pid_file.exists()


def test_server_that_dies_shows_its_error(phone: FakeTermux):
    result = phone.run(STUB_SERVE_MODE="die", BLOSSOM_OLLAMA_WAIT="10")
    assert result.returncode != 0
    assert "address already in use" in result.stderr
    (line,) = error_lines(result)
    assert "did not start" in line


def test_status_and_stop(phone: FakeTermux):
    ok(phone.run())
    status = ok(phone.run("--status"))
    assert "Termux package" in status.stdout and "answers on http://127.0.0.1:11434" in status.stdout
    phone.clear_calls()
    stop = ok(phone.run("--stop"))
    assert "stopped" in stop.stdout
    assert not phone.server_running() and not phone.pid_file.exists()
    assert "termux-wake-unlock" in phone.calls()
    after = phone.run("--status")
    assert after.returncode == 3 and "not answering" in after.stdout
    again = ok(phone.run("--stop"))
    assert "no Ollama server is running" in again.stdout


def test_stop_refuses_a_server_it_did_not_start(phone: FakeTermux):
    result = phone.run("--stop", STUB_FOREIGN_SERVER="0.12.11")
    assert result.returncode != 0
    assert "did not start it" in error_lines(result)[0]


def test_stale_pid_file_is_not_trusted(phone: FakeTermux):
    phone.pid_file.parent.mkdir(parents=True)
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        phone.pid_file.write_text(f"{sleeper.pid}\n")
        ok(phone.run("--stop"))
        assert sleeper.poll() is None, "stop killed a process that is not ollama"
    finally:
        sleeper.kill()
        sleeper.wait()


def test_boot_script(phone: FakeTermux):
    result = ok(phone.run("--gpu", "--boot"))
    boot = phone.home / ".termux/boot/blossom-edge-ollama"
    text = boot.read_text()
    assert os.access(boot, os.X_OK)
    assert text.startswith(f"#!{phone.prefix}/bin/sh\n")
    assert "termux-wake-lock" in text and f'"{phone.ollama}" serve' in text and "OLLAMA_VULKAN=1" in text
    assert "Termux:Boot" in result.stdout
    subprocess.run(["sh", "-n", str(boot)], check=True)
    ok(phone.run("--stop"))
    (phone.prefix / "bin/sh").symlink_to("/bin/sh")
    subprocess.run([str(boot)], env=phone.env(), check=True, timeout=30)
    for _ in range(50):
        if phone.server_running():
            break
        subprocess.run(["sleep", "0.1"])
    assert phone.server_running(), "the boot script did not start the server"


def test_boot_script_of_someone_else_is_not_overwritten(phone: FakeTermux):
    boot = phone.home / ".termux/boot/blossom-edge-ollama"
    boot.parent.mkdir(parents=True)
    boot.write_text("#!/bin/sh\necho mine\n")
    result = phone.run("--boot")
    assert result.returncode != 0 and "not written by this script" in error_lines(result)[0]
    assert boot.read_text() == "#!/bin/sh\necho mine\n"


# --- From source -----------------------------------------------------------------------------


def build_calls(phone: FakeTermux) -> list[str]:
    return [c for c in phone.calls() if c.split(" ", 1)[0] in {"go", "cmake", "make", "git"}]


def test_from_source_pinned_version(phone: FakeTermux):
    result = ok(phone.run("--from-source", "--version", "v0.12.11"))
    assert pkg_installs(phone) == ["pkg install -y golang cmake ninja clang git make libandroid-spawn"]
    calls = build_calls(phone)
    src = phone.home / ".cache/blossom-edge/ollama-src/v0.12.11"
    assert calls[0] == (f"git clone --depth 1 --branch v0.12.11 --recurse-submodules --shallow-submodules "
                        f"https://github.com/ollama/ollama.git {src}")
    assert calls[1].startswith("cmake -B build -G Ninja -DCMAKE_BUILD_TYPE=Release")
    assert calls[2].startswith("cmake --build build --parallel 2")
    assert calls[3].startswith("go build -trimpath")
    assert "version.Version=0.12.11" in calls[3] and "GOTOOLCHAIN=local" in calls[3] and "GOFLAGS=-p=2" in calls[3]
    assert phone.ollama_version() == "0.12.11"
    assert (phone.prefix / "lib/ollama/libggml-cpu.so").exists()
    assert "ollama" not in phone.installed()
    assert phone.server_running()
    assert "Go 1.24.1 satisfies go.mod's 1.24.0" in result.stdout


def test_from_source_default_is_the_pinned_tag(phone: FakeTermux):
    ok(phone.run("--from-source", "--jobs", "1"))
    assert phone.ollama_version() == "0.12.11"
    assert any(c.startswith("cmake --build build --parallel 1") for c in phone.calls())


@pytest.mark.parametrize(
    ("tag", "steps"),
    [("v0.3.14", ["go generate ./...", "go build"]), ("v0.5.7", ["make -j 2", "go build"]),
     ("v0.6.8", ["cmake -B build", "cmake --build build", "go build"])],
)
def test_each_era_builds_its_own_way(phone: FakeTermux, tag: str, steps: list[str]):
    ok(phone.run("--from-source", "--version", tag, STUB_GOMOD_GO="1.22"))
    calls = [c for c in build_calls(phone) if not c.startswith("git")]
    assert len(calls) == len(steps)
    for call, step in zip(calls, steps):
        assert call.startswith(step), (call, step)
    assert phone.ollama_version() == tag[1:]


def test_go_too_old_stops_before_building(phone: FakeTermux):
    result = phone.run("--from-source", STUB_GO_VERSION="1.22.8", STUB_GOMOD_GO="1.24.0")
    assert result.returncode != 0
    (line,) = error_lines(result)
    assert "Go 1.24.0" in line and "Go 1.22.8" in line and "pkg upgrade golang" in line
    assert not [c for c in phone.calls() if c.startswith(("go build", "cmake"))]
    assert not phone.ollama.exists()


@pytest.mark.parametrize("failing", ["cmake --build", "go build"])
def test_build_failure_is_explained(phone: FakeTermux, failing: str):
    result = phone.run("--from-source", STUB_FAIL_STEP=failing)
    assert result.returncode != 0
    (line,) = error_lines(result)
    assert "failed" in line and "build-v0.12.11.log" in line and "--jobs 1" in line
    assert not phone.ollama.exists() and not phone.server_running()
    log = phone.home / ".cache/blossom-edge/build-v0.12.11.log"
    assert "simulated failure" in log.read_text()


def test_from_source_second_run_changes_nothing(phone: FakeTermux):
    ok(phone.run("--from-source"))
    phone.clear_calls()
    result = ok(phone.run("--from-source"))
    assert not build_calls(phone) and not pkg_installs(phone)
    assert "nothing to change" in result.stdout


def test_from_source_other_version_needs_upgrade(phone: FakeTermux):
    ok(phone.run("--from-source", "--version", "v0.12.10"))
    phone.clear_calls()
    refused = phone.run("--from-source", "--version", "v0.12.11")
    assert refused.returncode != 0 and "--upgrade" in error_lines(refused)[0]
    assert phone.ollama_version() == "0.12.10"
    ok(phone.run("--from-source", "--version", "v0.12.11", "--upgrade"))
    assert phone.ollama_version() == "0.12.11"
    assert (phone.state / "version").read_text().strip() == "v0.12.11"


def test_upgrade_from_source_to_old_era_drops_stale_libraries(phone: FakeTermux):
    ok(phone.run("--from-source", "--version", "v0.12.11"))
    ok(phone.run("--from-source", "--version", "v0.5.7", "--upgrade"))
    assert phone.ollama_version() == "0.5.7"
    assert not (phone.prefix / "lib/ollama").exists()
    assert (phone.state / "files").read_text().split() == [str(phone.ollama)]


def test_switch_from_package_to_source(phone: FakeTermux):
    ok(phone.run())
    refused = phone.run("--from-source")
    assert refused.returncode != 0 and "--upgrade" in error_lines(refused)[0]
    ok(phone.run("--from-source", "--upgrade"))
    assert "ollama" not in phone.installed()
    assert phone.ollama_version() == "0.12.11"
    assert (phone.state / "method").read_text().strip() == "source"


def test_source_build_refuses_a_package_it_did_not_install(phone: FakeTermux):
    subprocess.run(["bash", str(STUBS / "bin/pkg"), "install", "-y", "ollama"], env=phone.env(), check=True)
    result = phone.run("--from-source")
    assert result.returncode != 0 and "pkg uninstall ollama" in error_lines(result)[0]


# --- Uninstall -------------------------------------------------------------------------------


def test_uninstall_removes_only_what_it_installed(phone: FakeTermux):
    phone.preinstall("clang", "git")
    mine = phone.prefix / "bin/my-tool"
    mine.write_text("#!/bin/sh\n")
    models = phone.home / ".ollama/models"
    models.mkdir(parents=True)
    (models / "blob").write_text("weights")
    ok(phone.run("--from-source", "--boot"))
    assert {"golang", "cmake", "ninja", "make", "libandroid-spawn"} <= phone.installed()
    result = ok(phone.run("--uninstall"))
    assert phone.installed() == {"clang", "git"}
    assert mine.exists() and (models / "blob").exists()
    assert not phone.ollama.exists() and not (phone.prefix / "lib/ollama").exists()
    assert not (phone.home / ".termux/boot/blossom-edge-ollama").exists()
    assert not phone.server_running() and not phone.pid_file.exists()
    assert not phone.state.exists()
    assert not (phone.home / ".cache/blossom-edge/ollama-src").exists()
    assert "models" in result.stdout
    again = ok(phone.run("--uninstall"))
    assert "Nothing to uninstall" in again.stdout


def test_uninstall_keeps_a_package_others_now_depend_on(phone: FakeTermux):
    ok(phone.run("--from-source"))
    result = ok(phone.run("--uninstall", STUB_RDEPENDS="cmake=my-cmake-project"))
    assert "cmake" in phone.installed() and "golang" not in phone.installed()
    assert "keeping cmake" in result.stdout and "my-cmake-project" in result.stdout


def test_uninstall_package_install(phone: FakeTermux):
    ok(phone.run("--gpu"))
    ok(phone.run("--uninstall"))
    assert phone.installed() == set()
    assert not phone.ollama.exists() and not (phone.prefix / "lib/ollama/libggml-vulkan.so").exists()
    assert not phone.server_running()


# --- Toolkit ---------------------------------------------------------------------------------


def test_with_toolkit(phone: FakeTermux):
    result = ok(phone.run("--with-toolkit"))
    assert "pkg install -y python python-pip python-numpy clang cmake ninja make binutils" in phone.calls()
    assert "pip install blossom-edge [CMAKE_BUILD_PARALLEL_LEVEL=2]" in phone.calls()
    assert "blossom-edge bench" in result.stdout
    phone.clear_calls()
    again = ok(phone.run("--with-toolkit"))
    assert not [c for c in phone.calls() if c.startswith(("pip", "pkg"))]
    assert "blossom-edge is installed" in again.stdout
    ok(phone.run("--uninstall"))
    assert "pip uninstall -y blossom-edge [CMAKE_BUILD_PARALLEL_LEVEL=]" in phone.calls()
    assert not (phone.prefix / "bin/blossom-edge").exists()


def test_toolkit_pip_failure_is_explained(phone: FakeTermux):
    result = phone.run("--with-toolkit", STUB_FAIL_STEP="pip install")
    assert result.returncode != 0
    assert "pip install blossom-edge failed" in error_lines(result)[0]


# --- blossom-edge termux ---------------------------------------------------------------------


def test_cli_prints_one_liner_and_path(capsys):
    assert main(["termux"]) == 0
    out = capsys.readouterr().out
    assert f"curl -fsSL {SCRIPT_URL} | bash\n" in out
    assert one_liner("--gpu --boot") in out
    assert script_path() in out
    assert SCRIPT_URL.endswith("/main/scripts/termux.sh")


def test_cli_path_is_the_packaged_script(capsys):
    assert main(["termux", "--path"]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path.is_file() and path.read_bytes() == SCRIPT.read_bytes()


def test_cli_help_has_an_example(capsys):
    assert main(["termux", "--help"]) == 0
    assert "Example: blossom-edge termux" in capsys.readouterr().out
