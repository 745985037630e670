"""/docs and /redoc are served with their scripts and styles from the service itself: no other host is
named in either page, every asset it names is there, and none needs an API key."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from html.parser import HTMLParser

import pytest

from service.settings import Settings
from tests.support.app import Service, serve

pytestmark = pytest.mark.anyio

KEY = "docs-test-key"


class _References(HTMLParser):
    """Every URL a page loads by itself: ``src`` and ``href`` attributes, and ReDoc's ``spec-url``."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href", "spec-url") and value]


def references(html: str) -> list[str]:
    parser = _References()
    parser.feed(html)
    return parser.urls


@pytest.fixture(scope="module")
async def keyed(make_settings: Callable[..., Settings]) -> AsyncIterator[Service]:
    async with serve(make_settings(api_keys=[KEY])) as running:
        yield running


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_docs_page_names_no_other_host_and_every_asset_it_names_is_served_without_a_key(
    keyed: Service, page: str
) -> None:
    response = await keyed.client.get(page)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    # The browser itself keeps the page on the service's origin (ReDoc's bundle names its vendor's CDN).
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "img-src 'self' data:" in policy and "https:" not in policy
    urls = references(response.text)
    assert urls, "the page loads nothing"
    assert all(url.startswith("/") and not url.startswith("//") for url in urls), urls
    assert "fonts.googleapis" not in response.text and "cdn.jsdelivr" not in response.text
    for url in urls:
        asset = await keyed.client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000, url


async def test_swagger_ui_is_told_not_to_call_the_online_validator(keyed: Service) -> None:
    html = (await keyed.client.get("/docs")).text

    assert '"validatorUrl": null' in html
