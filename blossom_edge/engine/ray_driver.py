"""Ray's notices about failed task attempts, kept off our stdout.

A Ray driver prints every error the cluster publishes for its job ("Task _step failed. There are 3
retries remaining, so the task will be retried. ...") on sys.stdout, from a thread `ray.init` starts
with no switch to stop it; `log_to_driver=False` silences the workers' output, not these. When a
worker or node dies mid-release they would land inside `release --json`'s document and among the
table's lines, while the table already counts each task's attempts. So, while the release runs, the
printer that thread calls (`ray._private.worker.print_to_stdstream`, a private function) passes the
raylet's notices to the debug log instead and everything else on unchanged.
Public replacement: a `ray.init` option that keeps cluster error messages off the driver's stdout.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_log = logging.getLogger(__name__)


@contextmanager
def cluster_notices_to_debug_log() -> Iterator[None]:
    """Inside the block, Ray's per-attempt failure notices go to the debug log, not stdout."""
    import ray._private.worker as ray_worker

    original = ray_worker.print_to_stdstream

    def printer(data: dict[str, Any], ignore_prefix: bool) -> None:
        if data.get("pid") == "raylet":
            for line in data.get("lines", []):
                _log.debug("ray: %s", line)
            return
        original(data, ignore_prefix)

    ray_worker.print_to_stdstream = printer
    try:
        yield
    finally:
        ray_worker.print_to_stdstream = original
