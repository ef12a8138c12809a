"""The worker's Prometheus metrics, served by `ivr worker` on its own port (WORKER_METRICS_PORT).

Read from what the worker already reports, without reaching into the dispatcher: each tick's `TickReport`, each
sweep's `SweepReport`, the time every job takes, and the provider's answers (`MeteredProvider` wraps the provider
the dispatcher dials through). Gauges of the store (agents free, callbacks due, promises at risk) are read from
the database at scrape time, so every worker reports the same truth.

The quote against each queue's SLA is not read at scrape time: it needs the capacity forecast, which the watchdog
already builds every round (`WATCHDOG_EVERY`, 30 s) to note quotes beyond the SLA, so the gauges are set from its
report at no extra cost. Quoting every queue takes 20-30 ms with 300 open callbacks and 10 agents (SQLite and
PostgreSQL): too much for every dispatch tick, nothing every 30 s.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

from callbacks.attempts import free_agents_query
from callbacks.clock import Clock
from callbacks.db import Database
from callbacks.guard import Breaker, breaker_state, count_dnc
from callbacks.models import DIALING, PENDING, Agent, Callback
from config.schema import ContactCentre
from telephony.provider import CallInfo, CallRequest, ProviderError

# Jobs are labelled `task`: Prometheus gives every scraped series a `job` label of its own (the scrape job).
# Seconds from when a callback was due to when its call was placed.
LATENESS_BUCKETS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
JOB_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass
class Dial:
    """One call the worker asked the provider to place, and what came of it."""

    kind: str  # "attempt" (a callback's attempt) or "agent_call" (an agent rung for a caller in a queue)
    ref: int | None  # the attempt's or agent call's id, from the URL the call will fetch
    outcome: str  # accepted, not_placed, permanent_error, unknown
    call_sid: str | None = None
    code: str | None = None
    at: datetime | None = None


def _outcome(exc: ProviderError) -> str:
    from telephony.provider import OutcomeUnknown, ProviderPermanentError

    if isinstance(exc, ProviderPermanentError):
        return "permanent_error"
    if isinstance(exc, OutcomeUnknown) or type(exc) is ProviderError:
        return "unknown"
    return "not_placed"


def _whose(request: CallRequest) -> tuple[str, int | None]:
    query = parse_qs(urlsplit(request.url).query)
    for key, kind in (("attempt", "attempt"), ("agent_call", "agent_call")):
        if query.get(key, [""])[0].isdecimal():
            return kind, int(query[key][0])
    return "other", None


class WorkerMetrics:
    """Every metric of one worker, in its own registry (what its /metrics serves)."""

    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.dispatch_lateness = Histogram(
            "ivr_dispatch_lateness_seconds", "How long after a callback was due its call was placed, by queue",
            ["queue"], buckets=LATENESS_BUCKETS, registry=r)
        self.claims = Counter(
            "ivr_dispatch_claims", "Work claimed: callback attempts, and agents rung for callers waiting in a queue",
            ["kind"], registry=r)
        self.calls_placed = Counter(
            "ivr_calls_placed", "Calls the worker asked the provider to place, by kind and outcome "
            "(accepted, not_placed, permanent_error, unknown)", ["kind", "outcome"], registry=r)
        self.provider_errors = Counter(
            "ivr_provider_errors", "Errors from the telephony provider, by operation and error code",
            ["operation", "code"], registry=r)
        self.leases_lost = Counter(
            "ivr_leases_lost", "Attempts whose lease ran out before their call was settled (the sweep asked the "
            "provider)", registry=r)
        self.claims_skipped = Counter(
            "ivr_dispatch_claims_skipped", "Claims not dialed: canceled meanwhile, or too late in their lease",
            registry=r)
        self.stray_calls = Counter(
            "ivr_stray_calls", "Calls placed for attempts that had ended meanwhile (canceled, never bridged)",
            registry=r)
        self.missed = Counter("ivr_watchdog_missed", "Callbacks the watchdog closed as missed", registry=r)
        self.flagged_at_risk = Counter("ivr_watchdog_flagged_at_risk", "Callbacks newly flagged at risk",
                                       registry=r)
        self.job_duration = Histogram(
            "ivr_worker_job_duration_seconds", "Time one run of a worker job takes (dispatch, sweep, watchdog, "
            "digest)", ["task"], buckets=JOB_BUCKETS, registry=r)
        self.job_failures = Counter("ivr_worker_job_failures", "Job runs that raised", ["task"], registry=r)
        self.quote = Gauge(
            "ivr_quote_seconds", "How far ahead a request made now is promised, by forecasting queue (the watchdog's "
            "last reading)", ["queue"], registry=r)
        self.quote_sla = Gauge(
            "ivr_quote_sla_seconds", "How far ahead the queue's SLA alone would promise a request made now "
            "(business hours counted)", ["queue"], registry=r)
        self.quote_over_sla = Gauge(
            "ivr_quote_over_sla_seconds", "How much later than its SLA a request made now is promised (0: at the "
            "SLA)", ["queue"], registry=r)
        self.quote_overloaded = Gauge(
            "ivr_quote_overloaded", "1 when the forecast is beyond the queue's ceiling and customers are told we "
            "are overloaded", ["queue"], registry=r)
        self.job_last_success = Gauge(
            "ivr_worker_job_last_success_timestamp_seconds", "When each job last ran to the end (Unix time)",
            ["task"], registry=r)

    # -- what the worker reports -----------------------------------------------------------------------------------
    def observe_tick(self, report: Any) -> None:
        """Count one dispatch round from its `TickReport`."""
        self.claims.labels("callback").inc(report.claimed)
        self.claims.labels("queue").inc(report.queue_claimed)
        self.claims_skipped.inc(report.skipped)
        self.stray_calls.inc(report.strays)

    def observe_sweep(self, report: Any) -> None:
        """Count one sweep from its `SweepReport`."""
        self.leases_lost.inc(report.settled + report.errors)

    def observe_watch(self, report: Any) -> None:
        """Count one watchdog round from its `WatchReport`, and gauge each queue's quote as that round saw it."""
        self.missed.inc(len(report.missed))
        self.flagged_at_risk.inc(len(report.at_risk))
        now = report.at
        for queue, quote in report.quotes.items():
            self.quote.labels(queue).set(max(0.0, (quote.deadline - now).total_seconds()))
            self.quote_sla.labels(queue).set(max(0.0, (quote.sla_deadline - now).total_seconds()))
            self.quote_over_sla.labels(queue).set(quote.beyond_sla.total_seconds())
            self.quote_overloaded.labels(queue).set(1 if quote.overloaded else 0)

    def observe_dials(self, dials: list[Dial], due: dict[int, tuple[str, datetime]]) -> None:
        """Count calls by outcome; `due`: (queue, when it was due) of the callback of each attempt id."""
        for dial in dials:
            self.calls_placed.labels(dial.kind, dial.outcome).inc()
            if dial.outcome == "accepted" and dial.ref in due and dial.at is not None:
                queue, due_at = due[dial.ref]
                self.dispatch_lateness.labels(queue).observe(max(0.0, (dial.at - due_at).total_seconds()))

    def timed(self, name: str, job: Callable[[], None], clock: Callable[[], float] = time.time) -> Callable[[], None]:
        """`job`, timed and counted (a failure is counted and raised again)."""

        def run() -> None:
            started = time.perf_counter()
            try:
                job()
            except Exception:
                self.job_failures.labels(name).inc()
                raise
            finally:
                self.job_duration.labels(name).observe(time.perf_counter() - started)
            self.job_last_success.labels(name).set(clock())

        run.__name__ = getattr(job, "__name__", name)
        return run

    def watch_store(self, db: Database, clock: Clock, centre: ContactCentre | None = None) -> None:
        """Add the gauges read from the database at each scrape (the caps' too, given the centre)."""
        self.registry.register(StoreGauges(db, clock))
        if centre is not None:
            self.registry.register(GuardGauges(db, clock, centre))


