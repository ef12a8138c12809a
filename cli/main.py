"""The `ivr` command: web, worker, database, configuration, keys, agents, reports (plus Flask's own commands)."""

from __future__ import annotations

import csv
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from flask.cli import FlaskGroup

from callbacks.errors import CallbackError
from config import ConfigError, SettingsError, load_contact_centre, load_settings
from ivr.runtime import runtime


def _create_app() -> Any:
    from ivr.app import create_app

    try:
        return create_app()
    except (ConfigError, SettingsError) as exc:
        raise click.ClickException(f"cannot start: {exc}") from None


@click.group(cls=FlaskGroup, create_app=_create_app, add_version_option=False, load_dotenv=False)
def cli() -> None:
    """A phone support line that never traps a caller and never forgets a callback."""




# -- database ----------------------------------------------------------------------------------------------------
@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="heads", show_default=True)
def db_upgrade(revision: str) -> None:
    """Create or migrate the schema to the newest version (safe to repeat)."""
    from callbacks.db import upgrade

    settings = load_settings()
    upgrade(settings.resolved_database_url(), revision)
    click.echo(f"database at {revision} ({_safe_url(settings.resolved_database_url())})")


@db.command("current")
def db_current() -> None:
    """Print the schema revision the database is at."""
    from callbacks.db import Database, migrations_head

    database = Database(load_settings().resolved_database_url())
    click.echo(f"current: {database.schema_revision()}  newest: {migrations_head()}")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# -- configuration -----------------------------------------------------------------------------------------------
@cli.group("config")
def config_group() -> None:
    """The contact-centre YAML."""


@config_group.command("check")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
def config_check(path: Path | None) -> None:
    """Validate the contact-centre YAML (default: IVR_CONFIG) and print every problem."""
    try:
        path = path or load_settings().ivr_config
        centre = load_contact_centre(path)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    except ConfigError as exc:
        click.echo(f"{exc.file}: {len(exc.problems)} problem(s)", err=True)
        for problem in exc.problems:
            click.echo("  " + problem.render(exc.file), err=True)
        sys.exit(1)
    click.echo(
        f"{path}: OK ({len(centre.queues)} queues, languages {', '.join(centre.languages)}, timezone {centre.timezone})"
    )


# -- API keys ----------------------------------------------------------------------------------------------------
@cli.group("api-key")
def api_key() -> None:
    """Keys for the JSON API (only their hashes are stored)."""


@api_key.command("create")
@click.argument("name")
@click.option("--verifies-numbers", is_flag=True,
              help="For a partner who proves the customer owns the number: its requests skip the SMS code of "
                   "queues with 'verify: sms'.")
@click.option("--scope", type=click.Choice(["own", "all"]), default="own", show_default=True,
              help="own: the key sees and cancels only the callbacks requested with it; all: every callback")
def api_key_create(name: str, verifies_numbers: bool, scope: str) -> None:
    """Create a key and print it once."""
    from callbacks.apikeys import create_api_key

    rt = runtime()
    try:
        key = create_api_key(rt.db, name, rt.clock.now(), scope=scope, verifies_numbers=verifies_numbers)
    except CallbackError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(key)
    click.echo(f"API key {name!r} created (scope {scope}); it is shown only now, store it safely.", err=True)


@api_key.command("revoke")
@click.argument("name")
def api_key_revoke(name: str) -> None:
    """Revoke a key by name."""
    from callbacks.apikeys import revoke_api_key

    rt = runtime()
    if not revoke_api_key(rt.db, name, rt.clock.now()):
        raise click.ClickException(f"no active API key named {name!r}")
    click.echo(f"API key {name!r} revoked")


# -- agents ------------------------------------------------------------------------------------------------------
@cli.group()
def agent() -> None:
    """Agents who take calls."""


@agent.command("add")
@click.argument("name")
@click.argument("phone")
@click.option("--queue", "queues", multiple=True, help="Queue served (repeat; default all)")
def agent_add(name: str, phone: str, queues: tuple[str, ...]) -> None:
    """Add an agent on PHONE, on shift from now."""
    from callbacks.agents import add_agent

    rt = runtime()
    unknown = [q for q in queues if q not in rt.centre.queues]
    if unknown:
        raise click.ClickException(f"unknown queues {unknown}; expected some of {sorted(rt.centre.queues)}")
    try:
        added = add_agent(rt.db, name, phone, rt.clock.now(), rt.centre.phone_numbers.default_region, list(queues))
    except CallbackError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"agent {added.name} ({added.phone}) added, on shift")


