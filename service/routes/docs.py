"""The interactive API documentation, ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), with their scripts and
styles served by the service itself: on a hospital network without internet access they render too.

The assets are Swagger UI's and ReDoc's distribution bundles as the maintained ``fastapi-offline`` package
ships them; the pages are FastAPI's own, pointed at them, with no web fonts, no favicon from elsewhere and
no call to Swagger's online validator. A Content-Security-Policy keeps the browser on the service's own
origin: ReDoc's sidebar would otherwise load its vendor's logo from a CDN (and hides it when that fails).
Like the web page, the pages hold no data and need no API key.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Final

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL: Final = "/docs-assets"
ASSETS_DIR: Final = Path(str(files("fastapi_offline").joinpath("static")))
SWAGGER_UI_PARAMETERS: Final = {"validatorUrl": None}
"""Swagger UI would otherwise load a badge image from validator.swagger.io for any non-local address."""
CONTENT_SECURITY_POLICY: Final = "; ".join(
    (
        "default-src 'self'",
        # FastAPI's pages start the bundles with an inline script; both bundles inject inline styles.
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "worker-src 'self' blob:",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    )
)
"""Everything from the service's own origin (and inline or data: parts), nothing from anywhere else."""


def mount_docs(app: FastAPI, docs_url: str = "/docs", redoc_url: str = "/redoc") -> None:
    """Serve the assets at :data:`ASSETS_URL` and the two pages; the app must not add its own
    (``docs_url=None, redoc_url=None``)."""
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get(docs_url, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _own_origin_only(
            get_swagger_ui_html(
                openapi_url=root + openapi_url,
                title=f"{app.title} - Swagger UI",
                swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
                swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
                swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
                swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
            )
        )

    @app.get(redoc_url, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _own_origin_only(
            get_redoc_html(
                openapi_url=root + openapi_url,
                title=f"{app.title} - ReDoc",
                redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
                redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
                with_google_fonts=False,
            )
        )


def _own_origin_only(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return page