class StoreGauges:
    """Agents free, callbacks waiting to be dialed, promises at risk: read from the store at scrape time."""

    def __init__(self, db: Database, clock: Clock):
        self.db = db
        self.clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("ivr_worker_database_up", "1 when the worker's database answered this scrape")
        now = self.clock.now()
        try:
            with self.db.session() as session:
                free = session.scalar(select(func.count()).select_from(free_agents_query(now).subquery()))
                on_shift = session.scalar(select(func.count()).select_from(Agent).where(Agent.on_shift.is_(True)))
                due = session.execute(
                    select(Callback.queue, func.count(), func.min(Callback.next_attempt_at))
                    .where(Callback.status == PENDING, Callback.next_attempt_at <= now)
                    .group_by(Callback.queue)).all()
                at_risk = session.execute(
                    select(Callback.queue, func.count())
                    .where(Callback.status.in_((PENDING, DIALING)), Callback.at_risk_since.is_not(None))
                    .group_by(Callback.queue)).all()
        except Exception:  # a scrape must answer even when the database does not
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        agents_free = GaugeMetricFamily("ivr_agents_free", "Agents on shift, not on a call, past their wrap-up")
        agents_free.add_metric([], free or 0)
        agents_on_shift = GaugeMetricFamily("ivr_agents_on_shift", "Agents on shift")
        agents_on_shift.add_metric([], on_shift or 0)
        waiting = GaugeMetricFamily("ivr_callbacks_due", "Pending callbacks due for an attempt now, by queue",
                                    labels=["queue"])
        oldest = GaugeMetricFamily("ivr_callbacks_due_oldest_seconds",
                                   "How long the longest-waiting due callback has been due, by queue", labels=["queue"])
        for queue, count, first in due:
            waiting.add_metric([queue], count)
            oldest.add_metric([queue], max(0.0, (now - _aware(first)).total_seconds()))
        risky = GaugeMetricFamily("ivr_promises_at_risk", "Open callbacks whose promised time is at risk, by queue",
                                  labels=["queue"])
        for queue, count in at_risk:
            risky.add_metric([queue], count)
        yield from (up, agents_free, agents_on_shift, waiting, oldest, risky)


