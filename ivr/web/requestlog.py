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
from typing import TYPE_CHECKING, Any

from flask import Flask, Request, Response, g, has_request_context
from sqlalchemy import event
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import HTTPException

from callbacks.logs import REQUEST_ID
from callbacks.models import Callback
from ivr.web.current import current_request, request_globals

if TYPE_CHECKING:
    from flask.ctx import _AppCtxGlobals

HEADER = "X-Request-Id"
_ENVIRON_KEY = "HTTP_X_REQUEST_ID"
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


_ids: tuple[str, itertools.count[int]] | None = None


def _forget_ids() -> None:
    global _ids
    _ids = None


# A forked process (a gunicorn worker) draws its own random part: two workers never share an id.
os.register_at_fork(after_in_child=_forget_ids)


def new_request_id() -> str:
    """32 hex digits, unique across processes and restarts: 16 random per process (drawn again after a fork),
    then a counter. Not a uuid4 per request: reading the kernel's randomness for each one showed in profiles."""
    global _ids
    if _ids is None:
        _ids = (secrets.token_hex(8), itertools.count(1))
    return f"{_ids[0]}{next(_ids[1]):016x}"


def _start() -> None:
    state = request_globals()
    # The header as `request.headers` reads it (HTTP_ + upper case), without building the headers' view.
    offered = current_request().environ.get(_ENVIRON_KEY, "")
    request_id = offered if _WELL_FORMED.match(offered) else new_request_id()
    state.request_id = request_id
    state.request_id_token = REQUEST_ID.set(request_id)
    state.request_started = time.perf_counter()


def _webhook_fields(req: Request, state: _AppCtxGlobals, fields: dict[str, Any]) -> None:
    """What a Twilio webhook's line says about its call: call sid and status, attempt id, callback reference
    (each only when known)."""
    if req.path.startswith("/twilio/"):
        try:
            form = req.form
        except HTTPException:  # a body too large or malformed to read: the line says so by its status alone
            form = ImmutableMultiDict()
        # Looked for before being read: a missing field's `get` raises and catches a KeyError.
        call_sid = form.get("CallSid") if "CallSid" in form else None
        if call_sid:
            fields["call_sid"] = call_sid
        call_status = form.get("CallStatus") if "CallStatus" in form else None
        if not call_status and "DialCallStatus" in form:
            call_status = form.get("DialCallStatus")
        if call_status:
            fields["call_status"] = call_status
        args = req.args
        attempt = args.get("attempt", "") if "attempt" in args else ""
        if attempt.isdecimal():
            fields["attempt_id"] = int(attempt)
    callback = state.get("callback_reference")
    if callback is not None:
        fields["callback"] = callback


def _set_default_header(response: Response, name: str, value: str) -> None:
    """`response.headers.setdefault(name, value)` in one pass over the names (setdefault raises and catches a
    KeyError when the header is missing, which it always is here)."""
    lowered = name.lower()
    headers = response.headers
    for present, _ in headers:
        if present.lower() == lowered:
            return
    headers.add(name, value)


def _finish(response: Response) -> Response:
    state = request_globals()
    request_id = state.get("request_id")
    _set_default_header(response, HEADER, request_id if request_id is not None else "")
    started = state.get("request_started")
    if started is None:
        return response
    elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
    req = current_request()
    rule = req.url_rule
    # The route's pattern, not the path: a customer's private status link must not end up in the logs.
    route = rule.rule if rule is not None else req.path[:200]
    endpoint = rule.endpoint if rule is not None else None
    status = response.status_code
    level = logging.DEBUG if endpoint in _QUIET_ENDPOINTS and status < 500 else logging.INFO
    if not log.isEnabledFor(level):
        return response
    fields: dict[str, Any] = {"endpoint": endpoint, "status": status, "duration_ms": elapsed_ms,
                              "request_id": request_id}
    _webhook_fields(req, state, fields)
    # Written without a search up the stack for the calling line where logging is set up by us
    # (`callbacks.logs.lean_records`: no format of ours prints it).
    log.log(level, "%s %s %d %.1fms", req.method, route, status, elapsed_ms, extra=fields)
    return response


def _teardown(_exc: BaseException | None) -> None:
    token = request_globals().pop("request_id_token", None)
    if token is not None:
        REQUEST_ID.reset(token)


def init_app(app: Flask) -> None:
    """Register first, so that every other hook's lines carry the request id."""
    _listen()
    app.before_request(_start)
    app.after_request(_finish)
    app.teardown_request(_teardown)
