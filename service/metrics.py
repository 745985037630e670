"""Prometheus metrics. Each app owns its registry, so tests and several apps in one process never collide."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)

from ml.model.assessment import Assessment

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BATCH_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 128, 256)


class ServiceMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "cxr_http_requests",
            "HTTP requests by route template and status.",
            ["method", "route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "cxr_http_request_duration_seconds",
            "Time from request to response.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge("cxr_inference_queue_depth", "Requests waiting for the model.", registry=r)
        self.batch_size = Histogram(
            "cxr_inference_batch_size",
            "Requests served by one forward pass.",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.inference_seconds = Histogram(
            "cxr_inference_batch_duration_seconds",
            "One batched forward pass and Grad-CAM.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_wait_seconds = Histogram(
            "cxr_inference_queue_wait_seconds",
            "Time a request waited for its batch to start.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.dropped = Counter(
            "cxr_inference_dropped",
            "Queued requests dropped before inference, by reason.",
            ["reason"],
            registry=r,
        )
        self.rejected = Counter(
            "cxr_inference_rejected",
            "Requests refused a place in the queue, by reason.",
            ["reason"],
            registry=r,
        )
        self.ready = Gauge(
            "cxr_ready", "1 when the model is loaded, warmed up and accepting work.", registry=r
        )
        self.model_info = Info("cxr_model", "The served model.", registry=r)
        self.assessments = Counter(
            "cxr_assessments",
            "Answers by input-assessment outcome: trusted, uncertain or out_of_scope.",
            ["outcome"],
            registry=r,
        )
        self.assessment_reasons = Counter(
            "cxr_assessment_reasons",
            "Input-assessment findings by stable reason code (an answer may have several).",
            ["reason"],
            registry=r,
        )
        self.site_statistic = Gauge(
            "cxr_source_shift_statistic",
            "The source-shift monitor's statistic per site: the mean familiarity of its last in-scope "
            "answers (about 0.5 at a familiar site; NaN until its window is full).",
            ["site"],
            registry=r,
        )
        self.site_alarm = Gauge(
            "cxr_source_shift_alarm",
            "1 while the site's recent films look unlike the training hospitals' (answers carry "
            "unfamiliar_source), else 0.",
            ["site"],
            registry=r,
        )
        self.sites_tracked = Gauge(
            "cxr_source_shift_sites", "Sites whose windows this process keeps.", registry=r
        )
        self.sites_forgotten = Counter(
            "cxr_source_shift_sites_forgotten",
            "Sites forgotten, least recently seen first, to keep at most CXR_MONITOR_MAX_SITES.",
            registry=r,
        )

    def observe_site(self, site: str, statistic: float | None, alarm: bool) -> None:
        self.site_statistic.labels(site).set(float("nan") if statistic is None else statistic)
        self.site_alarm.labels(site).set(1 if alarm else 0)

    def forget_site(self, site: str) -> None:
        for gauge in (self.site_statistic, self.site_alarm):
            with contextlib.suppress(KeyError):  # a site is labelled once its first answer is counted
                gauge.remove(site)
        self.sites_forgotten.inc()

    def track_sites(self, tracked: Callable[[], float]) -> None:
        self.sites_tracked.set_function(tracked)

    def observe_assessment(self, assessment: Assessment) -> None:
        outcome = (
            "out_of_scope" if not assessment.in_scope else "uncertain" if assessment.uncertain else "trusted"
        )
        self.assessments.labels(outcome).inc()
        for reason in assessment.reasons:
            self.assessment_reasons.labels(reason.value).inc()

    def track_queue_depth(self, depth: Callable[[], float]) -> None:
        self.queue_depth.set_function(depth)

    def render(self) -> bytes:
        return generate_latest(self.registry)