def _shift(name: str, on: bool) -> None:
    from callbacks.agents import set_shift

    rt = runtime()
    try:
        changed = set_shift(rt.db, name, on, rt.clock.now())
    except CallbackError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"agent {changed.name} is {'on' if on else 'off'} shift")


@agent.command("on")
@click.argument("name")
def agent_on(name: str) -> None:
    """Put an agent on shift."""
    _shift(name, True)


@agent.command("off")
@click.argument("name")
def agent_off(name: str) -> None:
    """Take an agent off shift."""
    _shift(name, False)


@agent.command("shift")
@click.argument("name")
@click.argument("starts")
@click.argument("ends")
def agent_shift(name: str, starts: str, ends: str) -> None:
    """Plan a shift ahead for NAME, from STARTS to ENDS (local times such as 2026-11-23T14:00): the capacity forecast
    then counts the agent only in planned shifts."""
    from datetime import datetime

    from callbacks.capacity import plan_shift

    rt = runtime()
    moments = []
    for label, text in (("STARTS", starts), ("ENDS", ends)):
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise click.BadParameter(f"expected a time such as 2026-11-23T14:00, got {text!r}",
                                     param_hint=label) from None
        moments.append(moment if moment.tzinfo else moment.replace(tzinfo=rt.centre.zone))
    try:
        shift = plan_shift(rt.db, name, moments[0], moments[1], rt.clock.now())
    except CallbackError as exc:
        raise click.ClickException(exc.message) from None
    zone = rt.centre.zone
    click.echo(f"agent {name}: shift planned {shift.starts_at.astimezone(zone):%Y-%m-%d %H:%M} to "
               f"{shift.ends_at.astimezone(zone):%Y-%m-%d %H:%M} ({rt.centre.timezone})")


@agent.command("list")
def agent_list() -> None:
    """List agents."""
    from callbacks.agents import list_agents

    for a in list_agents(runtime().db):
        click.echo(f"{a.name:20} {a.phone:16} {'on shift' if a.on_shift else 'off shift'}")


# -- reports -----------------------------------------------------------------------------------------------------
@cli.group()
def report() -> None:
    """Reports for supervisors."""


def _local_time(value: str | None, zone: Any) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date or time such as 2026-11-01 or 2026-11-01T08:00") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)


@report.command("missed")
@click.option("--since", help="Start (date or time; the centre's timezone unless an offset is given)")
@click.option("--until", help="End, exclusive")
@click.option("--queue", default=None)
@click.option("--reason", default=None, help="Only rows whose reason contains this text")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
def report_missed(since: str | None, until: str | None, queue: str | None, reason: str | None, fmt: str) -> None:
    """Missed callbacks with their reasons."""
    from callbacks.reports import MISSED_COLUMNS, missed_rows

    rt = runtime()
    rows = missed_rows(
        rt.db,
        since=_local_time(since, rt.centre.zone),
        until=_local_time(until, rt.centre.zone),
        queue=queue,
        reason=reason,
    )
    if fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=MISSED_COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
    elif fmt == "json":
        click.echo(json.dumps(list(rows), ensure_ascii=False, indent=2))
    else:
        count = 0
        click.echo(f"{'reference':10} {'queue':10} {'phone':15} {'deadline (UTC)':21} {'tries':5} reason")
        for row in rows:
            count += 1
            click.echo(
                f"{row['reference']:10} {row['queue']:10} {row['phone']:15} {row['deadline_at']:21} "
                f"{row['attempts_made']:<5} {row['reason'] or ''}"
            )
        click.echo(f"{count} missed callback(s)")


def _area_commands() -> None:
    """The other rooms of the command: the worker, prompts, supervisors, spool, the simulator's demo and call."""
    from cli.dnc import dnc_cli
    from cli.prompts import prompts_cli
    from cli.serve import serve_command
    from cli.simulator import commands as simulator_commands
    from cli.spool import spool_cli
    from cli.supervisor import supervisor_cli
    from cli.twilio import twilio_cli
    from cli.worker import worker_command

    for command in (serve_command, worker_command, twilio_cli, prompts_cli, supervisor_cli, spool_cli, dnc_cli,
                    *simulator_commands):
        cli.add_command(command)


_area_commands()


def main() -> None:
    cli(prog_name="ivr")
