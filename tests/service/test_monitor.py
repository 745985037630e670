"""The source-shift monitor through the API: sites, the alarm on every answer, /metrics, /model, bounds."""

from __future__ import annotations

import threading
import tracemalloc
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

from ml.model.assessment import Assessment
from ml.model.gate import Thresholds
from ml.model.monitor import MonitorConfig
from service.auth import key_identity
from service.metrics import ServiceMetrics
from service.settings import Settings
from service.sites import SiteMonitor
from tests.support.app import Service, serve
from tests.support.gate import ALARMED, REJECTING, TRUSTING, random_gate
from tests.support.images import multipart, png_bytes
from tests.support.weights import write_random_weights

pytestmark = pytest.mark.anyio


def _served(
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    monitor: MonitorConfig | None,
    thresholds: Thresholds = TRUSTING,
) -> AbstractAsyncContextManager[Service]:
    gate = random_gate(thresholds, monitor=monitor)
    path = write_random_weights(tmp_path / "monitored.safetensors", gate=gate)
    return serve(make_settings(weights_path=path))


@pytest.fixture
async def alarmed(tmp_path: Path, make_settings: Callable[..., Settings]) -> AsyncIterator[Service]:
    async with _served(tmp_path, make_settings, ALARMED) as running:
        yield running


async def _predict(svc: Service, site: str | None = None, **headers: str) -> dict:  # type: ignore[type-arg]
    if site is not None:
        headers["X-CXR-Site"] = site
    response = await svc.client.post("/predict", files=multipart(png_bytes()), headers=headers)
    assert response.status_code == 200, response.text
    body: dict = response.json()  # type: ignore[type-arg]
    return body


async def test_every_answer_after_the_alarm_is_uncertain_with_unfamiliar_source(alarmed: Service) -> None:
    bodies = [await _predict(alarmed, "ward-7") for _ in range(5)]

    reasons = [b["assessment"]["reasons"] for b in bodies]
    assert reasons == [[], [], [], ["unfamiliar_source"], ["unfamiliar_source"]]
    assert [b["assessment"]["uncertain"] for b in bodies] == [False, False, False, True, True]
    site = bodies[-1]["assessment"]["site"]
    assert (site["name"], site["answers"], site["window"], site["unfamiliar"]) == ("ward-7", 4, 4, True)
    assert bodies[0]["assessment"]["site"]["statistic"] is None
    assert alarmed.metric("cxr_assessment_reasons_total", {"reason": "unfamiliar_source"}) == 2


async def test_each_site_keeps_its_own_window(alarmed: Service) -> None:
    for _ in range(4):
        await _predict(alarmed, "busy")

    other = await _predict(alarmed, "quiet.site_2")

    assert other["assessment"]["reasons"] == []
    assert other["assessment"]["site"] == {
        "name": "quiet.site_2",
        "answers": 1,
        "window": 4,
        "statistic": None,
        "unfamiliar": False,
    }


@pytest.mark.parametrize("bad", ["", "two words", "x" * 65, "semi;colon", "ümlaut", "a/b"])
async def test_a_malformed_site_header_is_a_422_problem(alarmed: Service, bad: str) -> None:
    response = await alarmed.client.post(
        "/predict", files=multipart(png_bytes()), headers=[(b"X-CXR-Site", bad.encode())]
    )

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "urn:cxr-service:problem:invalid-request"
    assert "X-CXR-Site" in problem["detail"]


async def test_without_the_header_the_site_is_default(alarmed: Service) -> None:
    body = await _predict(alarmed)

    assert body["assessment"]["site"]["name"] == "default"


