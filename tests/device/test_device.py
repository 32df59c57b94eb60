"""`device` on captured trees of real device types: every field the issue asks for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from blossom_edge.cli import main
from blossom_edge.device.probe import probe
from blossom_edge.device.procfs import parse_getprop
from blossom_edge.device.sensors import read_freq_caps
from blossom_edge.device.tree import Tree
from tests import DATA

DEVICES = DATA / "devices"
GiB = 2**30

# name → expected (device name, soc, board, android version, arch, clusters as (cores, MHz, little),
# default threads, must-have features, features derived from part numbers, has battery)
EXPECTED = {
    "galaxy-s23-snapdragon-8-gen-2": dict(
        name="samsung SM-S911B", soc="Snapdragon 8 Gen 2 (SM8550)", board=None, android="14", arch="aarch64",
        clusters=[([7], 3360, False), ([5, 6], 2803, False), ([3, 4], 2803, False), ([0, 1, 2], 2016, True)],
        threads=5, features={"neon", "dotprod", "i8mm"}, absent={"sve", "avx2"}, derived=[], battery=True,
        ram=7.19, os="Android 14"),
    "pixel-3-snapdragon-845": dict(
        name="Google Pixel 3", soc="Snapdragon 845 (sdm845)", board=None, android="12", arch="aarch64",
        clusters=[([4, 5, 6, 7], 2803, False), ([0, 1, 2, 3], 1766, True)],
        threads=4, features={"neon", "dotprod"}, absent={"i8mm", "sve"}, derived=["dotprod"], battery=False,
        ram=3.59, os="Android 12"),
    "vivo-x90-pro-dimensity-9200": dict(
        name="vivo V2219A", soc="Dimensity 9200 (MT6985)", board=None, android="13", arch="aarch64",
        clusters=[([7], 3050, False), ([4, 5, 6], 2850, False), ([0, 1, 2, 3], 1800, True)],
        threads=4, features={"neon", "dotprod", "i8mm"}, absent={"sve"}, derived=[], battery=False,
        ram=11.18, os="Android 13"),
    "raspberry-pi-5": dict(
        name="Raspberry Pi 5 Model B Rev 1.0", soc="brcm,bcm2712", board="Raspberry Pi 5 Model B Rev 1.0",
        android=None, arch="aarch64", clusters=[([0, 1, 2, 3], 2400, False)], threads=4,
        features={"neon", "dotprod"}, absent={"i8mm", "sve"}, derived=[], battery=False, ram=7.86,
        os="Debian GNU/Linux 12 (bookworm)"),
    "orange-pi-5-rk3588s": dict(
        name="Orange Pi 5", soc="rockchip,rk3588", board="Orange Pi 5", android=None, arch="aarch64",
        clusters=[([4, 5, 6, 7], 2256, False), ([0, 1, 2, 3], 1800, True)], threads=4,
        features={"neon", "dotprod"}, absent={"i8mm"}, derived=[], battery=False, ram=15.34,
        os="Orange Pi 1.1.8 Jammy"),
    "thinkpad-x1-i7-1260p": dict(
        name="12th Gen Intel(R) Core(TM) i7-1260P", soc=None, board=None, android=None, arch="x86_64",
        clusters=[(list(range(8)), 4700, False), (list(range(8, 16)), 3400, True)], threads=4,
        features={"avx2", "fma", "f16c", "avx_vnni"}, absent={"avx512", "neon"}, derived=[], battery=True,
        ram=15.35, os="Ubuntu 22.04.4 LTS"),
    "jetson-orin-nano": dict(
        name="NVIDIA Jetson Orin Nano Developer Kit", soc="nvidia,tegra234",
        board="NVIDIA Jetson Orin Nano Developer Kit", android=None, arch="aarch64",
        clusters=[(list(range(6)), 1510, False)], threads=6, features={"neon", "dotprod"}, absent={"i8mm"},
        derived=[], battery=False, ram=7.27, os="Ubuntu 22.04.3 LTS"),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_captured_device_fields(name: str) -> None:
    want = EXPECTED[name]
    info = probe(Tree(DEVICES / name))
    assert info.name == want["name"]
    assert info.soc == want["soc"]
    assert info.board == want["board"]
    assert info.arch == want["arch"]
    assert info.os == want["os"]
    assert info.kernel and info.kernel[0].isdigit()
    assert (info.android or {}).get("version") == want["android"]
    assert info.ram_total / GiB == pytest.approx(want["ram"], abs=0.01)
    assert 0 < info.ram_available < info.ram_total
    assert info.swap_total is not None and info.swap_free is not None and info.swap_free <= info.swap_total
    assert [(c.cores, c.max_mhz, c.little) for c in info.clusters] == want["clusters"]
    assert info.n_cores == sum(len(c.cores) for c in info.clusters)
    assert info.default_threads == want["threads"]
    assert set(info.perf_cores) == {cpu for c in info.clusters if not c.little for cpu in c.cores}
    assert info.is_big_little == any(little for _, _, little in want["clusters"])
    assert want["features"] <= set(info.features)
    assert not (want["absent"] & set(info.features))
    assert info.features_derived == want["derived"]
    assert info.cpu_model
    assert info.thermal and all(isinstance(z["temp_c"], float) for z in info.thermal)
    assert 20 < info.cpu_temp_c < 90
    assert (info.battery is not None) == want["battery"]
    if info.battery is not None:
        assert info.battery.status == "Discharging"
        assert info.battery.power_w > 0.1
        assert 0 < info.battery.capacity_pct <= 100


def test_core_names_from_part_numbers() -> None:
    info = probe(Tree(DEVICES / "galaxy-s23-snapdragon-8-gen-2"))
    assert [c.core for c in info.clusters] == ["Cortex-X3", "Cortex-A710", "Cortex-A715", "Cortex-A510"]
    assert info.cpu_model == "1× Cortex-X3 + 2× Cortex-A710 + 2× Cortex-A715 + 3× Cortex-A510"


def test_throttled_caps_readable() -> None:
    tree = Tree(DEVICES / "pixel-3-snapdragon-845")
    caps = read_freq_caps(tree, [0, 4])
    assert caps == {0: 1766400, 4: 1996800}


def test_empty_root_is_all_optional(tmp_path: Path) -> None:
    info = probe(Tree(tmp_path))
    assert info.ram_total is None and info.clusters == [] and info.thermal == [] and info.battery is None
    assert info.default_threads >= 0


def test_getprop_parsing_ignores_noise() -> None:
    text = "[ro.product.model]: [Pixel 8]\ngarbage line\n[ro.empty]: []\n"
    assert parse_getprop(text) == {"ro.product.model": "Pixel 8", "ro.empty": ""}


def test_cli_json_on_capture(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["device", "--root", str(DEVICES / "raspberry-pi-5"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["board"] == "Raspberry Pi 5 Model B Rev 1.0"
    assert data["clusters"][0]["cores"] == [0, 1, 2, 3]
    assert data["default_threads"] == 4


def test_cli_table_on_capture(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["device", "--root", str(DEVICES / "pixel-3-snapdragon-845")]) == 0
    out = capsys.readouterr().out
    assert "Snapdragon 845" in out and "dotprod" in out and "part number" in out


def test_capture_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["device", "--capture", str(tmp_path / "cap")]) == 0
    live = probe()
    replay = probe(Tree(tmp_path / "cap"))
    assert replay.ram_total == live.ram_total
    assert replay.n_cores == live.n_cores
    assert replay.features == live.features
    assert replay.kernel == live.kernel
    assert (tmp_path / "cap" / "proc" / "meminfo").is_file()


def test_missing_root_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["device", "--root", str(tmp_path / "nope")]) == 1
    assert "no such capture directory" in capsys.readouterr().err
