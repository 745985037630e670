"""The browser page, served from ``service/static`` when that directory exists.

The page, its script and its styles are public (they hold no data); the page sends the API key with each
API call it makes. Neither route appears in the OpenAPI document.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


def mount_web(app: FastAPI, static_dir: Path = STATIC_DIR) -> None:
    """Serve ``index.html`` at ``/`` and the directory at ``/static``; nothing when they are absent."""
    if not static_dir.is_dir():
        return
    index = static_dir / "index.html"
    if index.is_file():

        @app.get("/", include_in_schema=False)
        async def index_page() -> FileResponse:
            return FileResponse(index, media_type="text/html")

    app.mount("/static", StaticFiles(directory=static_dir), name="static")
