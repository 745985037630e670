"""JSON-lines logging.

Only an allow-list of ``extra`` fields reaches the output, so a careless ``extra={...}`` cannot leak an
upload's bytes, its file name or a DICOM header field (pydicom's own logger is silenced separately, by
:func:`service.dicom.configure_pydicom`).
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Final, TextIO

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

ALLOWED_FIELDS: Final[tuple[str, ...]] = (
    "method",
    "route",
    "status",
    "problem",
    "latency_ms",
    "request_bytes",
    "response_bytes",
    "device",
    "image_kind",
    "image_width",
    "image_height",
    "batch_size",
    "queue_ms",
    "inference_ms",
    "sha256",
    "load_s",
    "model_name",
    "model_version",
    "host",
    "port",
    "error_type",
    "dropped",
)

_HANDLER_MARK = "_cxr_json_handler"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for name in ALLOWED_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(level: str = "INFO", stream: TextIO | None = None) -> None:
    """Install the JSON handler on the root logger; calling it again only updates the level."""
    root = logging.getLogger()
    root.setLevel(level)
    if not any(getattr(handler, _HANDLER_MARK, False) for handler in root.handlers):
        handler = logging.StreamHandler(stream or sys.stdout)
        handler.setFormatter(JsonFormatter())
        setattr(handler, _HANDLER_MARK, True)
        root.addHandler(handler)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    # The multipart parser logs offsets and byte values of malformed bodies and, when it spools, file
    # names: request content, which never reaches our logs. Its failures surface as our own 400s.
    for name in ("python_multipart", "multipart"):
        quiet = logging.getLogger(name)
        quiet.handlers.clear()
        quiet.addHandler(logging.NullHandler())
        quiet.propagate = False
