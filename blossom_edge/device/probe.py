"""What this device is, as far as running a GGUF goes: RAM, cores and clusters, ISA features, SoC, heat, battery.

psutil is not used: on Android 8+ /proc/stat is closed to apps, and psutil's answers on
phones are partial. Every probe is optional; a file we cannot read is a field we leave
empty, never an error. Files are read through a `Tree`, so a capture stands in for the live system.
"""

from __future__ import annotations

import os
import platform
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from blossom_edge.device import cpu_parts
from blossom_edge.device.procfs import parse_cpu_list, parse_cpuinfo, parse_getprop, parse_hex
from blossom_edge.device.sensors import KHZ_RANGE, Battery, cpu_temperature, read_battery, read_memory, read_thermal
from blossom_edge.device.soc import soc_name
from blossom_edge.device.tree import Tree

_ARM_FEATURES = {
    "asimd": "neon", "asimddp": "dotprod", "i8mm": "i8mm", "sve": "sve", "sve2": "sve2",
    "asimdhp": "fp16", "bf16": "bf16", "sme": "sme",
}
_X86_FEATURES = {
    "avx": "avx", "avx2": "avx2", "fma": "fma", "f16c": "f16c", "avx512f": "avx512",
    "avx512_vnni": "avx512_vnni", "avx512vnni": "avx512_vnni", "avx512_bf16": "avx512_bf16",
    "avx_vnni": "avx_vnni", "amx_int8": "amx_int8",
}
# A cluster whose top clock is below this share of the fastest is an efficiency cluster.
_LITTLE_RATIO = 0.85


@dataclass
class Core:
    id: int
    max_khz: int | None
    name: str | None
    little: bool | None


@dataclass
class Cluster:
    cores: list[int]
    max_mhz: int | None
    core: str | None
    little: bool


@dataclass
class DeviceInfo:
    """One device's probe results; `None` means the probe could not read it."""

    source: str
    name: str
    device_id: str
    arch: str | None
    os: str | None
    kernel: str | None
    ram_total: int | None
    ram_available: int | None
    swap_total: int | None
    swap_free: int | None
    cpu_model: str | None
    n_cores: int
    clusters: list[Cluster]
    perf_cores: list[int]
    default_threads: int
    features: list[str]
    features_derived: list[str]
    soc: str | None
    board: str | None
    android: dict[str, str] | None
    thermal: list[dict[str, Any]]
    cpu_temp_c: float | None
    battery: Battery | None
    cores: list[Core] = field(repr=False, default_factory=list)

    @property
    def is_big_little(self) -> bool:
        return any(c.little for c in self.clusters) and not all(c.little for c in self.clusters)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("cores")
        data["is_big_little"] = self.is_big_little
        if self.battery is not None:
            data["battery"]["power_w"] = self.battery.power_w
        return data


def _features(blocks: list[dict[str, str]], parts: list[cpu_parts.CorePart | None]) -> tuple[list[str], list[str]]:
    listed: set[str] = set()
    for block in blocks:
        for flag in (block.get("Features") or block.get("flags") or "").split():
            name = _ARM_FEATURES.get(flag) or _X86_FEATURES.get(flag)
            if name:
                listed.add(name)
    implied: set[str] = set()
    known = [p for p in parts if p is not None]
    if known:
        # What every core can run; llama.cpp threads land on any of them.
        implied = set.intersection(*(set(p.features) for p in known))
    derived = sorted(implied - listed)
    return sorted(listed | implied), derived


def _cores(tree: Tree, blocks: list[dict[str, str]]) -> list[Core]:
    ids = parse_cpu_list(tree.read("/sys/devices/system/cpu/present"))
    by_id = {int(b["processor"]): b for b in blocks}
    if not ids:
        ids = sorted(by_id)
    if not ids and tree.live:
        ids = list(range(os.cpu_count() or 1))
    cores = []
    for cpu in ids:
        block = by_id.get(cpu, blocks[-1] if blocks else {})
        part = cpu_parts.lookup(parse_hex(block.get("CPU implementer")), parse_hex(block.get("CPU part")))
        max_khz = tree.read_int(f"/sys/devices/system/cpu/cpu{cpu}/cpufreq/cpuinfo_max_freq", KHZ_RANGE)
        cores.append(Core(cpu, max_khz, part.name if part else None, part.little if part else None))
    return cores


