"""Where a running service's CPU goes: its model side or its request path, thread by thread.

Each thread's CPU time comes from ``/proc/PID/task/TID/stat``; which thread is which from
``py-spy dump`` (the benchmark's dev tools include it), which names every thread that runs Python. The
model side is the inference thread (``cxr-inference``) and every thread that never runs Python: ONNX
Runtime's pool threads, which the inference thread's forward passes use. The request path is everything
else: the event loop (HTTP, the route, JSON) and the worker threads that decode, preprocess and draw the
overlays. Threads that ended during a run count as request path (only the process's total keeps them).

Without py-spy, or where it may not attach to the process, there is no split (NaN).
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bench.resources import family, usage

MODEL_THREAD = "cxr-inference"
"""The inference worker's thread name (:mod:`service.worker`)."""

_THREAD_LINE = re.compile(r'^Thread (\d+) \([a-z]+\): "(.*)"', re.MULTILINE)


def py_spy() -> str | None:
    """The py-spy beside this interpreter, or on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def python_threads(pid: int) -> dict[int, str] | None:
    """Native thread id -> Python thread name for every thread that runs Python; None without py-spy."""
    tool = py_spy()
    if tool is None:
        return None
    try:
        dumped = subprocess.run(
            [tool, "dump", "--pid", str(pid)], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    names = {int(tid): name for tid, name in _THREAD_LINE.findall(dumped)}
    return names or None


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of each live thread of ``pid``."""
    ticks = os.sysconf("SC_CLK_TCK")
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        out[int(task.name)] = (int(fields[11]) + int(fields[12])) / ticks
    return out


@dataclass(frozen=True)
class Snapshot:
    """The service's processes' CPU now: their total and each thread's."""

    total_s: float
    threads: dict[int, dict[int, float]]
    """Process id -> thread id -> CPU seconds."""


def snapshot(members: Iterable[int]) -> Snapshot:
    """CPU now of the service's processes ``members`` (the keys of :func:`name_threads`)."""
    total = 0.0
    threads = {}
    for member in members:
        try:
            total += usage(member).cpu_s
            threads[member] = thread_cpu(member)
        except OSError:
            continue
    return Snapshot(total, threads)


def is_model_thread(tid: int, names: dict[int, str]) -> bool:
    return names.get(tid, MODEL_THREAD) == MODEL_THREAD


def name_threads(pid: int) -> dict[int, dict[int, str]] | None:
    """For each process of the service that runs the model, its Python threads' names; None when py-spy
    cannot tell (then there is no split)."""
    found: dict[int, dict[int, str]] = {}
    for member in family(pid):
        names = python_threads(member)
        if names is None:
            return None
        if MODEL_THREAD in names.values():  # a parent of several workers runs no model
            found[member] = names
    return found or None


def merge(first: dict[int, dict[int, str]], second: dict[int, dict[int, str]] | None) -> None:
    """Add the threads ``second`` names (Python threads started during a run) to ``first``."""
    for member, names in (second or {}).items():
        first.setdefault(member, {}).update(names)


@dataclass(frozen=True)
class CpuSplit:
    """CPU milliseconds per answered request, over one run."""

    model_ms: float
    request_path_ms: float

    @property
    def request_path_share(self) -> float:
        total = self.model_ms + self.request_path_ms
        return self.request_path_ms / total if total > 0 else math.nan

    @classmethod
    def of(
        cls, before: Snapshot, after: Snapshot, names: dict[int, dict[int, str]], requests: int
    ) -> CpuSplit:
        """Over the run between two snapshots; ``names`` as :func:`name_threads` (and :func:`merge`) left
        them after it, so that Python threads started during the run are known."""
        if requests <= 0:
            return UNSPLIT
        model = 0.0
        for member, threads in after.threads.items():
            earlier = before.threads.get(member, {})
            known = names.get(member, {})
            model += sum(
                cpu - earlier.get(tid, 0.0) for tid, cpu in threads.items() if is_model_thread(tid, known)
            )
        rest = (after.total_s - before.total_s) - model
        return cls(1000 * model / requests, 1000 * rest / requests)


UNSPLIT = CpuSplit(math.nan, math.nan)


def describe(splits: Iterable[tuple[str, CpuSplit]]) -> str:
    lines = ["service CPU per request (model side | request path; per-thread CPU, threads named by py-spy):"]
    for label, split in splits:
        if math.isnan(split.model_ms):
            lines.append(f"  {label}: no split (py-spy absent or not allowed to attach)")
            continue
        lines.append(
            f"  {label}: {split.model_ms:.2f} ms model | {split.request_path_ms:.2f} ms request path "
            f"({100 * split.request_path_share:.0f}% of the service's CPU)"
        )
    return "\n".join(lines)
