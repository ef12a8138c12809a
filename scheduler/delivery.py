"""Deliver supervisor alerts: e-mail over SMTP, a webhook POST, an SMS through the provider.

Alert rows are written by the domain (`callbacks.alerts.raise_alert`) in the same transaction as the change they
report; this module sends the ones not yet delivered and records, per channel, what happened.
"""

from __future__ import annotations

import json
import logging
import smtplib
import urllib.request
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any, cast
from urllib.parse import unquote, urlsplit

from sqlalchemy import CursorResult, and_, or_, select, update

from callbacks.db import Database
from callbacks.models import Alert, Callback
from callbacks.phones import mask
from config.schema import Alerts, ContactCentre
from telephony.provider import Provider

log = logging.getLogger(__name__)
# How long a worker may take to send one alert before another worker assumes it died and sends it instead.
CLAIM_TIMEOUT = timedelta(minutes=5)

SUBJECTS = {
    "at_risk": "Callback at risk",
    "missed": "Callback missed",
    "unreachable": "Callback unreachable",
    "permanent": "Callback number cannot be called",
    "digest": "Daily callback digest",
    "quote_over_sla": "Quotes exceed the SLA",
    "overloaded": "Customer told we are overloaded",
    "dial_breaker": "Dialling paused: hourly cap reached",
}


def _post_json(url: str, payload: dict[str, Any], timeout: float = 5.0) -> int:
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"webhook URL must be http(s), got {url!r}")
    body = json.dumps(payload, ensure_ascii=False).encode()
    req = urllib.request.Request(url, data=body, method="POST",  # noqa: S310 (scheme checked above)
                                 headers={"Content-Type": "application/json", "User-Agent": "ivr-worker"})
    with urllib.request.urlopen(req, timeout=timeout) as response:  # noqa: S310
        return int(response.status)


class Notifier:
    """Sends one alert through every configured channel; each channel's failure is recorded, not raised."""

    def __init__(
        self,
        config: Alerts,
        *,
        provider: Provider | None = None,
        sms_from: str = "",
        smtp_factory: Callable[..., Any] | None = None,
        post_json: Callable[[str, dict[str, Any]], int] = _post_json,
    ):
        self.config = config
        self.provider = provider
        self.sms_from = sms_from
        self.smtp_factory = smtp_factory
        self.post_json = post_json

    def deliver(self, subject: str, text: str, payload: dict[str, Any]) -> dict[str, str]:
        results: dict[str, str] = {}
        if self.config.email_to and self.config.smtp_url:
            results["email"] = self._try(lambda: self._email(subject, text))
        if self.config.webhook_url:
            results["webhook"] = self._try(lambda: self._webhook(payload))
        if self.config.sms_to and self.provider is not None:
            results["sms"] = self._try(lambda: self._sms(f"{subject}: {text}"[:300]))
        if not results:
            results["none"] = "no alert channel configured"
        return results

    @staticmethod
    def _try(send: Callable[[], str]) -> str:
        try:
            return send()
        except Exception as exc:  # a broken channel must not stop the others or the worker
            log.warning("alert delivery failed: %s: %s", type(exc).__name__, exc)
            return f"error: {type(exc).__name__}: {exc}"[:200]

    def _email(self, subject: str, text: str) -> str:
        url = urlsplit(self.config.smtp_url)
        message = EmailMessage()
        message["Subject"] = subject
        message["From"] = self.config.email_from
        message["To"] = ", ".join(self.config.email_to)
        message.set_content(text)
        secure = url.scheme == "smtps"
        factory = self.smtp_factory or (smtplib.SMTP_SSL if secure else smtplib.SMTP)
        port = url.port or (465 if secure else 25)
        with factory(url.hostname or "localhost", port, timeout=10) as smtp:
            if url.scheme == "smtp" and port == 587:
                smtp.starttls()
            if url.username:
                smtp.login(unquote(url.username), unquote(url.password or ""))
            smtp.send_message(message)
        return "sent"

    def _webhook(self, payload: dict[str, Any]) -> str:
        status = self.post_json(self.config.webhook_url, payload)
        return "sent" if 200 <= status < 300 else f"error: HTTP {status}"

    def _sms(self, body: str) -> str:
        assert self.provider is not None
        for number in self.config.sms_to:
            self.provider.send_sms(to=number, from_=self.sms_from, body=body)
        return "sent"


def alert_text(alert: Alert, callback: Callback | None, centre: ContactCentre) -> tuple[str, str, dict[str, Any]]:
    """Subject, plain text and webhook payload for an alert (the phone number masked)."""
    subject = f"{SUBJECTS.get(alert.kind, alert.kind)} - {centre.name}"
    payload: dict[str, Any] = {"kind": alert.kind, "reason": alert.reason, "created_at": alert.created_at.isoformat()}
    lines = [alert.reason or ""]
    if alert.kind == "digest" and alert.reason and "\n" in alert.reason:
        # The digest carries its own subject as its first line (callbacks.reports.daily_digest).
        subject, body = alert.reason.split("\n", 1)
        lines = [body]
    if callback is not None:
        local_deadline = callback.deadline_at.astimezone(centre.zone).strftime("%Y-%m-%d %H:%M")
        payload.update({"callback": callback.public_id, "reference": callback.reference, "queue": callback.queue,
                        "phone": mask(callback.phone), "deadline_at": callback.deadline_at.isoformat(),
                        "status": callback.status, "attempts_made": callback.attempts_made})
        lines = [f"Callback {callback.reference} ({callback.queue}, {mask(callback.phone)}), "
                 f"deadline {local_deadline} {centre.timezone}: {alert.reason}"]
    return subject, "\n".join(lines), payload


def _deliverable(now: datetime) -> Any:
    """Never claimed, or claimed by a worker that did not finish sending within CLAIM_TIMEOUT (it died)."""
    stale_before = (now - CLAIM_TIMEOUT).isoformat()
    claimed_at = Alert.deliveries["at"].as_string()
    return or_(
        Alert.deliveries.is_(None),
        and_(Alert.deliveries["claimed_by"].as_string().is_not(None), claimed_at < stale_before),
    )


def deliver_pending(db: Database, centre: ContactCentre, notifier: Notifier, worker_id: str, now: datetime,
                    limit: int = 50) -> int:
    """Send alerts not yet delivered; each is claimed first (compare-and-swap) so two workers never both send it.

    A claim left by a worker that died while sending is taken over after CLAIM_TIMEOUT: an alert may then go out
    twice, which is better than a supervisor never hearing of a missed callback.
    """
    with db.session() as session:
        ids = list(session.scalars(select(Alert.id).where(_deliverable(now)).order_by(Alert.id).limit(limit)))
    sent = 0
    for alert_id in ids:
        with db.session() as session:
            won = cast("CursorResult[Any]", session.execute(  # an UPDATE's Result is a CursorResult (rowcount)
                update(Alert).where(Alert.id == alert_id, _deliverable(now))
                .values(deliveries={"claimed_by": worker_id, "at": now.isoformat()})
                .execution_options(synchronize_session=False)
            )).rowcount == 1
            if not won:
                continue
            alert = session.get(Alert, alert_id)
            assert alert is not None  # this transaction's claim just updated it
            callback = session.get(Callback, alert.callback_id) if alert.callback_id else None
            subject, text, payload = alert_text(alert, callback, centre)
        results = notifier.deliver(subject, text, payload)
        with db.session() as session:
            session.execute(update(Alert).where(Alert.id == alert_id).values(deliveries=results)
                            .execution_options(synchronize_session=False))
        sent += 1
    return sent
