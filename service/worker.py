"""The inference worker: one per process, one thread, dynamic micro-batching.

Requests wait in a bounded queue. The thread takes the first, then waits at most ``max_wait_ms`` for more,
up to ``max_batch_size``, and serves them with one call of :class:`service.runner.ModelRunner`: one
forward pass, one batched Grad-CAM and the input assessment. Only this thread touches the model, so no
lock guards it. Who may queue is :mod:`service.admission`'s business, not this thread's.

A request that was cancelled (deadline passed, client gone) before its batch started is dropped unseen.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field

from ml.model import WeightsMetadata
from service.admission import Admission
from service.errors import DeadlineExceededError, DrainingError
from service.metrics import ServiceMetrics
from service.runner import Answer, ModelRunner, WorkItem, load_runner
from service.settings import Settings

logger = logging.getLogger(__name__)

_ADMITTED_POLL_S = 0.001
"""While a batch waits for requests being decoded, how often it checks whether any is still on its way."""


@dataclass(frozen=True)
class Prediction(Answer):
    batch_size: int
    queue_s: float
    inference_s: float


@dataclass
class _Job:
    item: WorkItem
    with_cam: bool
    deadline: float
    enqueued: float = field(default_factory=time.monotonic)
    future: Future[Prediction] = field(default_factory=Future)


class InferenceWorker:
    def __init__(self, runner: ModelRunner, sha256: str, settings: Settings, metrics: ServiceMetrics) -> None:
        self.runner = runner
        self.sha256 = sha256
        self._metrics = metrics
        self._max_batch = settings.max_batch_size
        self._max_wait_s = settings.max_wait_ms / 1000
        self._queue: queue.Queue[_Job | None] = queue.Queue(maxsize=settings.queue_size)
        self.admission: Admission[_Job] = Admission(self._queue, settings.retry_after_s, metrics)
        self._thread: threading.Thread | None = None
        meta = runner.metadata
        metrics.track_queue_depth(self._queue.qsize)
        metrics.model_info.info(
            {
                "name": meta.name,
                "version": meta.version,
                "sha256": sha256,
                "device": runner.device,
                "engine": runner.engine.name,
                # With CXR_WORKERS > 1 each process has its own registry: this says which one answered.
                "pid": str(os.getpid()),
            }
        )

    @classmethod
    def load(cls, settings: Settings, metrics: ServiceMetrics) -> InferenceWorker:
        """Blocking: load and validate the weights, build the engine, warm up (:func:`load_runner`)."""
        runner, sha256 = load_runner(settings)
        return cls(runner, sha256, settings, metrics)

    @property
    def metadata(self) -> WeightsMetadata:
        return self.runner.metadata

    @property
    def device(self) -> str:
        return self.runner.device

    @property
    def accepting(self) -> bool:
        return self.admission.is_open

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def ready(self) -> bool:
        return self.accepting and self.running

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="cxr-inference", daemon=True)
        self._thread.start()
        self.admission.open()

    def begin_drain(self) -> None:
        """Refuse new work from now on; what is queued still runs."""
        self.admission.close()

    def stop(self, timeout_s: float) -> None:
        """Blocking: drain the queue, then end the thread; anything left after ``timeout_s`` fails."""
        self.begin_drain()
        until = time.monotonic() + timeout_s
        if self._thread is not None and self._thread.is_alive():
            try:
                self._queue.put(None, timeout=timeout_s)
                self._thread.join(max(0.0, until - time.monotonic()))
            except queue.Full:
                logger.error("the inference queue did not drain in time")
        dropped = 0
        while not self._queue.empty():
            job = self._queue.get_nowait()
            if job is not None and job.future.set_running_or_notify_cancel():
                job.future.set_exception(DrainingError("Shut down before this request ran.", retry_after_s=1))
                self._metrics.dropped.labels("shutdown").inc()
                dropped += 1
        logger.info("inference worker stopped", extra={"dropped": dropped})

    async def infer(self, item: WorkItem, *, with_cam: bool, deadline: float) -> Prediction:
        """Queue one preprocessed image; cancelling the caller drops the work."""
        job = _Job(item=item, with_cam=with_cam, deadline=deadline)
        self.admission.enqueue(job)
        future = asyncio.wrap_future(job.future)
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                return await future
        except TimeoutError:
            raise DeadlineExceededError(
                "No answer within the request deadline; the work was dropped."
            ) from None

    def _run(self) -> None:
        stopping = False
        while not stopping:
            job = self._queue.get()
            if job is None:
                break
            batch = [job]
            stopping = self._collect(batch)
            self._serve(batch)

    def _collect(self, batch: list[_Job]) -> bool:
        """Add queued jobs to ``batch`` until it is full or none is left; True when told to stop.

        With the queue empty it waits (at most ``max_wait_ms``) only while admitted requests are still being
        read or decoded: a lone request does not idle the model for company that is not coming.
        """
        until = time.monotonic() + self._max_wait_s
        while len(batch) < self._max_batch:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                remaining = until - time.monotonic()
                if remaining <= 0 or not self.admission.reading:
                    return False
                try:
                    job = self._queue.get(timeout=min(remaining, _ADMITTED_POLL_S))
                except queue.Empty:
                    continue
            if job is None:
                return True
            batch.append(job)
        return False

    def _serve(self, batch: list[_Job]) -> None:
        now = time.monotonic()
        live: list[_Job] = []
        for job in batch:
            if not job.future.set_running_or_notify_cancel():
                self._metrics.dropped.labels("cancelled").inc()
            elif job.deadline <= now:
                self._metrics.dropped.labels("deadline").inc()
                job.future.set_exception(
                    DeadlineExceededError("The request deadline passed while it was queued.")
                )
            else:
                live.append(job)
        if not live:
            return
        for job in live:
            self._metrics.queue_wait_seconds.observe(now - job.enqueued)
        self._resolve(live, now)

    def _resolve(self, jobs: list[_Job], started: float) -> None:
        """Run ``jobs`` as one batch and resolve their futures.

        When a batch fails, its requests are run again one at a time, so one bad item fails only its own
        request. A failure must fail requests (each answered 500 and logged there), never end the thread.
        """
        try:
            predictions = self._forward(jobs, started)
        except Exception as exc:
            if len(jobs) > 1:
                logger.warning(
                    "batch inference failed; serving its requests one at a time",
                    extra={"batch_size": len(jobs), "error_type": type(exc).__name__},
                )
                for job in jobs:
                    self._resolve([job], started)
                return
            logger.error("inference failed", exc_info=exc, extra={"batch_size": 1})
            jobs[0].future.set_exception(exc)
            return
        for job, prediction in zip(jobs, predictions, strict=True):
            job.future.set_result(prediction)

    def _forward(self, jobs: list[_Job], started: float) -> list[Prediction]:
        t0 = time.perf_counter()
        answers = self.runner.run([job.item for job in jobs], [job.with_cam for job in jobs])
        elapsed = time.perf_counter() - t0
        self._metrics.batch_size.observe(len(jobs))
        self._metrics.inference_seconds.observe(elapsed)
        return [
            Prediction(
                **vars(answer), batch_size=len(jobs), queue_s=started - job.enqueued, inference_s=elapsed
            )
            for job, answer in zip(jobs, answers, strict=True)
        ]
