"""What Twilio must know about us, checked and set through its REST API (`ivr twilio check`, `ivr twilio configure`).

The check: the credentials work and the account is active; TWILIO_PHONE_NUMBER is a number of the account; its
voice URL, status callback and fallback URL point at PUBLIC_BASE_URL (with POST), and no TwiML app or SIP trunk
overrides them; the voice geo permissions allow calls to every country callbacks may go to. Configure sets the
number's three URLs; geo permissions stay a decision for a person in Twilio's console (they open an account to
toll fraud), so configure only reports them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from telephony.twilio import TWILIO_API, RebasedHttpClient

VOICE_PATH = "/twilio/voice"
STATUS_PATH = "/twilio/status"
FALLBACK_PATH = "/twilio/fallback"
GEO_CONSOLE = "Twilio console > Voice > Settings > Geo permissions"


@dataclass(frozen=True)
class Finding:
    """One thing checked or set: whether it is right, what it is, and (when wrong) what to do."""

    ok: bool
    subject: str
    detail: str


class SetupError(RuntimeError):
    """Twilio could not be asked at all (no credentials, unreachable); the message says what to do."""


def wanted_webhooks(public_base_url: str) -> dict[str, str]:
    """The number's webhook settings for our public address (the names of Twilio's number resource)."""
    base = public_base_url.rstrip("/")
    return {
        "voice_url": base + VOICE_PATH,
        "voice_method": "POST",
        "status_callback": base + STATUS_PATH,
        "status_callback_method": "POST",
        "voice_fallback_url": base + FALLBACK_PATH,
        "voice_fallback_method": "POST",
    }


_LABELS = {
    "voice_url": "voice URL (a call comes in)",
    "voice_method": "voice URL method",
    "status_callback": "status callback URL",
    "status_callback_method": "status callback method",
    "voice_fallback_url": "fallback URL (the voice URL failed)",
    "voice_fallback_method": "fallback URL method",
}


class TwilioSetup:
    """The account, number and permissions of one installation, read and written with the real `twilio` client."""

    def __init__(self, *, account_sid: str, auth_token: str, phone_number: str, public_base_url: str,
                 countries: list[str], api_base_url: str = TWILIO_API, timeout: float = 10.0):
        missing = [name for name, value in (("TWILIO_ACCOUNT_SID", account_sid), ("TWILIO_AUTH_TOKEN", auth_token),
                                            ("TWILIO_PHONE_NUMBER", phone_number)) if not value]
        if missing:
            raise SetupError(f"set {', '.join(missing)} (the Twilio account and the support line's number)")
        self.account_sid = account_sid
        self.phone_number = phone_number
        self.public_base_url = public_base_url.rstrip("/")
        self.countries = countries
        self.client = Client(account_sid, auth_token, http_client=RebasedHttpClient(api_base_url, timeout))

    # -- the steps -------------------------------------------------------------------------------------------------
    def _ask(self, what: str, call: Any) -> Any:
        try:
            return call()
        except TwilioRestException as exc:
            if exc.status in (401, 403):
                raise SetupError(f"{what}: Twilio refused TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN (HTTP {exc.status}); "
                                 "copy both again from the console's account page") from None
            raise SetupError(f"{what}: Twilio answered HTTP {exc.status} {exc.code or ''} {exc.msg}") from None
        except requests.exceptions.RequestException as exc:
            raise SetupError(f"{what}: cannot reach Twilio's API ({type(exc).__name__}); check TWILIO_API_BASE_URL "
                             "and the network") from None

    def account(self) -> Finding:
        account = self._ask("credentials", lambda: self.client.api.v2010.accounts(self.account_sid).fetch())
        status = str(account.status or "")
        return Finding(status == "active", "credentials",
                       f"account {account.sid} ({account.friendly_name}) is {status}"
                       + ("" if status == "active" else ": calls cannot be placed until it is active again"))

    def number(self) -> Any | None:
        found = self._ask("number", lambda: self.client.incoming_phone_numbers.list(phone_number=self.phone_number,
                                                                                    limit=2))
        return found[0] if found else None

    def _number_findings(self, number: Any) -> list[Finding]:
        findings = []
        for field, wanted in wanted_webhooks(self.public_base_url).items():
            actual = getattr(number, field, None) or ""
            ok = actual == wanted
            findings.append(Finding(ok, _LABELS[field], wanted if ok else
                                    f"is {actual or '(empty)'!s}, should be {wanted}: run `ivr twilio configure`"))
        app = getattr(number, "voice_application_sid", None)
        trunk = getattr(number, "trunk_sid", None)
        if app or trunk:
            target = f"TwiML app {app}" if app else f"SIP trunk {trunk}"
            findings.append(Finding(False, "routing", f"the number is routed to {target}, which overrides its voice "
                                    "URL: remove it in the console"))
        return findings

    def geo_permissions(self) -> list[Finding]:
        findings = []
        voice = self.client.voice.v1.dialing_permissions
        for iso in self.countries:
            country = self._ask(f"geo permissions for {iso}", lambda iso=iso: voice.countries(iso).fetch())
            allowed = bool(country.low_risk_numbers_enabled)
            findings.append(Finding(allowed, f"calls to {iso}",
                                    "allowed by the voice geo permissions" if allowed else
                                    f"not allowed: callbacks to {iso} would fail; enable {iso} in {GEO_CONSOLE}"))
        return findings

    def _base_url_finding(self) -> Finding:
        https = self.public_base_url.startswith("https://")
        return Finding(https, "PUBLIC_BASE_URL", self.public_base_url if https else
                       f"{self.public_base_url} is not https: Twilio would send callers' numbers and keys in clear")

    # -- the commands ----------------------------------------------------------------------------------------------
    def check(self) -> list[Finding]:
        """Everything Twilio must know about us, as it is now."""
        findings = [self._base_url_finding(), self.account()]
        number = self.number()
        if number is None:
            findings.append(Finding(False, "number", f"{self.phone_number} is not a number of account "
                                    f"{self.account_sid}: check TWILIO_PHONE_NUMBER, or buy or port it"))
        else:
            findings.append(Finding(True, "number", f"{number.phone_number} ({number.sid})"))
            findings += self._number_findings(number)
        return findings + self.geo_permissions()

    def configure(self) -> list[Finding]:
        """Point the number's voice URL, status callback and fallback at PUBLIC_BASE_URL; report the rest."""
        findings = [self._base_url_finding(), self.account()]
        number = self.number()
        if number is None:
            return [*findings, Finding(False, "number", f"{self.phone_number} is not a number of account "
                                       f"{self.account_sid}: nothing configured")]
        wanted = wanted_webhooks(self.public_base_url)
        changes = {k: v for k, v in wanted.items() if (getattr(number, k, None) or "") != v}
        if changes:
            number = self._ask("number", lambda: self.client.incoming_phone_numbers(number.sid).update(**changes))
        for field, value in wanted.items():
            findings.append(Finding((getattr(number, field, None) or "") == value, _LABELS[field],
                                    f"{'set to' if field in changes else 'already'} {value}"))
        return findings + self.geo_permissions()


__all__ = ["FALLBACK_PATH", "Finding", "SetupError", "TwilioSetup", "wanted_webhooks"]
