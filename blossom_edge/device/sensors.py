"""What changes while a model runs: free RAM and swap, temperatures, battery draw, clock ceilings.

The probe reports these once; bench samples them before and after each test, which is why
they read through a `Tree` on their own rather than only as part of a probe. Each reading
is bounded by what the field can physically be, in the units the kernel writes it: a
-10^20 °C zone is unknown, not a number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from blossom_edge.device.procfs import parse_meminfo
from blossom_edge.device.tree import Tree

KHZ_RANGE = (1, 100_000_000)  # up to 100 GHz
ZONE_TEMP_RANGE = (-273_150, 1_000_000)  # millidegrees (or whole degrees) Celsius
BATTERY_TEMP_RANGE = (-2_731, 10_000)  # tenths of a degree Celsius
BATTERY_UA_RANGE = (-100_000_000, 100_000_000)  # ±100 A
BATTERY_UV_RANGE = (0, 100_000_000)  # 100 V
PERCENT_RANGE = (0, 100)
_CPU_ZONE = re.compile(r"cpu|soc|x86_pkg|tsens|core|bigcore|little|package|ap-therm|mtktscpu", re.IGNORECASE)


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
