"""The service's own model side as the benchmark's yardstick; its CPU split into model and request path."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bench.cpu_split import MODEL_THREAD, CpuSplit, Snapshot, describe, name_threads, py_spy
from bench.e2e import Row
from bench.inputs import load_pngs
from bench.loadgen import make_bodies
from bench.report import attach_runner_limit, concurrency_targets, targets_text
from bench.runner_limit import bracket, bracket_text, build, limit_of, measure_runner
from bench.runner_limit import main as runner_limit_main
from bench.scrape import model_side, parse_series
from bench.stats import LatencySummary
from service.settings import Settings
from tests.support.weights import write_random_weights


def runner_rows(*images_per_s: float) -> dict[str, object]:
    rows = [
        {"batch": b, "images_per_s": ips, "batch_latency_ms_p50": 10.0, "cpu_ms_per_image": 5.0}
        for b, ips in enumerate(images_per_s, start=1)
    ]
    return {"engine": "onnxruntime-int8", "rows": [{**r, "foreign_cpu_percent": 0.0} for r in rows]}


def row(throughput: float, max_batch: int = 8, gradcam: bool = True) -> Row:
    latency = LatencySummary(10, 50.0, 50.0, 50.0, 50.0, 50.0)
    side = model_side(parse_series(""), parse_series(""), 1.0)
    return Row("batching", max_batch, gradcam, 4, 10, {}, 1.0, throughput, latency, 150.0, 300.0, 0.0, side)


def test_the_runner_limit_is_the_mean_of_the_best_batch_before_and_the_best_after() -> None:
    before, after = runner_rows(100.0, 80.0, 90.0), runner_rows(70.0, 80.0, 94.0)

    limit = bracket(before, after)

    assert limit["images_per_s"] == pytest.approx((100.0 + 94.0) / 2)
    assert (limit["best_batch_before"], limit["best_batch_after"]) == (1, 3)
    assert [r["images_per_s"] for r in limit["rows"]] == pytest.approx([85.0, 80.0, 92.0])
    assert "97.0 images/s" in bracket_text(limit)
    assert limit_of(limit) == pytest.approx(97.0)
    assert limit_of(before) == 100.0
    assert math.isnan(limit_of(None))


def test_grad_cam_rows_are_divided_by_the_runner_limit_and_held_to_85_percent() -> None:
    limit = bracket(runner_rows(100.0, 80.0), runner_rows(90.0, 80.0))
    rows = [row(80.0), row(99.0, gradcam=False), row(50.0, max_batch=1)]

    attach_runner_limit(rows, limit)

    assert rows[0].ratio_to_runner == pytest.approx(80.0 / 95.0)
    assert math.isnan(rows[1].ratio_to_runner)  # the runner is measured with Grad-CAM on
    assert rows[2].runner_limit_images_per_s == pytest.approx(95.0)  # batch 1's mean: what it can form
    result = concurrency_targets(rows[:1], "batching", "peer")
    assert result["vs_runner_limit"]["met"] is False
    assert "0.84 x the runner's own limit 95.0 (target >= 0.85): NOT met" in targets_text(
        {"scenario": "batching", "at_concurrency": result}
    )


def test_the_split_counts_the_inference_thread_and_threads_without_python_as_the_model() -> None:
    names = {10: {10: "MainThread", 11: "AnyIO worker thread", 12: MODEL_THREAD, 20: "AnyIO worker thread"}}
    before = Snapshot(total_s=10.0, threads={10: {10: 1.0, 11: 2.0, 12: 3.0, 13: 4.0}})
    # 13 runs no Python (an ONNX Runtime pool thread); 20 was started during the run.
    after = Snapshot(total_s=14.0, threads={10: {10: 1.5, 11: 2.5, 12: 4.0, 13: 5.5, 20: 0.5}})

    split = CpuSplit.of(before, after, names, requests=100)

    assert split.model_ms == pytest.approx(1000 * 2.5 / 100)
    assert split.request_path_ms == pytest.approx(1000 * 1.5 / 100)
    assert split.request_path_share == pytest.approx(1.5 / 4.0)
    assert "25.00 ms model | 15.00 ms request path (38%" in describe([("c=4", split)])
    assert math.isnan(CpuSplit.of(before, after, names, requests=0).model_ms)


def test_py_spy_names_the_threads_of_a_running_process() -> None:
    if py_spy() is None:
        pytest.skip("py-spy is not installed (the dev extra has it)")
    code = textwrap.dedent(f"""
        import threading, time
        threading.Thread(target=time.sleep, args=(60,), name="{MODEL_THREAD}", daemon=True).start()
        print("ready", flush=True)
        time.sleep(60)
    """)
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        time.sleep(0.2)
        names = name_threads(child.pid)
    finally:
        child.kill()
        child.wait()
    if names is None:
        pytest.skip("py-spy may not attach to another process here (ptrace not allowed)")
    assert sorted(names[child.pid].values()) == ["MainThread", MODEL_THREAD]


def test_the_runner_is_timed_as_the_service_builds_it_at_every_batch_size(tmp_path: Path) -> None:
    weights = write_random_weights(tmp_path / "tiny.safetensors")
    pngs, _ = load_pngs(3, data_dir=None)
    runner, items = build(Settings(weights_path=weights, device="cpu"), make_bodies(pngs))

    limit = measure_runner(runner, items, [1, 2], seconds=0.05)

    assert limit["engine"] == str(runner.engine.name)
    assert [r["batch"] for r in limit["rows"]] == [1, 2]
    assert all(
        r["images_per_s"] > 0 and r["iterations"] >= 3 and r["cpu_ms_per_image"] >= 0 for r in limit["rows"]
    )


def test_the_runner_is_timed_with_and_without_its_input_assessment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    weights = write_random_weights(tmp_path / "tiny.safetensors")
    args = ["--weights", str(weights), "--data", "/nonexistent", "--images", "2", "--max-batch-size", "2"]

    limit = runner_limit_main([*args, "--seconds", "0.05", "--without-gate"])

    assert [r["batch"] for r in limit["rows"]] == [1, 2]
    out = capsys.readouterr().out
    assert "the gate costs ms" in out and out.count("\n") >= 4