async def test_with_api_keys_the_site_is_the_keys_identity_never_the_key(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    path = write_random_weights(tmp_path / "w.safetensors", gate=random_gate(monitor=ALARMED))
    async with serve(make_settings(weights_path=path, api_keys="first-secret,second-secret")) as svc:
        body = await _predict(svc, **{"X-API-Key": "second-secret"})
        named = await _predict(svc, "ward-9", **{"X-API-Key": "second-secret"})
        metrics = (await svc.client.get("/metrics", headers={"X-API-Key": "first-secret"})).text

    assert body["assessment"]["site"]["name"] == key_identity("second-secret")
    assert key_identity("second-secret").startswith("key-") and "secret" not in key_identity("second-secret")
    assert named["assessment"]["site"]["name"] == "ward-9"
    assert f'site="{key_identity("second-secret")}"' in metrics and "second-secret" not in metrics


async def test_metrics_show_each_sites_statistic_and_alarm(alarmed: Service) -> None:
    for _ in range(4):
        await _predict(alarmed, "metered")

    statistic = alarmed.metric("cxr_source_shift_statistic", {"site": "metered"})
    assert 0.0 <= statistic <= 1.0
    assert alarmed.metric("cxr_source_shift_alarm", {"site": "metered"}) == 1.0
    assert alarmed.metric("cxr_source_shift_sites") >= 1


async def test_the_least_recently_seen_site_is_forgotten_with_its_labels(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    path = write_random_weights(tmp_path / "w.safetensors", gate=random_gate(monitor=ALARMED))
    async with serve(make_settings(weights_path=path, monitor_max_sites=3)) as svc:
        for site in ["a", "b", "c", "a", "d", "e"]:
            await _predict(svc, site)
        text = (await svc.client.get("/metrics")).text

    labelled = {
        line.split('site="')[1].split('"')[0]
        for line in text.splitlines()
        if "cxr_source_shift_alarm{" in line
    }
    assert labelled == {"a", "d", "e"}
    assert svc.metric("cxr_source_shift_sites") == 3
    assert svc.metric("cxr_source_shift_sites_forgotten_total") == 2


async def test_out_of_scope_answers_do_not_fill_the_window(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    async with _served(tmp_path, make_settings, ALARMED, REJECTING) as svc:
        bodies = [await _predict(svc, "scans") for _ in range(5)]

    assert all(not b["assessment"]["in_scope"] for b in bodies)
    assert all("unfamiliar_source" not in b["assessment"]["reasons"] for b in bodies)
    assert bodies[-1]["assessment"]["site"]["answers"] == 0


async def test_weights_without_a_monitor_answer_without_site_or_familiarity(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    async with _served(tmp_path, make_settings, None) as svc:
        body = await _predict(svc, "anywhere")
        model = (await svc.client.get("/model")).json()

    assert body["assessment"]["site"] is None
    assert body["assessment"]["scores"]["familiarity"] is None
    assert model["monitor"] is None


async def test_model_shows_the_monitors_window_and_thresholds(alarmed: Service) -> None:
    model = (await alarmed.client.get("/model")).json()

    assert model["monitor"] == {
        "window": 4,
        "alarm_below": 1.0,
        "clear_above": 1.0,
        "max_sites": 1000,
        "fitted": {"test": True},
    }


def _answer(familiarity: float) -> Assessment:
    scores: dict[str, float | None] = {"familiarity": familiarity}
    return Assessment(in_scope=True, uncertain=False, reasons=(), scores=scores)


def test_two_thousand_new_sites_stay_within_the_cap_and_little_memory() -> None:
    metrics = ServiceMetrics()
    monitor = SiteMonitor(MonitorConfig(window=16, alarm_below=0.3, clear_above=0.45), 1000, metrics)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for i in range(2000):
        monitor.observe(f"site-{i}", _answer(0.5))
    grown = sum(stat.size_diff for stat in tracemalloc.take_snapshot().compare_to(before, "filename"))
    tracemalloc.stop()

    assert monitor.tracked() == 1000
    labels = {s.labels["site"] for m in metrics.registry.collect() for s in m.samples if "site" in s.labels}
    assert len(labels) == 1000
    assert grown < 20 * 1024 * 1024


def test_concurrent_sites_keep_the_cap_and_their_labels_consistent() -> None:
    metrics = ServiceMetrics()
    monitor = SiteMonitor(MonitorConfig(window=4, alarm_below=0.3, clear_above=0.45), 8, metrics)

    def send(worker: int) -> None:
        for i in range(300):
            monitor.observe(f"s{(worker * 7 + i) % 20}", _answer(0.1))

    threads = [threading.Thread(target=send, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert monitor.tracked() == 8
    labelled = {
        m.name: {s.labels["site"] for s in m.samples}
        for m in metrics.registry.collect()
        if m.name in ("cxr_source_shift_alarm", "cxr_source_shift_statistic")
    }
    assert len(labelled["cxr_source_shift_alarm"]) == 8
    assert labelled["cxr_source_shift_alarm"] == labelled["cxr_source_shift_statistic"]
