"""Admission: who may wait for the model. Apart from the batching thread, which only takes what got in.

A request holds a place from the moment it is admitted (before its body is read) until the model takes it,
so the crowd between arrival and the model stays bounded by ``queue_size`` whether reading, decoding or
inference is the bottleneck. Nothing is admitted before :meth:`Admission.open` or after
:meth:`Admission.close` (shutdown), and every refusal is a 503 with Retry-After, counted by reason.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

from service.errors import DrainingError, QueueFullError, ServiceUnavailableError
from service.metrics import ServiceMetrics

T = TypeVar("T")


class Admission(Generic[T]):
    def __init__(self, jobs: queue.Queue[T | None], retry_after_s: int, metrics: ServiceMetrics) -> None:
        self._jobs = jobs
        self._retry_after_s = retry_after_s
        self._metrics = metrics
        self._lock = threading.Lock()
        self._open = False
        self._reading = 0

    @property
    def is_open(self) -> bool:
        return self._open

    @property
    def reading(self) -> int:
        """Requests admitted and not yet queued: their upload is being read or decoded."""
        return self._reading

    def open(self) -> None:
        with self._lock:
            self._open = True
        self._metrics.ready.set(1)

    def close(self) -> None:
        """Refuse new work from now on; what is queued still runs."""
        with self._lock:
            self._open = False
        self._metrics.ready.set(0)

    @contextmanager
    def admit(self) -> Iterator[None]:
        """Hold a place while the upload is read and decoded; 503 at once when none is free."""
        with self._lock:
            if not self._open:
                raise self._refusal("draining")
            if self._reading + self._jobs.qsize() >= self._jobs.maxsize:
                raise self._refusal("queue_full")
            self._reading += 1
        try:
            yield
        finally:
            with self._lock:
                self._reading -= 1

    def enqueue(self, job: T) -> None:
        # Under the lock, so no job can slip into the queue behind the stop marker.
        with self._lock:
            if not self._open:
                raise self._refusal("draining")
            try:
                self._jobs.put_nowait(job)
            except queue.Full:
                raise self._refusal("queue_full") from None

    def _refusal(self, reason: str) -> ServiceUnavailableError:
        self._metrics.rejected.labels(reason).inc()
        if reason == "draining":
            return DrainingError(
                "This instance is shutting down; retry on another.", retry_after_s=self._retry_after_s
            )
        return QueueFullError(
            f"All {self._jobs.maxsize} places in the inference queue are taken; retry after Retry-After.",
            retry_after_s=self._retry_after_s,
        )
