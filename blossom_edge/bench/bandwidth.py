"""The device's achievable memory bandwidth, the ceiling on generation speed.

Decoding one token reads every weight once, so tokens/s can never beat bandwidth ÷ model
bytes. We time large array copies on the performance cores (numpy releases the GIL while
copying, so threads run in parallel) and keep the best pass; the figure counts bytes read
plus bytes written, as STREAM's copy does. Measured once per device and cached in the
results store.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from blossom_edge.device.probe import DeviceInfo

MiB = 1024 * 1024


def measure(threads: int, size_bytes: int = 256 * MiB, passes: int = 5) -> float:
    """Copy bandwidth in bytes/s using `threads` threads over two buffers of `size_bytes` each."""
    import numpy as np

    threads = max(1, threads)
    n = max(size_bytes // 8, threads * 1024)
    src = np.ones(n, dtype=np.float64)
    dst = np.zeros_like(src)
    bounds = [(i * n // threads, (i + 1) * n // threads) for i in range(threads)]

    def copy(span: tuple[int, int]) -> None:
        np.copyto(dst[span[0]:span[1]], src[span[0]:span[1]])

    best = float("inf")
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(copy, bounds))  # fault the pages in before timing
        for _ in range(passes):
            start = time.perf_counter()
            list(pool.map(copy, bounds))
            best = min(best, time.perf_counter() - start)
    return 2 * src.nbytes / best


def device_bandwidth(device_id: str, threads: int, available_ram: int | None, refresh: bool = False,
                     note: Callable[[str], None] = lambda _msg: None) -> float:
    """The cached figure for this device, measuring it first if there is none; `note` hears of a
    measurement (a few seconds on a phone), and only then."""
    from blossom_edge.bench.store import ResultsStore

    with ResultsStore() as store:
        cached = None if refresh else store.bandwidth(device_id)
        if cached:
            return cached
        # Two buffers must stay well inside free RAM on a phone.
        size = 256 * MiB if not available_ram else max(16 * MiB, min(256 * MiB, available_ram // 8))
        note("measuring memory bandwidth (once per device)")
        value = measure(threads, size)
        store.set_bandwidth(device_id, value, threads)
        return value


def bandwidth_for(info: DeviceInfo, *, given_gbs: float | None, cached: float | None = None,
                  this_machine: bool = True, note: Callable[[str], None] = lambda _msg: None) -> float | None:
    """The bandwidth ceiling to report against: given (GB/s), else cached, else measured once.

    Only the machine we run on is measured: a captured device (`--device-root`) gets None
    rather than this machine's figure stored under its id.
    """
    from blossom_edge.device.threads import performance_cores

    if given_gbs is not None:
        return given_gbs * 1e9
    if cached is not None:
        return cached
    if not this_machine:
        return None
    return device_bandwidth(info.device_id, performance_cores(info), info.ram_available, note=note)
