"""`ivr dnc add|remove|list`: the do-not-call list (numbers we never call; see `callbacks.guard`)."""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from callbacks.guard import list_dnc, never_call, remove_from_dnc
from callbacks.phones import PhoneNumberRejected, mask, normalise
from ivr.runtime import runtime


def _number(raw: str) -> str:
    try:
        return normalise(raw, runtime().centre.phone_numbers)
    except PhoneNumberRejected as exc:
        raise click.ClickException(f"{raw!r} is not a number we could call: {exc.message}") from None


@click.group("dnc")
def dnc_cli() -> None:
    """The do-not-call list: requests for these numbers are refused on every channel and they are never dialled."""


@dnc_cli.command("add")
@click.argument("phone")
@click.option("--reason", default=None, help="Why (kept with the entry).")
@with_appcontext
def dnc_add(phone: str, reason: str | None) -> None:
    """Never call PHONE again; its open callbacks are canceled now."""
    rt = runtime()
    e164 = _number(phone)
    with rt.db.session() as session:
        added, canceled = never_call(session, rt.centre, e164, rt.clock.now(), source="cli", actor="cli",
                                     reason=reason)
    state = "added to" if added else "already on"
    click.echo(f"{mask(e164)} {state} the do-not-call list; {canceled} open callback(s) canceled")


@dnc_cli.command("remove")
@click.argument("phone")
@with_appcontext
def dnc_remove(phone: str) -> None:
    """Take PHONE off the list (its owner asked to be called again)."""
    rt = runtime()
    e164 = _number(phone)
    with rt.db.session() as session:
        if not remove_from_dnc(session, e164):
            raise click.ClickException(f"{mask(e164)} is not on the do-not-call list")
    click.echo(f"{mask(e164)} removed from the do-not-call list")


@dnc_cli.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@with_appcontext
def dnc_list(fmt: str) -> None:
    """Print the list, newest first (full numbers: this is an operator's command)."""
    rt = runtime()
    with rt.db.session() as session:
        rows: list[dict[str, str]] = [
            {"phone": e.phone, "added_at": e.added_at.isoformat(), "source": e.source, "actor": e.actor,
             "reason": e.reason or ""} for e in list_dnc(session)]
    if fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("nobody is on the do-not-call list")
        return
    for row in rows:
        click.echo(f"{row['phone']:<16} {row['added_at'][:16]}  {row['source']:<10} {row['reason']}")
