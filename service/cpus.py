"""How many CPUs this process may use: its affinity, cut down to the container's CPU quota.

``sched_getaffinity`` counts the cores the scheduler may place us on; a container limited with a CPU
quota (``docker --cpus 1.5``, a Kubernetes CPU limit) still sees every core of the host there, and threads
sized to them would be throttled. The quota is cgroup v2's ``cpu.max``: ``"<quota> <period>"`` in
microseconds, or ``"max <period>"`` for none.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Final

logger = logging.getLogger(__name__)

CPU_MAX: Final = Path("/sys/fs/cgroup/cpu.max")


def available_cpus(cpu_max: Path | None = None) -> int:
    """The smaller of the affinity and the quota (rounded up: 1.5 CPUs is 2), at least 1."""
    affinity = len(os.sched_getaffinity(0))
    quota = cgroup_quota(cpu_max or CPU_MAX)
    return max(1, min(affinity, quota) if quota is not None else affinity)


def cgroup_quota(path: Path) -> int | None:
    """The CPU quota in ``path`` rounded up to whole CPUs; None when there is none or it cannot be read."""
    try:
        text = path.read_text()
    except OSError:
        return None
    fields = text.split()
    if len(fields) != 2 or fields[0] == "max":
        return None
    try:
        quota, period = int(fields[0]), int(fields[1])
    except ValueError:
        logger.warning("unreadable CPU quota in %s: %r", path, text.strip())
        return None
    if quota <= 0 or period <= 0:
        return None
    return math.ceil(quota / period)