def _clusters(cores: list[Core]) -> list[Cluster]:
    """Group cores by top clock (then by design); big.LITTLE shows up as distinct clocks."""
    groups: dict[tuple[int, str], list[Core]] = {}
    for core in cores:
        groups.setdefault((core.max_khz or 0, core.name or ""), []).append(core)
    top = max((c.max_khz or 0 for c in cores), default=0)
    clusters = []
    for (khz, name), members in sorted(groups.items(), key=lambda kv: (-kv[0][0], kv[0][1])):
        known_little = members[0].little
        if known_little is not None:
            little = known_little
        else:
            little = bool(top and khz and khz < _LITTLE_RATIO * top)
        clusters.append(Cluster([c.id for c in members], khz // 1000 if khz else None, name or None, little))
    return clusters


def _physical_count(blocks: list[dict[str, str]], cpus: list[int]) -> int:
    """Hyper-threads share a core's units; llama.cpp runs best with one thread per physical core."""
    seen = set()
    wanted = set(cpus)
    for block in blocks:
        if int(block["processor"]) in wanted:
            seen.add((block.get("physical id"), block.get("core id"), None if "core id" in block else block["processor"]))
    return len(seen) or len(cpus)


def _arch(blocks: list[dict[str, str]], common: dict[str, str], live: bool) -> str | None:
    first = blocks[0] if blocks else {}
    if "CPU implementer" in first or "CPU implementer" in common:
        arch = first.get("CPU architecture") or common.get("CPU architecture") or "8"
        return "aarch64" if arch.startswith("8") or arch.startswith("AArch64") else "armv7l"
    if "flags" in first:
        return "x86_64" if " lm " in f" {first['flags']} " else "i686"
    return platform.machine() if live else None


def _os_name(tree: Tree, props: dict[str, str]) -> str | None:
    if props.get("ro.build.version.release"):
        return f"Android {props['ro.build.version.release']}"
    release = tree.read("/etc/os-release") or ""
    match = re.search(r'^PRETTY_NAME="?([^"\n]+)"?', release, re.MULTILINE)
    ostype = tree.read("/proc/sys/kernel/ostype")
    return match.group(1) if match else ostype


def _cpu_model(blocks: list[dict[str, str]], common: dict[str, str], clusters: list[Cluster]) -> str | None:
    first = blocks[0] if blocks else {}
    if first.get("model name") and "CPU implementer" not in first:
        return first["model name"]
    if any(c.core for c in clusters):
        return " + ".join(f"{len(c.cores)}× {c.core or 'unknown core'}" for c in clusters)
    return common.get("Hardware") or common.get("Model") or first.get("model name")


def probe(tree: Tree | None = None) -> DeviceInfo:
    """Read everything `device` reports; each probe that fails leaves its field empty."""
    tree = tree or Tree()
    blocks, common = parse_cpuinfo(tree.read("/proc/cpuinfo"))
    props = parse_getprop(tree.getprop_text())
    cores = _cores(tree, blocks)
    clusters = _clusters(cores)
    big = [cpu for c in clusters if not c.little for cpu in c.cores] or [c.id for c in cores]
    parts = [cpu_parts.lookup(parse_hex(b.get("CPU implementer")), parse_hex(b.get("CPU part"))) for b in blocks]
    features, derived = _features(blocks, parts)
    mem = read_memory(tree)
    board = (tree.read("/proc/device-tree/model") or "").splitlines()
    compatible = (tree.read("/proc/device-tree/compatible") or "").split()
    android = None
    if props.get("ro.build.version.release"):
        android = {
            "model": props.get("ro.product.model", ""),
            "manufacturer": props.get("ro.product.manufacturer", ""),
            "version": props["ro.build.version.release"],
            "sdk": props.get("ro.build.version.sdk", ""),
        }
    soc = soc_name(props, compatible, common) if (props or compatible or common.get("Hardware")) else None
    zones = read_thermal(tree)
    cpu_model = _cpu_model(blocks, common, clusters)
    board_name = board[0] if board else None
    if android:
        name = f"{android['manufacturer']} {android['model']}".strip()
    else:
        name = board_name or cpu_model or "unknown device"
    ram_gib = round((mem["ram_total"] or 0) / 2**30)
    return DeviceInfo(
        source="live" if tree.live else str(tree.root),
        name=name,
        device_id=re.sub(r"[^a-z0-9]+", "-", f"{name} {soc or ''} {ram_gib}g".lower()).strip("-"),
        arch=_arch(blocks, common, tree.live),
        os=_os_name(tree, props),
        kernel=tree.read("/proc/sys/kernel/osrelease"),
        ram_total=mem["ram_total"],
        ram_available=mem["ram_available"],
        swap_total=mem["swap_total"],
        swap_free=mem["swap_free"],
        cpu_model=cpu_model,
        n_cores=len(cores),
        clusters=clusters,
        perf_cores=big,
        default_threads=_physical_count(blocks, big),
        features=features,
        features_derived=derived,
        soc=soc,
        board=board_name,
        android=android,
        thermal=zones,
        cpu_temp_c=cpu_temperature(zones),
        battery=read_battery(tree),
        cores=cores,
    )