class GuardGauges:
    """The spending breaker and the do-not-call list, read from the store at scrape time."""

    def __init__(self, db: Database, clock: Clock, centre: ContactCentre):
        self.db = db
        self.clock = clock
        self.centre = centre

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            with self.db.session() as session:
                breaker = breaker_state(session, self.centre, self.clock.now())
                listed = count_dnc(session)
        except Exception:  # a scrape must answer even when the database does not (StoreGauges says it is down)
            return
        yield from guard_families(breaker, listed)


def guard_families(breaker: Breaker, listed: int) -> list[GaugeMetricFamily]:
    """The caps' gauges, the same in the worker's and the web process's /metrics."""
    dials = GaugeMetricFamily("ivr_dials_last_hour", "Callback attempts started in the last hour (all workers)")
    dials.add_metric([], breaker.dials_last_hour)
    cap = GaugeMetricFamily("ivr_dials_per_hour_cap", "The hourly cap on callback attempts (0: no cap)")
    cap.add_metric([], breaker.cap)
    tripped = GaugeMetricFamily("ivr_dial_breaker_open", "1 while the spending breaker has paused dispatch")
    tripped.add_metric([], 1 if breaker.is_open else 0)
    dnc = GaugeMetricFamily("ivr_do_not_call_numbers", "Numbers on the do-not-call list")
    dnc.add_metric([], listed)
    return [dials, cap, tripped, dnc]


def _aware(moment: datetime) -> datetime:
    from callbacks.clock import ensure_utc

    return ensure_utc(moment)


class MeteredProvider:
    """The worker's provider, counting errors by code and noting every call it is asked to place.

    Everything else is the wrapped provider's (its `name`, its `timeout`, which the dispatcher reads).
    """

    def __init__(self, provider: Any, metrics: WorkerMetrics, clock: Clock):
        self._provider = provider
        self._metrics = metrics
        self._clock = clock
        self.dials: list[Dial] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._provider, name)

    def take_dials(self) -> list[Dial]:
        """The calls asked for since the last time, oldest first."""
        dials, self.dials = self.dials, []
        return dials

    def _error(self, operation: str, exc: ProviderError) -> None:
        self._metrics.provider_errors.labels(operation, exc.code or (f"http_{exc.status}" if exc.status else "none")
                                             ).inc()

    def create_call(self, request: CallRequest) -> CallInfo:
        kind, ref = _whose(request)
        try:
            info = self._provider.create_call(request)
        except ProviderError as exc:
            self._error("create_call", exc)
            self.dials.append(Dial(kind, ref, _outcome(exc), code=exc.code, at=self._clock.now()))
            raise
        self.dials.append(Dial(kind, ref, "accepted", call_sid=info.sid, at=self._clock.now()))
        return info

    def _call(self, operation: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(self._provider, operation)(*args, **kwargs)
        except ProviderError as exc:
            self._error(operation, exc)
            raise

    def fetch_call(self, sid: str) -> CallInfo:
        return self._call("fetch_call", sid)

    def list_calls(self, **filters: Any) -> list[CallInfo]:
        return self._call("list_calls", **filters)

    def cancel_call(self, sid: str) -> CallInfo:
        return self._call("cancel_call", sid)

    def send_sms(self, **message: Any) -> str:
        return self._call("send_sms", **message)


def serve(metrics: WorkerMetrics, host: str, port: int) -> Any:
    """Serve /metrics on host:port in a background thread; returns the server (its `server_port` is the port)."""
    from prometheus_client import start_http_server

    server, _thread = start_http_server(port, addr=host, registry=metrics.registry)
    return server


__all__ = ["Dial", "MeteredProvider", "StoreGauges", "WorkerMetrics", "serve"]
