"""`ivr serve`: the web process in production, gunicorn with `ivr/gunicorn_conf.py`."""

from __future__ import annotations

import os
import sys

import click

GUNICORN_CONFIG = "python:ivr.gunicorn_conf"


def gunicorn_argv(bind: str | None, workers: int | None, check: bool) -> list[str]:
    """The command line `ivr serve` becomes."""
    argv = [sys.executable, "-m", "gunicorn", "--config", GUNICORN_CONFIG]
    if bind:
        argv += ["--bind", bind]
    if workers:
        argv += ["--workers", str(workers)]
    if check:
        argv.append("--check-config")
    return argv


@click.command("serve")
@click.option("--bind", default=None, help="host:port or unix:PATH to listen on (default WEB_BIND, 127.0.0.1:8000).")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Processes (default WEB_CONCURRENCY, else two per core plus one).")
@click.option("--check", is_flag=True, help="Check the settings, the YAML and the app, then exit.")
def serve_command(bind: str | None, workers: int | None, check: bool) -> None:
    """Run the web process with gunicorn (production); `ivr run` is the development server."""
    from config import ConfigError, SettingsError, load_contact_centre, load_settings

    try:
        settings = load_settings()
        load_contact_centre(settings.ivr_config)
    except (ConfigError, SettingsError) as exc:
        raise click.ClickException(f"cannot start: {exc}") from None
    sys.stdout.flush()
    # gunicorn takes this process's place: systemd and signals reach its master directly.
    os.execv(sys.executable, gunicorn_argv(bind, workers, check))  # noqa: S606 - our own interpreter, no shell
