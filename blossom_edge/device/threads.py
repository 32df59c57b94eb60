"""How many threads to use, by what the work is: one default per meaning, and help text that says which.

Quantizing is embarrassingly parallel and the user is waiting for it, so it takes every
core. Running a model (bench, quality, verification's generation, the bandwidth probe) is a
sequence of synchronised steps: on big.LITTLE phones the little cores finish each step last
and drag all of them down, so inference takes the performance cores only.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from blossom_edge.device.probe import DeviceInfo

# What `--threads` help says each default is, beside the function that decides it.
ALL_CORES_HELP = "all cores"
PERFORMANCE_CORES_HELP = "the performance cores"


def all_cores() -> int:
    """For quantizing and converting."""
    return os.cpu_count() or 1


def performance_cores(info: DeviceInfo) -> int:
    """For running a model: the big cores the device probe found, else every core."""
    return max(1, info.default_threads or info.n_cores or 1)
