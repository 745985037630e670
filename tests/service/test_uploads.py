"""Uploads stay in memory, whatever their size: Starlette's parser would spool those over 1 MB to disk."""

from __future__ import annotations

import tempfile

import numpy as np
import pytest
import starlette.formparsers
from PIL import Image

from tests.support.app import Service
from tests.support.images import encode, multipart

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
