"""`ivr worker`: the callback worker process."""

from __future__ import annotations

import logging

import click

from callbacks.clock import SystemClock


@click.command("worker")
@click.option("--once", is_flag=True, help="Run every job once and exit (cron, smoke tests).")
@click.option("--id", "worker_id", default=None, help="Worker id (default host:pid:random).")
def worker_command(once: bool, worker_id: str | None) -> None:
    """Dial due callbacks before their deadlines, settle leases, watch deadlines, send alerts and digests."""
    from callbacks.db import Database
    from config import ConfigError, SettingsError, load_contact_centre, load_settings
    from scheduler.worker import Worker, WorkerRefused
    from telephony import ProviderNotAvailable, provider_for

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
        centre = load_contact_centre(settings.ivr_config)
        provider = provider_for(settings)
    except (ConfigError, SettingsError, ProviderNotAvailable) as exc:
        raise click.ClickException(f"cannot start the worker: {exc}") from None
    caller_id = settings.twilio_phone_number
    if settings.telephony_provider == "twilio" and not caller_id:
        raise click.ClickException("cannot start the worker: TWILIO_PHONE_NUMBER (our caller ID) is not set")
    db = Database(settings.resolved_database_url())
    worker = Worker(db, centre, provider, SystemClock(), base_url=settings.public_base_url, check_clock=True,
                    caller_id=caller_id or "+10000000000", worker_id=worker_id)
    try:
        if once:
            worker.register()
            try:
                worker.run_once()
            finally:
                worker.unregister()
        else:
            worker.run()
    except WorkerRefused as exc:
        raise click.ClickException(f"refusing to start: {exc}") from None
    finally:
        db.dispose()
