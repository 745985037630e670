"""The report's arithmetic: percentiles, limits, targets, metric deltas, reruns. No service, no model."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from bench.e2e import Row
from bench.limit import bracket
from bench.loadgen import make_bodies
from bench.quiet import QuietPolicy, measure_quietly
from bench.report import attach_limits, concurrency_targets, limit_for, table, targets, targets_text
from bench.resources import family, family_usage, usage
from bench.scrape import model_side, parse_series, scrape_processes
from bench.stats import LatencySummary, ratio, summarize
from harness.stats import percentile
from service.upload import extract_image


@pytest.mark.parametrize("q", [0, 1, 25, 50, 95, 99, 100])
@pytest.mark.parametrize("n", [1, 2, 7, 100])
def test_percentile_matches_numpy_linear(q: float, n: int) -> None:
    values = list(np.random.default_rng(n).exponential(size=n))
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_percentile_of_nothing_is_nan_and_q_is_checked() -> None:
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_summary_is_in_milliseconds() -> None:
    summary = summarize([0.010, 0.020, 0.030, 0.040])
    assert summary.count == 4
    assert summary.mean_ms == pytest.approx(25.0)
    assert summary.p50_ms == pytest.approx(25.0)
    assert summary.max_ms == pytest.approx(40.0)
    assert math.isnan(summarize([]).p99_ms)
    assert math.isnan(ratio(1.0, 0.0))


LIMIT = [
    {"batch": 1, "gradcam": False, "images_per_s": 40.0, "batch_latency_ms_p50": 25.0},
    {"batch": 1, "gradcam": True, "images_per_s": 32.0, "batch_latency_ms_p50": 31.0},
    {"batch": 8, "gradcam": False, "images_per_s": 30.0, "batch_latency_ms_p50": 260.0},
    {"batch": 8, "gradcam": True, "images_per_s": 36.0, "batch_latency_ms_p50": 220.0},
]


def test_model_limit_is_the_best_batch_the_service_could_form() -> None:
    assert limit_for(LIMIT, gradcam=True, max_batch=8) == 36.0
    assert limit_for(LIMIT, gradcam=True, max_batch=1) == 32.0
    assert limit_for(LIMIT, gradcam=False, max_batch=8) == 40.0
    assert math.isnan(limit_for([], gradcam=True, max_batch=8))


def row(
    concurrency: int, throughput: float, p50_ms: float, gradcam: bool = True, scenario: str = "batching"
) -> Row:
    latency = LatencySummary(10, p50_ms, p50_ms, p50_ms, p50_ms, p50_ms)
    side = model_side(parse_series(""), parse_series(""), 1.0)
    return Row(scenario, 8, gradcam, concurrency, 10, {}, 1.0, throughput, latency, 150.0, 500.0, 0.0, side)


def test_targets_compare_best_concurrency_and_single_client_latency() -> None:
    rows = [row(1, 25.0, 38.0), row(4, 30.0, 120.0), row(16, 28.0, 500.0), row(4, 99.0, 9.0, gradcam=False)]
    attach_limits(rows, LIMIT)
    result = targets(rows, LIMIT, "batching")

    assert result["throughput"]["best_concurrency"] == 4
    assert result["throughput"]["ratio"] == pytest.approx(30.0 / 36.0)
    assert result["throughput"]["met"] is True
    assert result["p50_at_concurrency_1"]["ratio"] == pytest.approx(38.0 / 31.0)
    assert result["p50_at_concurrency_1"]["met"] is True
    assert table(rows).count("\n") == len(rows) + 1


def test_at_concurrency_4_the_service_is_held_to_the_eager_limit_and_four_times_the_peer() -> None:
    rows = [
        row(4, 37.0, 100.0),
        row(4, 50.0, 80.0, gradcam=False),
        row(4, 8.0, 500.0, scenario="peer"),
        row(1, 9.0, 110.0, scenario="peer"),
    ]
    attach_limits(rows, LIMIT)

    result = concurrency_targets(rows, "batching", "peer")

    assert result["vs_model_limit"]["ratio"] == pytest.approx(37.0 / 36.0)
    assert result["vs_model_limit"]["met"] is True
    assert result["vs_peer"]["ratio"] == pytest.approx(37.0 / 8.0)
    assert result["vs_peer"]["met"] is True
    assert "NOT met" not in targets_text({"scenario": "batching", "at_concurrency": result})
    slower_rows = [*rows[1:], row(4, 30.0, 120.0)]
    attach_limits(slower_rows, LIMIT)
    slower = concurrency_targets(slower_rows, "batching", "peer")
    assert slower["vs_model_limit"]["met"] is False
    assert slower["vs_peer"]["met"] is False
    assert "NOT met" in targets_text({"scenario": "batching", "at_concurrency": slower})
    assert "vs_peer" not in concurrency_targets(rows[:2], "batching", "peer")


def test_metric_deltas_give_batch_size_model_time_and_busy_share() -> None:
    before = parse_series("cxr_inference_batch_size_sum 10.0\ncxr_inference_batch_size_count 10.0\n")
    after = parse_series(
        "# HELP ignored\n"
        "cxr_inference_batch_size_sum 40.0\n"
        "cxr_inference_batch_size_count 20.0\n"
        'cxr_inference_batch_size_bucket{le="1.0"} 7.0\n'
        "cxr_inference_batch_duration_seconds_sum 1.5\n"
        "cxr_inference_queue_wait_seconds_sum 0.3\n"
        "cxr_inference_queue_wait_seconds_count 30.0\n"
    )
    side = model_side(before, after, elapsed_s=2.0)
    assert side.batches == 10
    assert side.mean_batch == pytest.approx(3.0)
    assert side.mean_batch_ms == pytest.approx(150.0)
    assert side.mean_queue_ms == pytest.approx(10.0)
    assert side.busy == pytest.approx(0.75)


def test_prebuilt_multipart_bodies_parse_as_the_service_parses_them() -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    (multipart,) = make_bodies([png])
    (raw,) = make_bodies([png], multipart=False)
    assert extract_image(multipart.content_type, multipart.content) == png
    assert extract_image(raw.content_type, raw.content) == png


def test_disturbed_measurements_are_rerun_and_the_quietest_kept() -> None:
    foreign = iter([80.0, 40.0, 5.0, 0.0])
    result, attempts = measure_quietly(
        lambda: next(foreign), lambda value: value, QuietPolicy(max_foreign_percent=15, pause_s=0)
    )
    assert (result, attempts) == (5.0, 3)
    stubborn = iter([90.0, 70.0, 95.0])
    result, attempts = measure_quietly(
        lambda: next(stubborn), lambda value: value, QuietPolicy(retries=2, pause_s=0)
    )
    assert (result, attempts) == (70.0, 3)


def test_the_limit_before_and_after_the_runs_is_averaged_and_both_kept() -> None:
    before = {"device": "cpu", "rows": [{**LIMIT[1], "foreign_cpu_percent": 1.0}]}
    after = {"device": "cpu", "rows": [{**LIMIT[1], "images_per_s": 28.0, "foreign_cpu_percent": 4.0}]}

    (merged,) = bracket(before, after)["rows"]

    assert merged["images_per_s"] == pytest.approx(30.0)
    assert (merged["images_per_s_before"], merged["images_per_s_after"]) == (32.0, 28.0)
    assert merged["foreign_cpu_percent"] == 4.0


def test_the_limit_divides_by_the_eager_model_and_other_engines_only_inform() -> None:
    faster: list[dict[str, Any]] = [
        {**r, "engine": "onnxruntime", "images_per_s": 2 * float(r["images_per_s"])} for r in LIMIT
    ]
    rows = [*LIMIT, *faster]

    assert limit_for(rows, gradcam=True, max_batch=8) == 36.0
    assert limit_for(rows, gradcam=True, max_batch=8, engine="onnxruntime") == 72.0


def test_scrapes_are_repeated_until_every_process_answered_and_their_series_added() -> None:
    def text(pid: int, batches: int) -> str:
        return (
            f'cxr_model_info{{engine="onnxruntime",pid="{pid}"}} 1.0\n'
            f"cxr_inference_batch_size_count {batches}.0\n"
        )

    answers = iter([text(11, 3), text(11, 3), text(11, 3), text(12, 5)])
    summed = scrape_processes(lambda: next(answers), processes=2)

    assert summed["cxr_inference_batch_size_count"] == 8.0
    with pytest.raises(RuntimeError, match="1 of 2 processes"):
        scrape_processes(lambda: text(11, 3), processes=2, attempts=5)


def test_a_process_family_is_the_process_and_its_live_children() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        members = family(os.getpid())
        together = family_usage(os.getpid())
    finally:
        child.kill()
        child.wait()

    assert members[0] == os.getpid() and child.pid in members
    assert together.rss_bytes > usage(os.getpid()).rss_bytes
