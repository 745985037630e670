"""JSON-lines logging, and the one declaration of the fields a log line may carry.

Only the fields declared in :data:`LOG_FIELDS` reach the output, so a careless ``extra={...}`` cannot leak
an upload's bytes, its file name or a DICOM header field (pydicom's own logger is silenced separately, by
:func:`ml.decoding.configure_pydicom`). A field whose source is :attr:`Source.REQUEST_STATE` is one a
route sets on ``request.state``; the access-log middleware copies those onto the request's log line.

To log a new field: declare it in :data:`LOG_FIELDS`, then set it (``request.state.<name> = ...`` in a
route, or ``extra={"<name>": ...}`` on a log call). Nothing else lists the fields.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Final, TextIO

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


class Source(Enum):
    ACCESS = "the access-log middleware"
    REQUEST_STATE = "the request's handling, on request.state"
    EVENT = "the log call's extra"


@dataclass(frozen=True)
class LogField:
    name: str
    source: Source
    meaning: str


LOG_FIELDS: Final[tuple[LogField, ...]] = (
    LogField("method", Source.ACCESS, "HTTP method."),
    LogField("route", Source.ACCESS, "The route template (never the raw path)."),
    LogField("status", Source.ACCESS, "HTTP status sent."),
    LogField("problem", Source.REQUEST_STATE, "The problem type of an error response, e.g. `queue-full`."),
    LogField("latency_ms", Source.ACCESS, "Arrival to the last byte sent."),
    LogField("request_bytes", Source.ACCESS, "Body bytes received."),
    LogField("response_bytes", Source.ACCESS, "Body bytes sent."),
    LogField("device", Source.REQUEST_STATE, "Where the model ran (`cpu`, `cuda`)."),
    LogField("image_kind", Source.REQUEST_STATE, "`png`, `jpeg` or `dicom`, as recognised from the bytes."),
    LogField("image_width", Source.REQUEST_STATE, "Decoded image width in pixels."),
    LogField("image_height", Source.REQUEST_STATE, "Decoded image height in pixels."),
    LogField("batch_size", Source.REQUEST_STATE, "Requests served by the same forward pass."),
    LogField("queue_ms", Source.REQUEST_STATE, "Time waiting for the model."),
    LogField("inference_ms", Source.REQUEST_STATE, "The forward pass (and Grad-CAM) of the batch."),
    LogField(
        "site",
        Source.REQUEST_STATE,
        "The site an answer was counted for: `X-CXR-Site`, the API key's identity or `default`.",
    ),
    LogField(
        "assessment",
        Source.REQUEST_STATE,
        "The input assessment's reason codes, comma-separated, e.g. `low_confidence`.",
    ),
    LogField("sha256", Source.EVENT, "SHA-256 of the weights file loaded."),
    LogField("engine", Source.EVENT, "What runs the model: `torch`, `onnxruntime` or `onnxruntime-int8`."),
    LogField("threads", Source.EVENT, "The model's intra-op threads; 0 is the engine's default."),
    LogField("load_s", Source.EVENT, "Seconds to load and warm up the model."),
    LogField("model_name", Source.EVENT, "The loaded model's name."),
    LogField("model_version", Source.EVENT, "The loaded model's version."),
    LogField("host", Source.EVENT, "Interface bound."),
    LogField("port", Source.EVENT, "Port bound."),
    LogField("error_type", Source.EVENT, "Class name of the exception behind an error line."),
    LogField("dropped", Source.EVENT, "Queued requests dropped at shutdown."),
    LogField("workers", Source.EVENT, "Server processes started (`CXR_WORKERS`)."),
    LogField("pid", Source.EVENT, "Process id of a server process."),
    LogField("exit_code", Source.EVENT, "How a server process ended."),
)

ALLOWED_FIELDS: Final = tuple(field.name for field in LOG_FIELDS)
"""Every name the formatter writes besides ts, level, logger, message, request_id and exception."""

REQUEST_STATE_FIELDS: Final = tuple(
    field.name for field in LOG_FIELDS if field.source is Source.REQUEST_STATE
)
"""The names the access-log middleware copies from ``request.state``."""

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
