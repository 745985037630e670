"""A tiny benchmark run against the real service as a subprocess: a few requests, every figure filled."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.ceiling import ceiling_table, run_ceiling, scaling_text
from bench.cpu_split import py_spy
from bench.drive import main as drive_main
from bench.e2e import Scenario, measure, run_scenario, start_service
from bench.inputs import load_pngs
from bench.loadgen import LoadSpec, StartGate, make_bodies, run_load_processes
from bench.paired import main as paired_main
from harness.live import LiveServer
from tests.support.weights import write_random_weights

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    weights = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    write_random_weights(weights)
    settings = {"device": "cpu", "weights_path": str(weights), "max_batch_size": "4", "torch_threads": "1"}
    with start_service(settings, startup_timeout_s=60) as running:
        yield running


@pytest.mark.parametrize("gradcam", [True, False])
def test_a_few_requests_give_a_complete_row(service: LiveServer, gradcam: bool) -> None:
    pngs, source = load_pngs(2, data_dir=None)
    assert "synthetic" in source
    spec = LoadSpec(concurrency=2, gradcam=gradcam, max_requests=3, max_seconds=30, headers=service.headers)
    scenario = Scenario("batching", {}, max_batch=4)

    row = measure(service, scenario, make_bodies(pngs), spec)

    assert (row.ok, row.errors) == (3, {})
    assert row.throughput > 0
    assert 0 < row.latency.p50_ms <= row.latency.p99_ms <= row.latency.max_ms
    assert row.peak_rss_mb > 50
    assert row.cpu_percent >= 0  # clock ticks: a few tiny requests may take less than one
    assert not math.isnan(row.foreign_cpu_percent)
    assert 1 <= row.model.batches <= 3
    assert 1 <= row.model.mean_batch <= 2
    if py_spy() is not None:  # the dev extra's: it names the threads, so the CPU splits
        assert row.cpu.model_ms >= 0 and row.cpu.request_path_ms >= 0


def test_refused_requests_are_counted_as_errors(service: LiveServer) -> None:
    pngs, _ = load_pngs(1, data_dir=None)
    wrong_key = {"X-API-Key": "wrong"}
    spec = LoadSpec(concurrency=1, gradcam=True, max_requests=2, max_seconds=30, headers=wrong_key)

    row = measure(service, Scenario("batching", {}, 4), make_bodies(pngs, multipart=False), spec)

    assert row.ok == 0
    assert row.errors == {"HTTP 401": 2}
    assert math.isnan(row.latency.p50_ms)


def test_a_service_that_cannot_start_is_reported_with_its_log(tmp_path: Path) -> None:
    missing = tmp_path / "missing.safetensors"
    with (
        pytest.raises(RuntimeError, match="exited") as failure,
        start_service({"weights_path": str(missing)}, startup_timeout_s=60),
    ):
        pass
    assert "missing.safetensors" in str(failure.value)


def test_clients_spread_over_processes_are_merged(service: LiveServer) -> None:
    pngs, _ = load_pngs(2, data_dir=None)
    spec = LoadSpec(concurrency=3, gradcam=False, max_requests=6, max_seconds=30, headers=service.headers)
    gate = StartGate()

    result = run_load_processes(service.url, make_bodies(pngs), spec, 2, gate, start_delay_s=3)

    assert gate.warm.is_set()
    assert (result.concurrency, result.ok, result.errors) == (3, 6, {})
    assert result.elapsed_s > 0


def test_the_null_model_ceiling_serves_every_request_with_one_and_two_processes(tmp_path: Path) -> None:
    weights = write_random_weights(tmp_path / "tiny.safetensors")
    pngs, _ = load_pngs(2, data_dir=None)

    rows = run_ceiling(weights, make_bodies(pngs), [1, 2], concurrency=2, max_requests=4, max_seconds=30)

    assert [(r.scenario, r.gradcam) for r in rows] == [
        ("null-model x1", True),
        ("null-model x1", False),
        ("null-model x2", True),
        ("null-model x2", False),
    ]
    assert all((r.ok, r.errors) == (4, {}) for r in rows)
    # The stub answers at once: the worker still times its batches, in microseconds.
    assert all(r.model.batches >= 1 and r.model.mean_batch_ms < 5 for r in rows)
    assert "null-model x2" in ceiling_table(rows)
    assert "null-model x2 / null-model x1" in scaling_text(rows)


def test_the_paper_style_peer_answers_with_an_overlay_and_no_model_side(tmp_path: Path) -> None:
    pytest.importorskip("flask", reason="the paper-style peer needs Flask (the dev extra)")
    weights = write_random_weights(tmp_path / "tiny.safetensors")
    pngs, _ = load_pngs(2, data_dir=None)
    peer = Scenario("peer", {"weights_path": str(weights)}, 1, module="bench.peer", metrics=False)

    rows = run_scenario(peer, make_bodies(pngs), [2], max_requests=3, max_seconds=30, progress=False)

    assert [(r.gradcam, r.ok, r.errors) for r in rows] == [(True, 3, {}), (False, 3, {})]
    assert all(math.isnan(r.model.mean_batch) and r.cpu_percent >= 0 for r in rows)


def test_driving_a_running_server_prints_its_throughput_and_memory(
    service: LiveServer, capsys: pytest.CaptureFixture[str]
) -> None:
    key = service.headers["X-API-Key"]
    args = ["--url", service.url, "--api-key", key, "--seconds", "1", "--pid", str(service.pid)]

    drive_main([*args, "--images", "2", "--concurrency", "2", "--data", "/nonexistent"])

    out = capsys.readouterr().out
    assert "errors 0" in out and "req/s" in out
    assert "VmHWM" in out and "RssAnon" in out


def test_two_services_are_driven_in_turn_and_compared(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    weights = write_random_weights(tmp_path / "tiny.safetensors")
    tree = str(Path(__file__).resolve().parents[2])  # A from an explicit checkout: this one

    a_side = ["--a-tree", tree, "--b-setting", "torch_threads=1", "--weights", str(weights)]
    load = [
        "--data",
        "/nonexistent",
        "--images",
        "2",
        "--concurrency",
        "2",
        "--seconds",
        "0.3",
        "--rounds",
        "2",
    ]

    drives = paired_main([*a_side, *load])

    assert [len(drives["A"]), len(drives["B"])] == [2, 2]
    assert all(d.throughput > 0 and d.errors == 0 for side in drives.values() for d in side)
    out = capsys.readouterr().out
    assert "round 1 B" in out and "B / A: median" in out and "'torch_threads': '1'" in out
