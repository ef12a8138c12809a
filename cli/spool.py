"""`ivr spool ...`: callback requests the phone tree took while the database was down."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from callbacks.phones import mask
from callbacks.spool import Spool, SpoolFileInvalid, replay_spool
from ivr.runtime import runtime


def _spool() -> Spool:
    spool = runtime().spool
    if spool is None:
        raise click.ClickException("this app has no phone tree, so no spool of callback requests")
    return spool


@click.group("spool")
def spool_cli() -> None:
    """Callback requests taken while the database was down (kept under the instance folder until stored)."""


@spool_cli.command("list")
@with_appcontext
def spool_list() -> None:
    """Print the requests waiting for the database, and the rejected ones with their reasons."""
    spool = _spool()
    pending = spool.pending()
    for path in pending:
        try:
            req = spool.read(path)
        except (OSError, SpoolFileInvalid) as exc:
            click.echo(f"{path.name}  unreadable: {exc}")
            continue
        click.echo(
            f"{req.requested_at.isoformat()}  {mask(req.phone)}  queue={req.queue}  language={req.language}"
            f"  promised by {req.deadline_at.isoformat()}  call={req.call_sid}"
        )
    rejected = spool.rejected()
    for path, reason in rejected:
        click.echo(f"rejected  {path.name}: {reason}")
    click.echo(f"{len(pending)} waiting, {len(rejected)} rejected in {spool.directory}")


@spool_cli.command("replay")
@with_appcontext
def spool_replay() -> None:
    """Store the waiting requests in the database now; exits 1 when some must still wait (database down)."""
    rt = runtime()
    spool = _spool()
    stored, kept = replay_spool(rt.service, spool.directory, rt.clock.now(), wait=True)
    click.echo(f"stored {stored}, still waiting {kept}, rejected {len(spool.rejected())}")
    if kept:
        raise click.exceptions.Exit(1)


__all__ = ["spool_cli"]
