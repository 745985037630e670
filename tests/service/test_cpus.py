"""The CPUs a process may use: its affinity, cut down to the container's CPU quota (cgroup v2 ``cpu.max``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from service import cpus
from service.device import model_threads

AFFINITY = set(range(8))


@pytest.fixture(autouse=True)
def eight_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: AFFINITY)


def cpu_max(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cpu.max"
    path.write_text(text + "\n")
    return path


@pytest.mark.parametrize(
    ("quota", "expected"),
    [
        ("150000 100000", 2),  # 1.5 CPUs, rounded up
        ("200000 100000", 2),
        ("50000 100000", 1),  # half a CPU is still one thread
        ("1000 100000", 1),
        ("1600000 100000", 8),  # a quota above the affinity: the affinity
        ("max 100000", 8),  # no quota
    ],
)
def test_the_cpu_count_is_the_smaller_of_the_affinity_and_the_quota(
    tmp_path: Path, quota: str, expected: int
) -> None:
    assert cpus.available_cpus(cpu_max(tmp_path, quota)) == expected


@pytest.mark.parametrize("text", ["", "garbage", "100000", "0 100000", "-5 100000", "150000 0"])
def test_an_unreadable_quota_leaves_the_affinity(tmp_path: Path, text: str) -> None:
    assert cpus.available_cpus(cpu_max(tmp_path, text)) == 8


def test_without_a_cgroup_file_the_affinity_counts(tmp_path: Path) -> None:
    assert cpus.available_cpus(tmp_path / "absent") == 8


def test_worker_processes_share_out_the_quota_not_the_affinity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cpus, "CPU_MAX", cpu_max(tmp_path, "400000 100000"))

    assert model_threads(0, 2) == 2
    assert model_threads(0, 8) == 1
    assert model_threads(0, 1) == 0
    assert model_threads(3, 2) == 3
