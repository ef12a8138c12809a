"""`ivr supervisor ...`: accounts for the supervisor's console."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from callbacks.accounts import (
    ROLES,
    add_supervisor,
    end_sessions,
    generate_password,
    list_supervisors,
    set_password,
    set_role,
)
from callbacks.errors import CallbackError
from ivr.runtime import runtime


def _read_password(password_stdin: bool, generate: bool) -> tuple[str, bool]:
    """The password from stdin, a prompt, or a fresh random one; True when generated (so it must be printed)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise click.ClickException("no password on standard input")
        return password, False
    if generate or not sys.stdin.isatty():
        return generate_password(), True
    entered = click.prompt(
        "Password (leave empty to generate one)",
        default="",
        hide_input=True,
        show_default=False,
    )
    if not entered:
        return generate_password(), True
    again = click.prompt("Repeat the password", hide_input=True)
    if again != entered:
        raise click.ClickException("the two passwords differ")
    return entered, False


@click.group("supervisor")
def supervisor_cli() -> None:
    """Supervisor accounts (the console under /supervisor/)."""


@supervisor_cli.command("add")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), default="admin", show_default=True, help="viewer: read-only")
@click.option("--language", type=click.Choice(["fa", "en"]), default=None, help="Console language (default: browser's)")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input")
@click.option("--generate", is_flag=True, help="Generate a password without asking")
@with_appcontext
def supervisor_add(email: str, role: str, language: str | None, password_stdin: bool, generate: bool) -> None:
    """Add a supervisor; asks for a password or generates one (printed once)."""
    rt = runtime()
    password, generated = _read_password(password_stdin, generate)
    try:
        added = add_supervisor(rt.db, email, password, rt.clock.now(), role=role, language=language)
    except CallbackError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"supervisor {added.email} added ({added.role})", err=generated)
    if generated:
        click.echo(password)
        click.echo("This password is shown only now; store it safely.", err=True)


@supervisor_cli.command("set-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input")
@click.option("--generate", is_flag=True, help="Generate a password without asking")
@with_appcontext
def supervisor_set_password(email: str, password_stdin: bool, generate: bool) -> None:
    """Replace a supervisor's password (also lifts a lockout and ends their sessions)."""
    password, generated = _read_password(password_stdin, generate)
    try:
        changed = set_password(runtime().db, email, password)
    except CallbackError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"password of {changed.email} changed", err=generated)
    if generated:
        click.echo(password)


@supervisor_cli.command("logout-all")
@click.argument("email")
@with_appcontext
def supervisor_logout_all(email: str) -> None:
    """End every console session of a supervisor (a stolen or copied cookie too)."""
    try:
        ended = end_sessions(runtime().db, email)
    except CallbackError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"every session of {ended.email} ended")


@supervisor_cli.command("role")
@click.argument("email")
@click.argument("role", type=click.Choice(ROLES))
@with_appcontext
def supervisor_role(email: str, role: str) -> None:
    """Make a supervisor an admin or a read-only viewer."""
    try:
        changed = set_role(runtime().db, email, role)
    except CallbackError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"{changed.email} is now {changed.role}")


@supervisor_cli.command("list")
@with_appcontext
def supervisor_list() -> None:
    """List supervisors."""
    now = runtime().clock.now()
    for s in list_supervisors(runtime().db):
        locked = " (locked)" if s.locked_until and s.locked_until > now else ""
        last = s.last_login_at.isoformat(timespec="minutes") if s.last_login_at else "never"
        click.echo(f"{s.email:40} {s.role:7} last login {last}{locked}")
