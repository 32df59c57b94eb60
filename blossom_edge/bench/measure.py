"""What a test measures around itself: the device's state before and after, and timing statistics.

Shared by the llama.cpp benchmark and `bench --ollama`, so a throttled run or an energy
figure means the same in both.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from blossom_edge.device.sensors import cpu_temperature, read_battery, read_freq_caps, read_memory, read_thermal
from blossom_edge.device.tree import Tree

# A test that ends this hot, or with a lowered frequency cap, ran throttled.
THROTTLE_TEMP_C = 85.0


@dataclass
class Sample:
    """The device's state at one moment: memory, heat, clocks, battery draw."""

    ram_available: int | None
    swap_used: int | None
    temp_c: float | None
    caps: dict[int, int | None]
    power_w: float | None
    discharging: bool

    @classmethod
    def take(cls, tree: Tree, cores: list[int]) -> Sample:
        mem = read_memory(tree)
        swap_used = None
        if mem["swap_total"] is not None and mem["swap_free"] is not None:
            swap_used = mem["swap_total"] - mem["swap_free"]
        battery = read_battery(tree)
        return cls(
            ram_available=mem["ram_available"],
            swap_used=swap_used,
            temp_c=cpu_temperature(read_thermal(tree)),
            caps=read_freq_caps(tree, cores),
            power_w=battery.power_w if battery else None,
            discharging=bool(battery and (battery.status or "").lower() == "discharging"),
        )


def timing_stats(samples_ns: list[int], n_tokens: int) -> dict[str, Any]:
    """llama-bench's avg/stddev of nanoseconds and tokens/s, with the samples themselves."""
    ts = [1e9 * n_tokens / ns for ns in samples_ns]
    return {
        "avg_ns": int(statistics.fmean(samples_ns)),
        "stddev_ns": int(statistics.stdev(samples_ns)) if len(samples_ns) > 1 else 0,
        "avg_ts": statistics.fmean(ts),
        "stddev_ts": statistics.stdev(ts) if len(ts) > 1 else 0.0,
        "samples_ns": samples_ns,
        "samples_ts": ts,
    }


def throttled(before: Sample, after: Sample) -> bool:
    """A frequency cap that dropped during the test, or a CPU that ended it too hot."""
    capped = any(
        (before.caps.get(cpu) or 0) > (after.caps.get(cpu) or 0) > 0 for cpu in before.caps
    )
    return capped or (after.temp_c is not None and after.temp_c >= THROTTLE_TEMP_C)


def swap_growth(before: Sample, after: Sample) -> int | None:
    if before.swap_used is None or after.swap_used is None:
        return None
    return after.swap_used - before.swap_used
