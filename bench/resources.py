"""Resource use: a process's CPU time and resident memory (psutil when installed, else /proc), its peak
RSS during a run, and how busy the whole machine was apart from our own processes (foreign load).
"""

from __future__ import annotations

import importlib
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def _optional_psutil() -> Any:
    """psutil when installed (it is optional: /proc gives the same figures on Linux), else None."""
    try:
        return importlib.import_module("psutil")
    except ImportError:
        return None


psutil = _optional_psutil()


@dataclass(frozen=True)
class Usage:
    """One process's CPU seconds and resident memory at an instant."""

    cpu_s: float
    rss_bytes: int


def usage(pid: int) -> Usage:
    if psutil is not None:
        proc = psutil.Process(pid)
        times = proc.cpu_times()
        return Usage(cpu_s=times.user + times.system, rss_bytes=proc.memory_info().rss)
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu_s = (int(stat[11]) + int(stat[12])) / ticks  # utime, stime (fields 14 and 15)
    rss_bytes = int(stat[21]) * os.sysconf("SC_PAGE_SIZE")  # rss in pages (field 24)
    return Usage(cpu_s=cpu_s, rss_bytes=rss_bytes)


def family(pid: int) -> list[int]:
    """``pid`` and its descendants now (a service with ``CXR_WORKERS`` > 1 is a parent and its workers)."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            children = [int(child) for child in task.read_text().split()]
        except (OSError, ValueError):
            continue
        for child in children:
            found += family(child)
    return found


def family_usage(pid: int) -> Usage:
    """CPU seconds and resident memory of ``pid`` and its live descendants, added up."""
    total = Usage(0.0, 0)
    for member in family(pid):
        try:
            one = usage(member)
        except (OSError, ProcessLookupError):
            continue
        total = Usage(total.cpu_s + one.cpu_s, total.rss_bytes + one.rss_bytes)
    return total


def reset_peak_rss(pid: int) -> bool:
    """Reset the kernel's high-water mark (Linux >= 4.0) so VmHWM covers only what follows."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def status_bytes(pid: int, names: Sequence[str]) -> dict[str, int]:
    """Those of ``/proc/PID/status``'s memory fields (``VmHWM``, ``RssAnon``...) that it has, in bytes;
    empty without /proc."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    fields = (line.partition(":") for line in lines)
    return {name: int(value.split()[0]) * 1024 for name, _, value in fields if name in names}


def peak_rss(pid: int) -> int | None:
    """VmHWM: peak resident set size since start or :func:`reset_peak_rss`; None without /proc."""
    return status_bytes(pid, ["VmHWM"]).get("VmHWM")


class RssWatcher:
    """Samples the resident set size of a process and its descendants while a run lasts; the kernel's
    VmHWM is preferred where it exists (for several processes, the sum of each one's peak)."""

    def __init__(self, pid: int, interval_s: float = 0.05) -> None:
        self.pid = pid
        self.interval_s = interval_s
        self.peak = 0
        self._members = family(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._hwm = all([reset_peak_rss(member) for member in self._members])

    def _sample(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.peak = max(self.peak, family_usage(self.pid).rss_bytes)

    def __enter__(self) -> RssWatcher:
        self.peak = family_usage(self.pid).rss_bytes
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        peaks = [peak_rss(member) for member in self._members] if self._hwm else []
        kernel = sum(peak or 0 for peak in peaks) if peaks and None not in peaks else 0
        self.peak = max(self.peak, kernel)


def system_busy_s() -> float:
    """CPU seconds all cores spent busy since boot (/proc/stat; NaN where it does not exist)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return float("nan")
    ticks = [int(value) for value in fields[:8]]
    idle = ticks[3] + ticks[4]  # idle, iowait
    return (sum(ticks) - idle) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuSnapshot:
    at: float
    system_busy_s: float
    ours_s: float


def cpu_snapshot(pids: Sequence[int]) -> CpuSnapshot:
    """The machine's busy CPU time and ours, now: ``pids`` (the service, this process) with their live
    descendants, and this process's children that have ended (load-generator processes)."""
    own = os.times()
    children = own.children_user + own.children_system
    members = {member for pid in pids for member in family(pid)}
    ours = 0.0
    for member in members:
        try:
            ours += usage(member).cpu_s
        except (OSError, ProcessLookupError):
            continue
    return CpuSnapshot(time.monotonic(), system_busy_s(), children + ours)


def foreign_percent(before: CpuSnapshot, after: CpuSnapshot) -> float:
    """CPU the rest of the machine used between the snapshots, in percent of one core (100 = a core).

    Anything well above 0 means other work competed with the measurement and its figures are low.
    """
    wall = after.at - before.at
    if wall <= 0:
        return float("nan")
    busy = after.system_busy_s - before.system_busy_s
    ours = after.ours_s - before.ours_s
    return 100 * max(0.0, busy - ours) / wall
