"""The Twilio adapter: the real `twilio` REST client, with TWILIO_API_BASE_URL honoured.

Error classes follow Twilio's semantics: a 429 was never processed (safe to retry); a 5xx, a read timeout or a
dropped connection may have placed the call (the Calls API has no idempotency key), so they are OutcomeUnknown;
errors about the number (21211 invalid, 21214 unreachable, 21215/21216 not permitted or blocked, 21217 not valid)
are permanent.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from callbacks.calls import PERMANENT_ERROR_CODES
from telephony.provider import (
    CallInfo,
    CallRequest,
    CallsLimitExceeded,
    OutcomeUnknown,
    ProviderError,
    ProviderPermanentError,
    ProviderTransientError,
)

log = logging.getLogger(__name__)
TWILIO_API = "https://api.twilio.com"
TWILIO_VOICE_API = "https://voice.twilio.com"


class RebasedHttpClient(TwilioHttpClient):
    """Sends what the client addresses to https://api.twilio.com to `base_url` instead (edges, proxies, mocks).

    When `base_url` is not a Twilio host (a proxy or a stand-in serving every Twilio API at one address), the
    Voice API (https://voice.twilio.com, geo permissions) goes there as well; a regional Twilio edge leaves it be.
    """

    def __init__(self, base_url: str = TWILIO_API, timeout: float = 10.0):
        super().__init__(timeout=timeout)
        self.base_url = base_url.rstrip("/")
        rebased = self.base_url != TWILIO_API
        self.rebase = [TWILIO_API] if rebased else []
        if rebased and not (urlsplit(self.base_url).hostname or "").endswith("twilio.com"):  # no host: not Twilio
            self.rebase.append(TWILIO_VOICE_API)

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        for origin in self.rebase:
            if url.startswith(origin):
                url = self.base_url + url[len(origin):]
                break
        return super().request(method, url, *args, **kwargs)


def _error(exc: Exception, action: str) -> ProviderError:
    if isinstance(exc, TwilioRestException):
        code = str(exc.code) if exc.code is not None else None
        message = f"{action}: HTTP {exc.status} {code or ''} {exc.msg}".strip()
        if exc.status == 429:
            return CallsLimitExceeded(message, code=code, status=exc.status)
        if exc.status >= 500:
            return OutcomeUnknown(message, code=code, status=exc.status)
        if code in PERMANENT_ERROR_CODES:
            return ProviderPermanentError(message, code=code, status=exc.status)
        # Any other 4xx was refused before it did anything (bad credentials, bad request): not placed.
        return ProviderTransientError(message, code=code, status=exc.status)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return ProviderTransientError(f"{action}: could not connect ({exc})")
    if isinstance(exc, requests.exceptions.ConnectionError) and "NewConnectionError" in repr(exc):
        return ProviderTransientError(f"{action}: connection refused ({exc})")
    return OutcomeUnknown(f"{action}: {type(exc).__name__}: {exc}")


def _info(call: Any) -> CallInfo:
    duration = getattr(call, "duration", None)
    return CallInfo(
        sid=call.sid,
        to=call.to,
        from_=getattr(call, "_from", None) or "",
        status=str(call.status or ""),
        created_at=call.date_created,
        duration=int(duration) if duration not in (None, "") else None,
        answered_by=getattr(call, "answered_by", None),
        parent_sid=getattr(call, "parent_call_sid", None),
    )


class TwilioProvider:
    """Places and looks up calls through Twilio's REST API (Calls, Messages)."""

    name = "twilio"

    def __init__(self, account_sid: str, auth_token: str, *, base_url: str = TWILIO_API, timeout: float = 10.0):
        self.client = Client(account_sid, auth_token, http_client=RebasedHttpClient(base_url, timeout))

    def create_call(self, request: CallRequest) -> CallInfo:
        extra: dict[str, Any] = {}
        if request.machine_detection:
            extra["machine_detection"] = request.machine_detection
        try:
            call = self.client.calls.create(
                to=request.to,
                from_=request.from_,
                url=request.url,
                method="POST",
                status_callback=request.status_callback,
                status_callback_method="POST",
                status_callback_event=list(request.status_callback_events),
                timeout=request.timeout,
                **extra,
            )
        except (TwilioRestException, requests.exceptions.RequestException) as exc:
            raise _error(exc, "create call") from exc
        return _info(call)

    def fetch_call(self, sid: str) -> CallInfo:
        try:
            return _info(self.client.calls(sid).fetch())
        except TwilioRestException as exc:
            if exc.status == 404:
                raise ProviderPermanentError(f"no call {sid}", code=str(exc.code), status=404) from exc
            raise _error(exc, "fetch call") from exc
        except requests.exceptions.RequestException as exc:
            raise ProviderTransientError(f"fetch call: {exc}") from exc

    def cancel_call(self, sid: str) -> CallInfo:
        # Status=canceled ends only a queued or ringing call; an answered call is left as it is (Status=completed
        # would hang it up). Twilio answers with the call resource either way, so its status tells which.
        try:
            return _info(self.client.calls(sid).update(status="canceled"))
        except TwilioRestException as exc:
            if exc.status == 404:
                raise ProviderPermanentError(f"no call {sid}", code=str(exc.code), status=404) from exc
            raise _error(exc, "cancel call") from exc
        except requests.exceptions.RequestException as exc:
            raise _error(exc, "cancel call") from exc

    def list_calls(
        self, *, to: str | None = None, from_: str | None = None, parent_sid: str | None = None,
        created_after: datetime | None = None, limit: int = 50,
    ) -> list[CallInfo]:
        # No StartTime filter: a queued call has no start time yet. Twilio lists newest first; filter locally.
        filters: dict[str, Any] = {}
        if to:
            filters["to"] = to
        if from_:
            filters["from_"] = from_
        if parent_sid:
            filters["parent_call_sid"] = parent_sid
        try:
            calls = self.client.calls.list(limit=limit, page_size=min(limit, 50), **filters)
        except (TwilioRestException, requests.exceptions.RequestException) as exc:
            raise ProviderTransientError(f"list calls: {exc}") from exc
        found = [_info(c) for c in calls]
        if created_after is not None:
            found = [c for c in found if c.created_at is not None and c.created_at >= created_after]
        return found

    def send_sms(self, *, to: str, from_: str, body: str) -> str:
        try:
            return str(self.client.messages.create(to=to, from_=from_, body=body).sid)
        except (TwilioRestException, requests.exceptions.RequestException) as exc:
            raise _error(exc, "send sms") from exc
