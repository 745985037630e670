"""Running the real app (lifespan included) in-process, and holding its worker still on demand."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
import anyio.to_thread
import httpx
import pytest
from fastapi import FastAPI

from service.main import create_app
from service.runner import Answer, ModelRunner, WorkItem
from service.settings import Settings
from service.worker import InferenceWorker


@dataclass
class Service:
    app: FastAPI
    client: httpx.AsyncClient

    @property
    def worker(self) -> InferenceWorker:
        worker: InferenceWorker = self.app.state.worker
        return worker

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        value = self.app.state.metrics.registry.get_sample_value(name, labels or {})
        return float(value or 0.0)


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[Service]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=30) as client:
            yield Service(app, client)


async def wait_until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await anyio.sleep(0.005)


class Gate:
    """Once armed, each batch the worker starts blocks until :meth:`release` (startup's warm-up does not)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._monkeypatch = monkeypatch
        self.entered = threading.Event()
        self.released = threading.Event()

    def arm(self) -> None:
        real = ModelRunner.run

        def gated(runner: ModelRunner, items: list[WorkItem], with_cam: list[bool]) -> list[Answer]:
            self.entered.set()
            if not self.released.wait(timeout=20):
                raise TimeoutError("gate never released")
            return real(runner, items, with_cam)

        self._monkeypatch.setattr(ModelRunner, "run", gated)

    async def wait_entered(self) -> None:
        if not await anyio.to_thread.run_sync(self.entered.wait, 5.0):
            raise AssertionError("the worker never started a batch")

    def release(self) -> None:
        self.released.set()
