"""The source-shift monitor in the service: one window of recent answers per site, bounded and thread-safe.

The statistic and its thresholds are the weights file's (:mod:`ml.model.monitor`). Here each site keeps a
:class:`~ml.model.monitor.SourceWindow` of its last in-scope answers; while a site's alarm is on, every
answer for it carries the reason ``unfamiliar_source`` (and an in-scope one is uncertain), until the
statistic clears.

A site is, from the first that applies: the ``X-CXR-Site`` header; the API key's identity when keys are
configured (a hash, never the key, :mod:`service.auth`); ``default``. At most ``max_sites`` windows are
kept: the least recently seen site is forgotten first, with its labels on ``/metrics``, so neither memory
nor the metrics grow with the number of names clients send. Windows start empty at start-up and live in
one process: with ``CXR_WORKERS`` > 1 each process keeps its own.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Final

from ml.model.assessment import Assessment, counted
from ml.model.monitor import MonitorConfig, SourceWindow, WindowState
from service.metrics import ServiceMetrics

SITE_HEADER: Final = "X-CXR-Site"
SITE_PATTERN: Final = r"^[A-Za-z0-9._-]{1,64}$"
DEFAULT_SITE: Final = "default"


def site_of(header: str | None, key_identity: str | None) -> str:
    """The site a request counts for; ``header`` has been checked against :data:`SITE_PATTERN`."""
    return header or key_identity or DEFAULT_SITE


class SiteMonitor:
    def __init__(self, config: MonitorConfig | None, max_sites: int, metrics: ServiceMetrics) -> None:
        """``config`` None: the weights carry no monitor, and answers pass through unchanged."""
        if max_sites < 1:
            raise ValueError("the monitor must be able to keep at least one site")
        self.config = config
        self.max_sites = max_sites
        self._metrics = metrics
        self._windows: OrderedDict[str, SourceWindow] = OrderedDict()
        self._lock = threading.Lock()
        metrics.track_sites(self.tracked)

    def tracked(self) -> int:
        return len(self._windows)

    def observe(self, site: str, assessment: Assessment) -> tuple[Assessment, WindowState | None]:
        """Count one answer for ``site``; returns the answer as the site's alarm leaves it, and the site's
        window after it (None without a monitor)."""
        if self.config is None:
            return assessment, None
        with self._lock:
            window = self._windows.pop(site, None)
            if window is None:
                window = SourceWindow(self.config)
                if len(self._windows) >= self.max_sites:
                    forgotten, _ = self._windows.popitem(last=False)
                    self._metrics.forget_site(forgotten)
            self._windows[site] = window
            assessment, state = counted(window, assessment)
            # Under the lock: an eviction elsewhere must not remove the labels set here.
            self._metrics.observe_site(site, state.statistic, state.alarm)
        return assessment, state
