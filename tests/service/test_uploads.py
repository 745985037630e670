"""Uploads stay in memory, whatever their size: Starlette's parser would spool those over 1 MB to disk."""

from __future__ import annotations

import tempfile

import numpy as np
import pytest
import starlette.formparsers
from PIL import Image

from tests.support.app import Service
from tests.support.images import encode, multipart, png_bytes
from tests.support.problems import assert_problem

pytestmark = pytest.mark.anyio


async def test_a_large_multipart_upload_never_touches_the_disk(
    svc: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (1200, 1200), dtype=np.uint8)
    data = encode(Image.fromarray(noise), "PNG")
    assert len(data) > 1024 * 1024

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("an upload was written to a temporary file")

    for name in ("SpooledTemporaryFile", "TemporaryFile", "NamedTemporaryFile", "mkstemp", "mkdtemp"):
        monkeypatch.setattr(tempfile, name, forbidden)
    monkeypatch.setattr(starlette.formparsers, "SpooledTemporaryFile", forbidden)

    response = await svc.client.post("/predict", files=multipart(data))

    assert response.status_code == 200, response.text
    assert (response.json()["gradcam"]["width"], response.json()["gradcam"]["height"]) == (96, 96)


async def test_an_unparsable_content_type_is_named_invalid_not_missing(svc: Service) -> None:
    response = await svc.client.post("/predict", content=png_bytes(), headers={"content-type": ";;;"})

    assert_problem(response, 415, "unsupported-media-type")
    assert "not a valid media type" in response.json()["detail"]
    assert "missing" not in response.json()["detail"]


async def test_a_missing_content_type_is_named_missing(svc: Service) -> None:
    response = await svc.client.post("/predict", content=png_bytes())

    assert_problem(response, 415, "unsupported-media-type")
    assert "missing" in response.json()["detail"]
