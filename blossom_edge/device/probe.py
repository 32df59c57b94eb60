"""What this device is, as far as running a GGUF goes: RAM, cores and clusters, ISA features, SoC, heat, battery.

Everything comes from /proc, /sys and Android's `getprop`, read through a `Tree` so that a
captured copy of those files (`device --capture DIR`) can stand in for the live system
(`device --root DIR`). psutil is not used: on Android 8+ /proc/stat is closed to apps, and
psutil's answers on phones are partial. Every probe is optional; a file we cannot read is
a field we leave empty, never an error. A capture is input anyone can hand us, so reading
is bounded too: at most MAX_FILE_BYTES of a regular file (a FIFO, a device or a symlink loop
reads as missing), integers only in ASCII digits and within what the field can physically
be (a 10^30 kB meminfo line or a -10^20 °C zone is unknown, not a number), and CPU lists
capped at MAX_CPUS ids.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import stat
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from blossom_edge.base.bounded_read import NotRegularFile, read_prefix
from blossom_edge.base.errors import NotFoundError
from blossom_edge.device import cpu_parts

GETPROP_FILE = "getprop.txt"
# The most of any one file a probe reads: the largest real /proc/cpuinfo (hundreds of cores)
# is well under this, and a capture's 1 GB "cpuinfo" must not be read whole.
MAX_FILE_BYTES = 1 << 20
# CPU ids from here on are dropped: arm64 kernels top out at 4096 CPUs, and a list such as
# `0-99999999` must not become 10^8 cores to probe one by one.
MAX_CPUS = 4096
# An integer as the kernel writes one (ASCII, at most what a signed 64-bit value has);
# `str.isdigit` would also pass "٣" and "²", and int() then accepts the first and raises on the second.
_INT = re.compile(r"[+-]?[0-9]{1,19}")
_CPU_RANGE = re.compile(r"([0-9]{1,19})(?:-([0-9]{1,19}))?")
_HEX = re.compile(r"(?:0[xX])?([0-9a-fA-F]{1,16})")
# Physical bounds of the readings, in the units the kernel writes them.
MAX_MEMORY_BYTES = 1 << 50  # 1 PiB
KHZ_RANGE = (1, 100_000_000)  # up to 100 GHz
ZONE_TEMP_RANGE = (-273_150, 1_000_000)  # millidegrees (or whole degrees) Celsius
BATTERY_TEMP_RANGE = (-2_731, 10_000)  # tenths of a degree Celsius
BATTERY_UA_RANGE = (-100_000_000, 100_000_000)  # ±100 A
BATTERY_UV_RANGE = (0, 100_000_000)  # 100 V
PERCENT_RANGE = (0, 100)

# Qualcomm board-platform code names → marketing names, for phones without ro.soc.model.
_QCOM_PLATFORMS = {
    "sun": "Snapdragon 8 Elite", "pineapple": "Snapdragon 8 Gen 3", "kalama": "Snapdragon 8 Gen 2",
    "taro": "Snapdragon 8 Gen 1", "lahaina": "Snapdragon 888", "kona": "Snapdragon 865",
    "msmnile": "Snapdragon 855", "sdm845": "Snapdragon 845", "lito": "Snapdragon 765G",
}
_SOC_MODELS = {
    "SM8750": "Snapdragon 8 Elite", "SM8650": "Snapdragon 8 Gen 3", "SM8550": "Snapdragon 8 Gen 2",
    "SM8450": "Snapdragon 8 Gen 1", "SM8350": "Snapdragon 888", "SM8250": "Snapdragon 865",
    "MT6989": "Dimensity 9300", "MT6985": "Dimensity 9200", "MT6983": "Dimensity 9000",
    "MT6895": "Dimensity 8100", "GS301": "Google Tensor G3", "GS201": "Google Tensor G2",
}
_ARM_FEATURES = {
    "asimd": "neon", "asimddp": "dotprod", "i8mm": "i8mm", "sve": "sve", "sve2": "sve2",
    "asimdhp": "fp16", "bf16": "bf16", "sme": "sme",
}
_X86_FEATURES = {
    "avx": "avx", "avx2": "avx2", "fma": "fma", "f16c": "f16c", "avx512f": "avx512",
    "avx512_vnni": "avx512_vnni", "avx512vnni": "avx512_vnni", "avx512_bf16": "avx512_bf16",
    "avx_vnni": "avx_vnni", "amx_int8": "amx_int8",
}
_CPU_ZONE = re.compile(r"cpu|soc|x86_pkg|tsens|core|bigcore|little|package|ap-therm|mtktscpu", re.IGNORECASE)
# A cluster whose top clock is below this share of the fastest is an efficiency cluster.
_LITTLE_RATIO = 0.85


class Tree:
    """Reads the files the probes need, under `root`, and remembers which ones it read.

    The live system is root "/" plus the `getprop` command; a capture is a directory with
    the same layout plus getprop.txt. Capturing is probing the live system and copying
    exactly the files that were read. A capture root that is not a directory is a
    NotFoundError rather than an empty device: nothing under it can be read, and a mistyped
    `--device-root` should not quietly plan for a device with no RAM.
    """

    def __init__(self, root: Path | str = "/", live: bool | None = None) -> None:
        self.root = Path(root)
        self.live = str(self.root) == "/" if live is None else live
        if not self.live and not self.root.is_dir():
            raise NotFoundError(f"no such capture directory: {self.root}")
        self.read_paths: dict[str, bytes] = {}
        self._getprop_text: str | None = None

    def _path(self, rel: str) -> Path:
        return self.root / rel.lstrip("/")

    def read_bytes(self, rel: str) -> bytes | None:
        """The first MAX_FILE_BYTES of a regular file, or None."""
        data = _read_prefix(self._path(rel))
        if data is not None:
            self.read_paths[rel] = data
        return data

    def read(self, rel: str) -> str | None:
        """A text file with NULs (device-tree strings) and trailing space removed, or None."""
        data = self.read_bytes(rel)
        if data is None:
            return None
        return data.decode("utf-8", "replace").replace("\x00", "\n").strip()

    def read_int(self, rel: str, bounds: tuple[int, int]) -> int | None:
        """The file's first word as an integer within `bounds`, or None: a value the field
        cannot physically have is as unknown as one we could not read."""
        words = (self.read(rel) or "").split(maxsplit=1)
        value = _ascii_int(words[0]) if words else None
        return value if value is not None and bounds[0] <= value <= bounds[1] else None

    def listdir(self, rel: str) -> list[str]:
        """Entry names, without those no kernel makes (undecodable bytes, control characters):
        they would end up in the output, which must stay printable UTF-8."""
        try:
            return sorted(name for name in os.listdir(self._path(rel)) if name.isprintable())
        except (OSError, ValueError):
            return []

    def getprop_text(self) -> str | None:
        """What `getprop` prints: from the command when live on Android, else from getprop.txt."""
        if self._getprop_text is not None:
            return self._getprop_text
        if self.live:
            exe = shutil.which("getprop")
            if exe is None:
                return None
            try:
                text = subprocess.run([exe], capture_output=True, text=True, errors="replace", timeout=10,
                                      check=False).stdout[:MAX_FILE_BYTES]
            except (OSError, subprocess.SubprocessError):
                return None
        else:
            data = _read_prefix(self.root / GETPROP_FILE)
            if data is None:
                return None
            text = data.decode("utf-8", "replace")
        self._getprop_text = text
        return text


def _read_prefix(path: Path) -> bytes | None:
    """At most MAX_FILE_BYTES of a regular file, or None for anything else (a FIFO cannot hang
    the probe); /proc and /sys files are regular files, so the live system reads as before."""
    try:
        return read_prefix(path, MAX_FILE_BYTES)
    except (OSError, ValueError, NotRegularFile):
        return None


def _ascii_int(word: str) -> int | None:
    """`word` as an integer if the kernel could have written it, else None (never a ValueError)."""
    return int(word) if _INT.fullmatch(word) else None


# One `[key]: [value]` line; matched line by line so no pattern can span the whole file.
_GETPROP_LINE = re.compile(r"\[([^\]]+)\]:\s*\[(.*)\]\s*")


def parse_getprop(text: str | None) -> dict[str, str]:
    """`[key]: [value]` lines → dict; anything else is ignored."""
    props: dict[str, str] = {}
    for line in (text or "").split("\n"):
        match = _GETPROP_LINE.fullmatch(line)
        if match:
            props[match.group(1)] = match.group(2)
    return props


def parse_meminfo(text: str | None) -> dict[str, int]:
    """/proc/meminfo → bytes per key (the kernel writes kB); an amount past MAX_MEMORY_BYTES is left out."""
    out: dict[str, int] = {}
    for line in (text or "").splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        amount = _ascii_int(parts[0]) if parts else None
        if amount is None:
            continue
        amount *= 1024 if len(parts) > 1 and parts[1] == "kB" else 1
        if 0 <= amount <= MAX_MEMORY_BYTES:
            out[key.strip()] = amount
    return out


def parse_cpuinfo(text: str | None) -> tuple[list[dict[str, str]], dict[str, str]]:
    """/proc/cpuinfo → one dict per `processor` block, plus the trailing machine-wide block."""
    blocks: list[dict[str, str]] = []
    common: dict[str, str] = {}
    for chunk in re.split(r"\n\s*\n", text or ""):
        entry: dict[str, str] = {}
        for line in chunk.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                entry[key.strip()] = value.strip()
        if _cpu_id(entry.get("processor", "")) is not None:
            blocks.append(entry)
        elif entry:
            common.update(entry)
    return blocks, common


def _cpu_id(text: str) -> int | None:
    """A `processor` number from /proc/cpuinfo, if it is one a kernel could write."""
    value = _ascii_int(text)
    return value if value is not None and 0 <= value < MAX_CPUS else None


def parse_cpu_list(text: str | None) -> list[int]:
    """Kernel CPU lists such as `0-3,6` → [0, 1, 2, 3, 6], each id once, in order.

    Parts that are not `N` or `N-M` in ASCII digits with N ≤ M are skipped, and ids from
    MAX_CPUS on are dropped: `0-99999999` reads as CPUs 0 to 4095, and a list repeating
    `0-4095` a million times costs one pass over it.
    """
    present = bytearray(MAX_CPUS)
    for part in (text or "").replace("\n", ",").split(","):
        match = _CPU_RANGE.fullmatch(part.strip())
        if not match:
            continue
        lo, hi = int(match.group(1)), int(match.group(2) or match.group(1))
        if lo <= hi and lo < MAX_CPUS:
            hi = min(hi, MAX_CPUS - 1)
            present[lo:hi + 1] = b"\x01" * (hi + 1 - lo)
    return [cpu for cpu, on in enumerate(present) if on]


def _hex(value: str | None) -> int | None:
    match = _HEX.fullmatch((value or "").strip())
    return int(match.group(1), 16) if match else None


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
class Battery:
    name: str
    status: str | None
    capacity_pct: int | None
    current_ua: int | None
    voltage_uv: int | None
    temp_c: float | None

    @property
    def power_w(self) -> float | None:
        """Instantaneous draw; drivers disagree on the sign of current, so take its size."""
        if self.current_ua is None or self.voltage_uv is None:
            return None
        return abs(self.current_ua) * 1e-6 * self.voltage_uv * 1e-6


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
        part = cpu_parts.lookup(_hex(block.get("CPU implementer")), _hex(block.get("CPU part")))
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


def _soc(props: dict[str, str], compatible: list[str], common: dict[str, str]) -> str | None:
    model = props.get("ro.soc.model")
    if model:
        name = _SOC_MODELS.get(model.upper())
        maker = props.get("ro.soc.manufacturer", "")
        return f"{name} ({model})" if name else f"{maker} {model}".strip()
    for key in ("ro.board.platform", "ro.hardware.chipname", "ro.chipname"):
        value = props.get(key)
        if value:
            name = _QCOM_PLATFORMS.get(value.lower()) or _SOC_MODELS.get(value.upper())
            return f"{name} ({value})" if name else value
    if compatible:
        return compatible[-1]
    return common.get("Hardware")


def read_thermal(tree: Tree) -> list[dict[str, Any]]:
    zones = []
    for entry in tree.listdir("/sys/class/thermal"):
        if not entry.startswith("thermal_zone"):
            continue
        base = f"/sys/class/thermal/{entry}"
        temp = tree.read_int(f"{base}/temp", ZONE_TEMP_RANGE)
        if temp is None:
            continue
        zone_type = tree.read(f"{base}/type") or entry
        # Most drivers report millidegrees; a few report whole degrees.
        zones.append({"zone": entry, "type": zone_type, "temp_c": temp / 1000 if abs(temp) > 200 else float(temp)})
    return zones


def cpu_temperature(zones: list[dict[str, Any]]) -> float | None:
    """The hottest CPU-looking zone (or the hottest zone when none is named like a CPU)."""
    cpu = [z["temp_c"] for z in zones if _CPU_ZONE.search(z["type"]) and -20 < z["temp_c"] < 150]
    pool = cpu or [z["temp_c"] for z in zones if -20 < z["temp_c"] < 150]
    return max(pool) if pool else None


def read_battery(tree: Tree) -> Battery | None:
    for entry in tree.listdir("/sys/class/power_supply"):
        base = f"/sys/class/power_supply/{entry}"
        if (tree.read(f"{base}/type") or "").lower() != "battery":
            continue
        temp = tree.read_int(f"{base}/temp", BATTERY_TEMP_RANGE)
        return Battery(
            name=entry,
            status=tree.read(f"{base}/status"),
            capacity_pct=tree.read_int(f"{base}/capacity", PERCENT_RANGE),
            current_ua=tree.read_int(f"{base}/current_now", BATTERY_UA_RANGE),
            voltage_uv=tree.read_int(f"{base}/voltage_now", BATTERY_UV_RANGE),
            temp_c=temp / 10 if temp is not None else None,
        )
    return None


def read_memory(tree: Tree) -> dict[str, int | None]:
    """Available RAM and swap now; bench samples this before and after each test."""
    mem = parse_meminfo(tree.read("/proc/meminfo"))
    available = mem.get("MemAvailable")
    if available is None and "MemFree" in mem:  # kernels before 3.14
        available = mem["MemFree"] + mem.get("Cached", 0) + mem.get("Buffers", 0)
    return {
        "ram_total": mem.get("MemTotal"),
        "ram_available": available,
        "swap_total": mem.get("SwapTotal"),
        "swap_free": mem.get("SwapFree"),
    }


def read_freq_caps(tree: Tree, cpus: list[int]) -> dict[int, int | None]:
    """The current frequency ceiling per core; thermal throttling lowers it below cpuinfo_max_freq."""
    return {cpu: tree.read_int(f"/sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_max_freq", KHZ_RANGE)
            for cpu in cpus}


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
    parts = [cpu_parts.lookup(_hex(b.get("CPU implementer")), _hex(b.get("CPU part"))) for b in blocks]
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
    soc = _soc(props, compatible, common) if (props or compatible or common.get("Hardware")) else None
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


def capture(dest: Path) -> list[str]:
    """Write the files the probes read on this machine under `dest`; return their paths.

    A capture is often made into a directory that holds an older one, or a tree unpacked
    from someone else's bug report: each file is written as a new one and renamed into place,
    and each directory on the way must be a real directory inside `dest`, so a symlink or
    hard link planted there is replaced, never written through.
    """
    from blossom_edge.base.atomic import atomic_write_bytes

    tree = Tree("/", live=True)
    probe(tree)
    for extra in ("scaling_max_freq",):
        for cpu in parse_cpu_list(tree.read("/sys/devices/system/cpu/present")):
            tree.read(f"/sys/devices/system/cpu/cpu{cpu}/cpufreq/{extra}")
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for rel, data in sorted(tree.read_paths.items()):
        parts = Path(rel.lstrip("/")).parts
        atomic_write_bytes(_capture_dir(dest, parts[:-1]) / parts[-1], data)
        written.append(rel)
    text = tree.getprop_text()
    if text:
        atomic_write_bytes(dest / GETPROP_FILE, text.encode("utf-8"))
        written.append(GETPROP_FILE)
    return written


def _capture_dir(dest: Path, parts: tuple[str, ...]) -> Path:
    """`dest/parts…`, made one level at a time; a level that is a symlink (leading outside the
    capture) or not a directory ends the capture in one line instead of being followed."""
    from blossom_edge.base.atomic import OutputBlockedError

    directory = dest
    for part in parts:
        directory = directory / part
        try:
            directory.mkdir()
        except FileExistsError:
            if not stat.S_ISDIR(directory.lstat().st_mode):
                raise OutputBlockedError(f"{directory} is not a directory of the capture (a link or a file); "
                                         f"capture into a new directory") from None
    return directory
