"""Liveness, readiness and metrics.

/metrics, and /readyz's details (schema revision, spool backlog), are for the operator's monitoring only:
a bearer token (METRICS_TOKEN) or a client address in METRICS_ALLOW (loopback by default). A request that came
through a proxy we do not trust (X-Forwarded-For present, TRUSTED_PROXIES unset) is never "local": otherwise nginx
on this machine would make every visitor look like 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Iterator
from typing import TYPE_CHECKING

from flask import Blueprint, Flask, Response, jsonify, request
from sqlalchemy import text

from callbacks.db import head_revision
from config.settings import parse_networks
from ivr.runtime import runtime
from ivr.web.edge import UNTRUSTED_FORWARDING

if TYPE_CHECKING:
    from prometheus_client.core import Metric

bp = Blueprint("health", __name__)


def monitoring_allowed() -> bool:
    """The request may read metrics: the right bearer token, or an allowed address reached directly."""
    settings = runtime().settings
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if settings.metrics_token and scheme.lower() == "bearer":
        return secrets.compare_digest(token.strip().encode(), settings.metrics_token.encode())
    if request.environ.get(UNTRUSTED_FORWARDING):
        return False
    try:
        client = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    return any(client in network for network in parse_networks(settings.metrics_allow))


def _refused() -> Response:
    response = jsonify({"error": {"code": "forbidden", "message": "Metrics are for the operator's monitoring: "
                                                                    "send METRICS_TOKEN as a bearer token."}})
    response.status_code = 403
    return response


@bp.get("/healthz")
def healthz() -> Response:
    """The process is alive (says nothing about the database)."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Ready when the database answers and its schema is at our newest migration."""
    body, status = _readiness()
    if not monitoring_allowed():  # a load balancer needs only the status; the details are the operator's
        body = {"status": body["status"]}
    return jsonify(body), status


def _readiness() -> tuple[dict[str, object], int]:
    db = runtime().db
    spool = runtime().spool
    backlog = {"callback_spool_pending": spool.count()} if spool is not None else {}
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        current = db.schema_revision()
    except Exception as exc:  # any failure to reach the database means "not ready"
        return {"status": "unavailable", "database": f"unreachable: {type(exc).__name__}", **backlog}, 503
    expected = head_revision()
    if current != expected:
        return {"status": "unavailable", "database": "schema not current", "schema": current, "expected": expected}, 503
    return {"status": "ok", "database": "ok", "schema": current, **backlog}, 200


class _StoreCollector:
    """Gauges read from the store at scrape time (so every web process reports the same truth)."""

    def __init__(self, app: Flask):
        self.app = app

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily
        from sqlalchemy import func, select

        from callbacks.guard import breaker_state, count_dnc
        from callbacks.models import Callback

        rt = runtime(self.app)
        callbacks = GaugeMetricFamily("ivr_callbacks", "Callbacks by status and queue", labels=["status", "queue"])
        at_risk = GaugeMetricFamily("ivr_callbacks_at_risk", "Open callbacks flagged at risk")
        up = GaugeMetricFamily("ivr_database_up", "1 when the database answered this scrape")
        try:
            with rt.db.session() as session:
                rows = session.execute(
                    select(Callback.status, Callback.queue, func.count()).group_by(Callback.status, Callback.queue)
                ).all()
                risky = session.scalar(
                    select(func.count())
                    .select_from(Callback)
                    .where(Callback.status.in_(("pending", "dialing")), Callback.at_risk_since.is_not(None))
                )
                breaker = breaker_state(session, rt.centre, rt.clock.now())
                listed = count_dnc(session)
        except Exception:  # a scrape must answer even when the database does not
            up.add_metric([], 0)
            yield up
            return
        for status, queue, count in rows:
            callbacks.add_metric([status, queue], count)
        at_risk.add_metric([], risky or 0)
        up.add_metric([], 1)
        yield from (callbacks, at_risk, up)
        # The caps (`callbacks.guard`), named as the worker's /metrics names them.
        for name, about, value in (
            ("ivr_dials_last_hour", "Callback attempts started in the last hour (all workers)",
             breaker.dials_last_hour),
            ("ivr_dials_per_hour_cap", "The hourly cap on callback attempts (0: no cap)", breaker.cap),
            ("ivr_dial_breaker_open", "1 while the spending breaker has paused dispatch", int(breaker.is_open)),
            ("ivr_do_not_call_numbers", "Numbers on the do-not-call list", listed),
        ):
            family = GaugeMetricFamily(name, about)
            family.add_metric([], value)
            yield family


class _SpoolCollector:
    """Callback requests taken while the database was down: waiting on local disk, or rejected for a person."""

    def __init__(self, app: Flask):
        self.app = app

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        spool = runtime(self.app).spool
        if spool is None:
            return
        pending = GaugeMetricFamily("ivr_callback_spool_pending", "Spooled callback requests not yet in the database")
        pending.add_metric([], spool.count())
        rejected = GaugeMetricFamily("ivr_callback_spool_rejected", "Spooled callback requests that cannot be stored")
        rejected.add_metric([], len(spool.rejected()))
        yield from (pending, rejected)


@bp.get("/metrics")
def metrics() -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    if not monitoring_allowed():
        return _refused()
    registry = runtime().metrics_registry
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST.split(";")[0])


def init_app(app: Flask) -> None:
    from ivr.web.metrics import WebMetrics

    # Request counts and latencies of every web process (see ivr.web.metrics), and gauges read from the store.
    web_metrics = WebMetrics()
    registry = web_metrics.registry
    registry.register(_StoreCollector(app))
    registry.register(_SpoolCollector(app))
    web_metrics.init_app(app)
    runtime(app).metrics_registry = registry
    app.register_blueprint(bp)
