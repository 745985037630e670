"""API keys: off by default; when set, everything but the probes (and the page's static files) needs one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from service.settings import Settings
from tests.support.app import Service, serve
from tests.support.images import multipart, png_bytes

pytestmark = pytest.mark.anyio

KEYS = ["first-key-0123456789", "second-key-9876543210"]


@pytest.fixture(scope="module")
async def keyed(make_settings: Callable[..., Settings]) -> AsyncIterator[Service]:
    async with serve(make_settings(api_keys=KEYS)) as running:
        yield running


async def test_without_keys_configured_every_endpoint_is_open(svc: Service) -> None:
    assert (await svc.client.post("/predict", files=multipart(png_bytes()))).status_code == 200
    assert (await svc.client.get("/model")).status_code == 200
    assert (await svc.client.get("/metrics")).status_code == 200


@pytest.mark.parametrize(("method", "path"), [("POST", "/predict"), ("GET", "/model"), ("GET", "/metrics")])
async def test_protected_endpoints_answer_401_without_a_key(keyed: Service, method: str, path: str) -> None:
    response = await keyed.client.request(method, path)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == "application/problem+json"
    assert "Authorization: Bearer" in response.json()["detail"]


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer wrong-key-0123456789"},
        {"X-API-Key": "first-key-012345678"},
        {"Authorization": "Basic Zmlyc3Qta2V5LTAxMjM0NTY3ODk="},
        {"Authorization": f"Token {KEYS[0]}"},
    ],
    ids=["wrong-bearer", "prefix-of-a-key", "basic-auth", "other-scheme"],
)
async def test_wrong_keys_are_401(keyed: Service, headers: dict[str, str]) -> None:
    response = await keyed.client.get("/model", headers=headers)

    assert response.status_code == 401


@pytest.mark.parametrize(
    "headers",
    [{"Authorization": f"Bearer {KEYS[0]}"}, {"X-API-Key": KEYS[1]}, {"authorization": f"bearer {KEYS[1]}"}],
    ids=["bearer", "x-api-key", "lowercase-scheme"],
)
async def test_any_configured_key_in_either_header_is_accepted(
    keyed: Service, headers: dict[str, str]
) -> None:
    predicted = await keyed.client.post("/predict", headers=headers, files=multipart(png_bytes()))
    model = await keyed.client.get("/model", headers=headers)
    metrics = await keyed.client.get("/metrics", headers=headers)

    assert (predicted.status_code, model.status_code, metrics.status_code) == (200, 200, 200)


async def test_probes_and_docs_need_no_key(keyed: Service) -> None:
    for path in ("/healthz", "/readyz", "/openapi.json", "/docs"):
        assert (await keyed.client.get(path)).status_code == 200, path


async def test_an_unauthorised_upload_never_reaches_the_model(keyed: Service) -> None:
    batches = keyed.metric("cxr_inference_batch_size_count")

    response = await keyed.client.post("/predict", files=multipart(png_bytes()))

    assert response.status_code == 401
    assert keyed.metric("cxr_inference_batch_size_count") == batches
