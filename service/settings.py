"""Configuration: every setting comes from an environment variable prefixed ``CXR_``.

An invalid value fails at startup with :class:`SettingsError`, whose message names the variable.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "CXR_"
_SECRET_FIELDS = frozenset({"api_keys"})


Port = Annotated[int, Field(ge=0, le=65535)]
"""A TCP port, from ``CXR_PORT`` or ``--port``: both are checked against this one definition."""


class SettingsError(ValueError):
    """One or more ``CXR_*`` values are invalid; the message lists each with the reason."""


def _split_list(value: Any) -> Any:
    """Accept ``a,b,c`` or a JSON list; environment variables cannot hold Python lists."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [item.strip() for item in text.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", frozen=True, validate_default=True
    )

    host: str = Field(default="127.0.0.1", description="Interface `python -m service` binds without --host.")
    port: Port = Field(
        default=8000,
        description="Port `python -m service` binds without --port; 0: a free port, chosen once and "
        "shared by every worker process.",
    )
    weights_path: Path = Field(
        default=Path("weights/cxr-paper-cnn.safetensors"),
        description="The safetensors weights file; a relative path is relative to the working directory.",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        default="auto",
        description="`auto` uses CUDA when available; `cuda` without a GPU is a startup error.",
    )
    engine: Literal["auto", "torch", "onnxruntime", "onnxruntime-int8"] = Field(
        default="auto",
        description="What runs the model: `auto` takes ONNX Runtime on the CPU (built at startup from the "
        "weights file; in int8 when the file carries an int8 calibration) and torch on CUDA. `onnxruntime` "
        "forces fp32; ONNX Runtime on CUDA, or `onnxruntime-int8` without a calibration, is a startup error.",
    )
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Server processes sharing the port, each with its own model: the request path's CPU "
        "work (reading, decoding, overlays, JSON) then runs on that many cores. /metrics answers for the "
        "process that takes the request; see docs/deploy.md.",
    )
    torch_threads: int = Field(
        default=0,
        ge=0,
        description="The model's intra-op threads (torch's or ONNX Runtime's), per process; 0: the engine's "
        "default with one process, the CPUs shared out evenly with several (the affinity's, or the "
        "container's CPU quota when that is smaller).",
    )
    max_batch_size: int = Field(default=8, ge=1, le=256, description="Most requests one forward pass serves.")
    max_wait_ms: float = Field(
        default=5.0, ge=0, le=10_000, description="How long the first request of a batch waits for others."
    )
    queue_size: int = Field(
        default=64,
        ge=1,
        le=100_000,
        description="Requests waiting for the model, including those still being read or decoded; beyond "
        "it 503.",
    )
    request_timeout_s: float = Field(
        default=30.0, gt=0, le=3600, description="Deadline from arrival; past it 504 and the work is dropped."
    )
    retry_after_s: int = Field(default=1, ge=1, le=3600, description="Retry-After sent with 503 responses.")
    drain_timeout_s: float = Field(
        default=30.0, ge=0, le=3600, description="On shutdown, how long in-flight and queued work may take."
    )
    max_body_bytes: int = Field(
        default=20 * 1024 * 1024,
        ge=1024,
        description="Largest request body in bytes (the default is 20 MiB); beyond it 413.",
    )
    max_pixels: int = Field(
        default=40_000_000,
        ge=1,
        description="Largest image (width x height), checked on the header before decoding and also bounding "
        "the image as scaled for the model; beyond it 413 (decompression bombs).",
    )
    min_side: int = Field(
        default=64, ge=1, description="Smallest accepted image side in pixels; below it 422."
    )
    decode_concurrency: int = Field(
        default=4,
        ge=1,
        le=256,
        description="Uploads decoded at once; bounds the memory full-size images take.",
    )
    overlay_max_side: int = Field(
        default=512,
        ge=16,
        le=8192,
        description="Longest side of the Grad-CAM overlay PNG (smaller images are not enlarged).",
    )
    reject_out_of_scope: bool = Field(
        default=False,
        description="Answer 422 out-of-scope instead of a prediction when the image is not a frontal chest "
        "X-ray; by default the prediction comes with assessment.in_scope=false.",
    )
    monitor_max_sites: int = Field(
        default=1000,
        ge=1,
        le=100_000,
        description="Sites whose recent answers the source-shift monitor keeps, each with its labels on "
        "/metrics; beyond it the least recently seen site is forgotten (its window starts again).",
    )
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated (or JSON list) API keys. When set, /predict, /model and /metrics need "
        "one; /healthz, /readyz, the docs (/docs, /openapi.json) and the web page (/, /static) stay public.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated (or JSON list) origins allowed by CORS; none by default.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Root log level."
    )

    @field_validator("api_keys", "cors_origins", mode="before")
    @classmethod
    def _parse_list(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("api_keys")
    @classmethod
    def _no_blank_keys(cls, value: list[SecretStr]) -> list[SecretStr]:
        if any(not key.get_secret_value().strip() for key in value):
            raise ValueError("API keys must not be blank")
        return value


def describe_validation_error(exc: ValidationError) -> str:
    """One line per invalid setting, naming the environment variable; secrets are never echoed."""
    lines = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "?"
        shown = "<hidden>" if field in _SECRET_FIELDS else repr(error.get("input"))
        lines.append(f"  {ENV_PREFIX}{field.upper()}={shown}: {error['msg']}")
    return "invalid configuration:\n" + "\n".join(lines)


def load_settings(**overrides: Any) -> Settings:
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(describe_validation_error(exc)) from None


@lru_cache(maxsize=1)
def settings_from_env() -> Settings:
    """The process's settings, read once from the ``CXR_*`` environment (cached).

    Only the entry points call it (``python -m service``, :func:`service.main.create_app` without
    settings). Routes take the settings the app was built with: ``service.deps.SettingsDep``.
    """
    return load_settings()
