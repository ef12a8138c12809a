"""One log line per request (a webhook's line names its call, attempt and callback), and the request id that ties
a request's lines, and the callbacks it creates, together.

The id is the caller's `X-Request-Id` when it looks like one (a proxy's `$request_id`), else a new one; it is sent
back in the response's `X-Request-Id` and kept in the context (`callbacks.logs.REQUEST_ID`) for the request's other
lines and for the history of a callback it creates, where the worker finds it again.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import secrets
import time
from typing import Any

from flask import Flask, Response, g, has_request_context, request
from sqlalchemy import event
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import HTTPException

from callbacks.logs import REQUEST_ID
from callbacks.models import Callback

HEADER = "X-Request-Id"
_WELL_FORMED = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
# Probes and assets: a line each at DEBUG only (a load balancer checks every few seconds).
_QUIET_ENDPOINTS = {"health.healthz", "health.readyz", "health.metrics", "static", "ui.static"}
log = logging.getLogger("ivr.requests")


def _remember_callback(target: Callback) -> None:
    """The first callback a request reads or creates names it in the request's line (no second query)."""
    if has_request_context() and "callback_reference" not in g:
        g.callback_reference = target.reference


def _on_load(target: Callback, _context: Any) -> None:
    _remember_callback(target)


def _on_insert(_mapper: Any, _connection: Any, target: Callback) -> None:
    _remember_callback(target)


def _listen() -> None:
    if not event.contains(Callback, "load", _on_load):
        event.listen(Callback, "load", _on_load)
        event.listen(Callback, "after_insert", _on_insert)


_ids: tuple[int, str, itertools.count[int]] | None = None


def new_request_id() -> str:
    """32 hex digits, unique across processes and restarts: 16 random per process (drawn again after a fork),
    then a counter. Not a uuid4 per request: reading the kernel's randomness for each one showed in profiles."""
    global _ids
    if _ids is None or _ids[0] != os.getpid():
        _ids = (os.getpid(), secrets.token_hex(8), itertools.count(1))
    return f"{_ids[1]}{next(_ids[2]):016x}"


def _start() -> None:
    offered = request.headers.get(HEADER, "")
    g.request_id = offered if _WELL_FORMED.match(offered) else new_request_id()
    g.request_id_token = REQUEST_ID.set(g.request_id)
    g.request_started = time.perf_counter()


def webhook_fields() -> dict[str, Any]:
    """What a Twilio webhook's line says about its call: call sid and status, attempt id, callback reference."""
    fields: dict[str, Any] = {}
    if request.path.startswith("/twilio/"):
        try:
            form = request.form
        except HTTPException:  # a body too large or malformed to read: the line says so by its status alone
            form = ImmutableMultiDict()
        fields["call_sid"] = form.get("CallSid") or None
        fields["call_status"] = form.get("CallStatus") or form.get("DialCallStatus") or None
        attempt = request.args.get("attempt", "")
        fields["attempt_id"] = int(attempt) if attempt.isdecimal() else None
    fields["callback"] = g.get("callback_reference")
    return {k: v for k, v in fields.items() if v is not None}


def _finish(response: Response) -> Response:
    response.headers.setdefault(HEADER, g.get("request_id", ""))
    started = g.get("request_started")
    if started is None:
        return response
    elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
    # The route's pattern, not the path: a customer's private status link must not end up in the logs.
    route = request.url_rule.rule if request.url_rule is not None else request.path[:200]
    level = logging.DEBUG if request.endpoint in _QUIET_ENDPOINTS and response.status_code < 500 else logging.INFO
    log.log(level, "%s %s %d %.1fms", request.method, route, response.status_code, elapsed_ms,
            extra={"endpoint": request.endpoint, "status": response.status_code, "duration_ms": elapsed_ms,
                   "request_id": g.get("request_id"), **webhook_fields()})
    return response


def _teardown(_exc: BaseException | None) -> None:
    token = g.pop("request_id_token", None)
    if token is not None:
        REQUEST_ID.reset(token)


def init_app(app: Flask) -> None:
    """Register first, so that every other hook's lines carry the request id."""
    _listen()
    app.before_request(_start)
    app.after_request(_finish)
    app.teardown_request(_teardown)
