"""Send the customers' text messages from the durable outbox (`callbacks.sms`), through the provider's `send_sms`.

Each row is claimed with compare-and-swap before sending, so two workers never both send it; a claim left by a
worker that died while sending is taken over after CLAIM_TIMEOUT (the message may then go twice: better than a
customer never getting their promise in writing). Messages no longer true when their turn comes are skipped.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, and_, or_, select, update

from callbacks.db import Database
from callbacks.models import Callback, CustomerSms
from callbacks.phones import mask
from callbacks.sms import BASE, redact, still_true, write_retry_messages
from config.schema import ContactCentre
from telephony.provider import Provider, ProviderError, ProviderPermanentError

log = logging.getLogger(__name__)
CLAIM_TIMEOUT = timedelta(minutes=5)


def _sendable(now: datetime) -> ColumnElement[bool]:
    return and_(CustomerSms.sent_at.is_(None),
                or_(CustomerSms.claimed_by.is_(None), CustomerSms.claimed_at < now - CLAIM_TIMEOUT))


def send_customer_sms(db: Database, centre: ContactCentre, provider: Provider, *, sender: str, base_url: str,
                      worker_id: str, now: datetime, limit: int = 50) -> int:
    """Write the retry messages now owed, then send what the outbox holds; returns how many were sent."""
    if not centre.customer_sms.enabled:
        return 0
    with db.session() as session:
        write_retry_messages(session, centre, now)
    with db.session() as session:
        ids = list(session.scalars(select(CustomerSms.id).where(_sendable(now)).order_by(CustomerSms.id).limit(limit)))
    sent = 0
    for sms_id in ids:
        with db.session() as session:
            won = cast("CursorResult[Any]", session.execute(  # an UPDATE's Result is a CursorResult (rowcount)
                update(CustomerSms).where(CustomerSms.id == sms_id, _sendable(now))
                .values(claimed_by=worker_id, claimed_at=now)
                .execution_options(synchronize_session=False))).rowcount == 1
            if not won:
                continue
            row = session.get(CustomerSms, sms_id)
            assert row is not None  # this transaction's claim just updated it
            callback = session.get(Callback, row.callback_id)
            if not still_true(row, callback, now):
                row.sent_at, row.result, row.body = now, "skipped", redact(row.body)
                continue
            to, body = row.to, row.body.replace(BASE, base_url.rstrip("/"))
        result, provider_id, done = "sent", None, True
        try:
            provider_id = provider.send_sms(to=to, from_=sender, body=body)
        except ProviderPermanentError as exc:
            result = f"error: {exc}"[:200]
        except ProviderError as exc:
            # Not sent (or not known to be): give the claim back; the next round tries again.
            log.warning("text message %s to %s not sent: %s", sms_id, mask(to), exc)
            result, done = f"error: {exc}"[:200], False
        with db.session() as session:
            values: dict[str, object] = {"result": result}
            if done:
                values.update(sent_at=now, provider_id=provider_id, body=redact(body))
            else:
                values.update(claimed_by=None, claimed_at=None)
            session.execute(update(CustomerSms).where(CustomerSms.id == sms_id).values(**values)
                            .execution_options(synchronize_session=False))
        sent += result == "sent"
    return sent


__all__ = ["CLAIM_TIMEOUT", "send_customer_sms"]
