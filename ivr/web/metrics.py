"""The web process's Prometheus metrics: responses by endpoint and status, latency per endpoint.

Under gunicorn every worker process counts for itself; with PROMETHEUS_MULTIPROC_DIR set (the gunicorn
configuration sets it before any worker starts) prometheus-client writes each process's counts to files there,
and a scrape, whichever process answers it, adds up the files of all of them. Without it (development, tests) the
app's own registry is served.
"""

from __future__ import annotations

import os
import time
from typing import Any

from flask import Flask, Response

from ivr.web.current import current_request, request_globals

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Seconds. Twilio gives a webhook 15 s; the top buckets show how close the slowest come.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0)


def multiprocess_dir() -> str | None:
    """The folder shared by the processes of one gunicorn, when running under one."""
    return os.environ.get(MULTIPROC_ENV) or None


class WebMetrics:
    """The request metrics of one app, and the registry its /metrics serves (add the store's collectors to it)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        own = CollectorRegistry()
        self.responses = Counter("ivr_http_responses", "HTTP responses by endpoint and status",
                                 ["endpoint", "status"], registry=own)
        self.latency = Histogram("ivr_http_request_duration_seconds", "Time to answer a request, by endpoint",
                                 ["endpoint", "method"], buckets=LATENCY_BUCKETS, registry=own)
        if multiprocess_dir():
            from prometheus_client import multiprocess

            # Counts live in the shared files; this registry reads them all at each scrape.
            self.registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(self.registry)
        else:
            self.registry = own
        # Each (endpoint, status, method)'s two series, bound once: `labels()` checks and looks them up each time.
        self._series: dict[tuple[str, int, str], tuple[Any, Any]] = {}

    def _series_of(self, endpoint: str, status: int, method: str) -> tuple[Any, Any]:
        key = (endpoint, status, method)
        series = self._series.get(key)
        if series is None:
            series = (self.responses.labels(endpoint, str(status)), self.latency.labels(endpoint, method))
            self._series[key] = series
        return series

    def init_app(self, app: Flask) -> None:
        """Time every request and count every response."""

        @app.before_request
        def _clock_in() -> None:
            request_globals().metrics_started = time.perf_counter()

        @app.after_request
        def _clock_out(response: Response) -> Response:
            req = current_request()
            rule = req.url_rule
            count, latency = self._series_of(rule.endpoint if rule is not None else "unknown", response.status_code,
                                             req.method)
            count.inc()
            started = request_globals().get("metrics_started")
            if started is not None:
                latency.observe(time.perf_counter() - started)
            return response
