"""`ivr worker`: the callback worker process."""

from __future__ import annotations

import gc
import logging
from typing import TYPE_CHECKING

import click

from callbacks.clock import SystemClock

if TYPE_CHECKING:
    from callbacks.db import Database

log = logging.getLogger("ivr.worker")


@click.command("worker")
@click.option("--once", is_flag=True, help="Run every job once and exit (cron, smoke tests).")
@click.option("--id", "worker_id", default=None, help="Worker id (default host:pid:random).")
@click.option("--metrics-port", type=int, default=None,
              help="Serve Prometheus /metrics on this port (default WORKER_METRICS_PORT; 0: off).")
def worker_command(once: bool, worker_id: str | None, metrics_port: int | None) -> None:
    """Dial due callbacks before their deadlines, settle leases, watch deadlines, send alerts and digests."""
    from callbacks.db import Database
    from callbacks.logs import configure_logging
    from config import ConfigError, SettingsError, load_contact_centre, load_settings
    from scheduler.metrics import WorkerMetrics, serve
    from scheduler.worker import Worker, WorkerRefused
    from telephony import ProviderNotAvailable, provider_for

    try:
        settings = load_settings()
        configure_logging(settings.log_format, settings.log_level)
        centre = load_contact_centre(settings.ivr_config)
        provider = provider_for(settings)
    except (ConfigError, SettingsError, ProviderNotAvailable) as exc:
        raise click.ClickException(f"cannot start the worker: {exc}") from None
    caller_id = settings.twilio_phone_number
    if settings.telephony_provider == "twilio" and not caller_id:
        raise click.ClickException("cannot start the worker: TWILIO_PHONE_NUMBER (our caller ID) is not set")
    db = Database(settings.resolved_database_url())
    _refuse_an_old_schema(db)
    metrics = WorkerMetrics()
    port = settings.worker_metrics_port if metrics_port is None else metrics_port
    if port and not once:
        try:
            server = serve(metrics, settings.worker_metrics_host, port)
            log.info("worker metrics at http://%s:%d/metrics", settings.worker_metrics_host, server.server_port)
        except OSError as exc:
            # Dialing matters more than being watched: run on, and say loudly why there are no metrics.
            log.error("cannot serve worker metrics on %s:%d (%s); running without them",
                      settings.worker_metrics_host, port, exc)
    worker = Worker(db, centre, provider, SystemClock(), base_url=settings.public_base_url, check_clock=True,
                    metrics=metrics,
                    caller_id=caller_id or "+10000000000", worker_id=worker_id)
    try:
        if once:
            worker.register()
            try:
                worker.run_once()
            finally:
                worker.unregister()
        else:
            # Everything built so far lives as long as the process: frozen out of the garbage collector's view, so
            # its full collections walk what the jobs allocate, not the libraries and configuration.
            gc.collect()
            gc.freeze()
            worker.run()
    except WorkerRefused as exc:
        raise click.ClickException(f"refusing to start: {exc}") from None
    finally:
        db.dispose()


def _refuse_an_old_schema(db: Database) -> None:
    """A worker of this release on a schema of another would write rows it does not understand: stop, and say
    what to run. A database that does not answer yet is not a reason to stop (the jobs retry until it does)."""
    from callbacks.db import head_revision

    try:
        current = db.schema_revision()
    except Exception as exc:  # unreachable now: the timer's jobs will wait for it
        log.warning("cannot read the schema revision yet (%s); starting anyway", type(exc).__name__)
        return
    wanted = head_revision()
    if current != wanted:
        db.dispose()
        raise click.ClickException(
            f"cannot start the worker: the database schema is at {current or 'nothing'}, this release needs "
            f"{wanted}; run `ivr db upgrade` (the web's unit does it each time it starts)"
        )
