"""The bad-input corpus: each kind gets its documented status and problem+json; the service stays healthy."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from harness.live import LiveServer
from service.settings import Settings
from tests.support.app import Service, serve
from tests.support.images import png_bytes

from .answers import answer_errors, health_errors
from .config import API_KEY, CORPUS_LIMITS
from .corpus import BadInput, build_corpus
from .figures import record

pytestmark = pytest.mark.anyio

CORPUS = build_corpus()
MINIMUM_KINDS = 30


@pytest.fixture(scope="module")
async def keyed(make_settings: Callable[..., Settings]) -> AsyncIterator[Service]:
    """The app in-process, API keys on, with the limits the corpus expects."""
    async with serve(make_settings(api_keys=[API_KEY], **CORPUS_LIMITS)) as running:
        yield running


def server_errors(svc: Service) -> float:
    """5xx answers the app has counted so far (its own metrics)."""
    registry = svc.app.state.metrics.registry
    total = 0.0
    for metric in registry.collect():
        for sample in metric.samples:
            if sample.name == "cxr_http_requests_total" and sample.labels.get("status", "").startswith("5"):
                total += sample.value
    return total


@pytest.mark.parametrize("kind", CORPUS, ids=[kind.name for kind in CORPUS])
async def test_each_bad_input_gets_its_status_and_problem_body(keyed: Service, kind: BadInput) -> None:
    response = await kind.send(keyed.client)

    assert not answer_errors(response, kind), answer_errors(response, kind)


async def test_after_the_whole_corpus_the_service_is_healthy_and_answered_no_5xx(keyed: Service) -> None:
    wrong = {}
    for kind in CORPUS:
        errors = answer_errors(await kind.send(keyed.client), kind)
        if errors:
            wrong[kind.name] = errors

    health = await health_errors(keyed.client, png_bytes())

    assert len(CORPUS) >= MINIMUM_KINDS
    assert not wrong, wrong
    assert not health, health
    assert keyed.worker.queue_depth == 0
    assert server_errors(keyed) == 0
    refused = sum(1 for kind in CORPUS if kind.status != 200)
    record(
        "bad-input corpus (in-process)",
        f"{len(CORPUS)} kinds ({refused} errors, {len(CORPUS) - refused} odd "
        "but valid), all answered as expected; healthy after, no 5xx",
    )


async def test_the_corpus_over_a_real_socket_gets_the_same_answers(live_server: LiveServer) -> None:
    kinds = [kind for kind in CORPUS if kind.over_http]
    async with httpx.AsyncClient(base_url=live_server.url, timeout=60) as client:
        wrong = {}
        for kind in kinds:
            errors = answer_errors(await kind.send(client), kind)
            if errors:
                wrong[kind.name] = errors
        health = await health_errors(client, png_bytes())

    assert not wrong, wrong
    assert not health, health
    assert live_server.alive
    record("bad-input corpus (uvicorn, real socket)", f"{len(kinds)} kinds, all answered as expected")
