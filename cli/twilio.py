"""`ivr twilio check` and `ivr twilio configure`: the Twilio number and account, from the command line."""

from __future__ import annotations

import sys
from collections.abc import Callable

import click

from telephony.twilio_setup import Finding, SetupError, TwilioSetup


def _setup() -> TwilioSetup:
    from config import ConfigError, SettingsError, load_contact_centre, load_settings

    try:
        settings = load_settings()
        centre = load_contact_centre(settings.ivr_config)
        return TwilioSetup(account_sid=settings.twilio_account_sid, auth_token=settings.twilio_auth_token,
                           phone_number=settings.twilio_phone_number, public_base_url=settings.public_base_url,
                           countries=list(centre.phone_numbers.allowed_countries),
                           api_base_url=settings.twilio_api_base_url)
    except (ConfigError, SettingsError, SetupError) as exc:
        raise click.ClickException(str(exc)) from None


def _report(run: Callable[[], list[Finding]]) -> None:
    try:
        findings = run()
    except SetupError as exc:
        raise click.ClickException(str(exc)) from None
    for finding in findings:
        click.echo(f"{'ok  ' if finding.ok else 'FAIL'}  {finding.subject}: {finding.detail}")
    problems = sum(not f.ok for f in findings)
    click.echo(f"{problems} problem(s)" if problems else "Twilio is set up for this installation")
    if problems:
        sys.exit(1)


@click.group("twilio")
def twilio_cli() -> None:
    """The Twilio account and number (TWILIO_* and PUBLIC_BASE_URL)."""


@twilio_cli.command("check")
def twilio_check() -> None:
    """Check the credentials, the number's webhooks and the geo permissions; exit 1 on any problem."""
    _report(_setup().check)


@twilio_cli.command("configure")
def twilio_configure() -> None:
    """Point the number's voice URL, status callback and fallback URL at PUBLIC_BASE_URL."""
    _report(_setup().configure)
