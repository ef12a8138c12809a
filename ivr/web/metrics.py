"""The web process's Prometheus metrics: responses by endpoint and status, latency per endpoint.

Under gunicorn every worker process counts for itself; with PROMETHEUS_MULTIPROC_DIR set (the gunicorn
configuration sets it before any worker starts) prometheus-client writes each process's counts to files there,
and a scrape, whichever process answers it, adds up the files of all of them. Without it (development, tests) the
app's own registry is served.
"""

from __future__ import annotations

import os
import time

from flask import Flask, Response, g, request

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

    def init_app(self, app: Flask) -> None:
        """Time every request and count every response."""

        @app.before_request
        def _clock_in() -> None:
            g.metrics_started = time.perf_counter()

        @app.after_request
        def _clock_out(response: Response) -> Response:
            endpoint = request.endpoint or "unknown"
            self.responses.labels(endpoint, str(response.status_code)).inc()
            started = g.get("metrics_started")
            if started is not None:
                self.latency.labels(endpoint, request.method).observe(time.perf_counter() - started)
            return response
