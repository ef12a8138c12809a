"""Promises in writing: the customer's text messages, in their language, as durable outbox rows.

The promise (time, reference, private status link) is written in the same transaction as the callback, whatever
the channel; a retry message ("we could not reach you; next try at ...") is written by the worker when it sees a
callback's latest attempt ended without reaching the customer. The worker sends them (`scheduler.customer_sms`).
Short on purpose: a Persian message is UCS-2, 70 characters for one part, 67 per part beyond.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from callbacks.calls import NOT_REACHED
from callbacks.models import PENDING, Attempt, Callback, CustomerSms
from config.schema import ContactCentre

# Stands for PUBLIC_BASE_URL in a stored message; the worker puts the address in when it sends.
BASE = "{base}"
# Where the public form serves a customer's status page (`ivr.form`): base + path + token.
STATUS_PATH = "/callback/status/"
REDACTED = "…"
# Retry messages are written for attempts that ended at most this long ago (older ones would come too late).
RETRY_LOOKBACK = timedelta(hours=1)

_PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
_WEEKDAYS = {
    "fa": ("دوشنبه", "سه‌شنبه", "چهارشنبه", "پنجشنبه", "جمعه", "شنبه", "یکشنبه"),
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
}
_TODAY = {"fa": "امروز", "en": "today"}
_TOMORROW = {"fa": "فردا", "en": "tomorrow"}
TEXTS = {
    "promise": {
        "fa": "تا {when} با شما تماس می‌گیریم. کد {ref}\n{link}",
        "en": "We will call you back by {when}. Ref {ref}\n{link}",
    },
    "overloaded": {
        "fa": "سرمان شلوغ است؛ تا {when} تماس می‌گیریم. کد {ref}\n{link}",
        "en": "We are overloaded; we will try to call you by {when}. Ref {ref}\n{link}",
    },
    "retry": {
        "fa": "تماس ما بی‌پاسخ ماند. تماس بعدی {when}. کد {ref}",
        "en": "We called but could not reach you. Next try {when}. Ref {ref}",
    },
}
# GSM 03.38's basic set (one septet each) and its extension table (two).
_GSM = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
           "¿abcdefghijklmnopqrstuvwxyzäöñüà")
_GSM_EXT = set("^{}\\[~]|€")


def sms_parts(text: str) -> int:
    """How many SMS parts `text` takes (GSM-7: 160, then 153 each; else UCS-2: 70, then 67 each)."""
    if all(c in _GSM or c in _GSM_EXT for c in text):
        septets = sum(2 if c in _GSM_EXT else 1 for c in text)
        return 1 if septets <= 160 else math.ceil(septets / 153)
    units = len(text.encode("utf-16-le")) // 2
    return 1 if units <= 70 else math.ceil(units / 67)


def when_text(moment: datetime, now: datetime, zone: ZoneInfo, lang: str) -> str:
    """`today 14:35`, `tomorrow 09:30`, `Sun 09:30` (Persian words and digits for Persian)."""
    lang = lang if lang in _TODAY else "en"
    local, today = moment.astimezone(zone), now.astimezone(zone).date()
    if local.date() == today:
        day = _TODAY[lang]
    elif local.date() == today + timedelta(days=1):
        day = _TOMORROW[lang]
    else:
        day = _WEEKDAYS[lang][local.weekday()]
    text = f"{day} {local:%H:%M}"
    return text.translate(_PERSIAN_DIGITS) if lang == "fa" else text


def message(kind: str, lang: str, *, when: str, reference: str, link: str = "") -> str:
    texts = TEXTS[kind]
    return texts.get(lang, texts["en"]).format(when=when, ref=reference, link=link).strip()


def _add(session: Session, row: CustomerSms) -> CustomerSms | None:
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return None  # already written (another worker, or a retry of the same request)
    return row


def promise_message(centre: ContactCentre, *, phone: str, language: str, reference: str, deadline_at: datetime,
                    overloaded: bool, token: str, now: datetime) -> dict[str, Any] | None:
    """The promise in writing for a new callback, as the CustomerSms columns it is written with (in the callback's
    own statement, `callbacks.history.insert_new_callback`), when the centre sends customers text messages."""
    if not centre.customer_sms.enabled:
        return None
    body = message("overloaded" if overloaded else "promise", language,
                   when=when_text(deadline_at, now, centre.zone, language), reference=reference,
                   link=f"{BASE}{STATUS_PATH}{token}")
    return {"kind": "promise", "attempt_number": 0, "to": phone, "body": body, "created_at": now}


def write_retry_messages(session: Session, centre: ContactCentre, now: datetime, limit: int = 200) -> int:
    """A message for each callback whose latest attempt just ended without reaching the customer and that will be
    tried again; idempotent (one per callback and attempt)."""
    if not (centre.customer_sms.enabled and centre.customer_sms.on_retry):
        return 0
    later = aliased(Attempt)
    latest = select(func.max(later.number)).where(later.callback_id == Callback.id).scalar_subquery()
    rows = session.execute(
        select(Callback, Attempt.number)
        .join(Attempt, Attempt.callback_id == Callback.id)
        .outerjoin(CustomerSms, and_(CustomerSms.callback_id == Callback.id, CustomerSms.kind == "retry",
                                     CustomerSms.attempt_number == Attempt.number))
        .where(Callback.status == PENDING, Attempt.state == "ended", Attempt.ended_at >= now - RETRY_LOOKBACK,
               Attempt.outcome.in_(sorted(NOT_REACHED)), Attempt.number == latest, CustomerSms.id.is_(None))
        .limit(limit)
    ).all()
    written = 0
    for callback, number in rows:
        if callback.next_attempt_at <= now:
            continue  # the next try is already due: a message would arrive after it
        body = message("retry", callback.language, reference=callback.reference,
                       when=when_text(callback.next_attempt_at, now, centre.zone, callback.language))
        written += _add(session, CustomerSms(callback_id=callback.id, kind="retry", attempt_number=number,
                                             to=callback.phone, body=body, created_at=now)) is not None
    return written


def still_true(row: CustomerSms, callback: Callback | None, now: datetime) -> bool:
    """Whether a message is still worth sending when its turn comes."""
    if callback is None or not callback.is_open:
        return False
    if row.kind == "retry":
        return callback.status == PENDING and callback.next_attempt_at > now
    return True


def redact(body: str) -> str:
    """The message as kept after sending: without the status link's secret."""
    head, found, _ = body.partition(STATUS_PATH)
    return head + found + REDACTED if found else body


__all__ = [
    "BASE",
    "STATUS_PATH",
    "TEXTS",
    "message",
    "promise_message",
    "redact",
    "sms_parts",
    "still_true",
    "when_text",
    "write_retry_messages",
]
