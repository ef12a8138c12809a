"""The JSON API under /api/v1 (Bearer keys; errors as {"error": {"code", "message", "field"?}})."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import wraps
from itertools import chain
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request, stream_with_context, url_for
from sqlalchemy import select

from callbacks.apikeys import SCOPE_ALL, ApiKeyCache, ApiKeyRevoked, KeyFacts, find_api_key
from callbacks.errors import Conflict, InvalidRequest, NotFound
from callbacks.guard import VerificationRequired, needs_code
from callbacks.models import FINAL_STATUSES, OPEN_STATUSES, Attempt, Callback
from callbacks.serialize import attempt_json, callback_json, event_json
from ivr.runtime import runtime
from ivr.web.edge import time_in_range, whole_number
from ivr.web.http import api_error
from ivr.web.ratelimit import (
    api_key_or_client,
    check_anonymous,
    check_phone,
    limiter,
    per_api_key_limit,
    per_client_limit,
)

bp = Blueprint("api_v1", __name__, url_prefix="/api/v1")
REQUEST_FIELDS = {"phone", "name", "language", "queue", "note", "window_start", "window_end"}
MAX_PAGE = 500
# Internal ids fit PostgreSQL's 32-bit integer; a larger cursor is a client's mistake, not a database error.
MAX_CURSOR = 2**31 - 1


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    return key.strip() if scheme.lower() == "bearer" and key.strip() else None


def _remember(facts: KeyFacts) -> None:
    g.api_key_name = facts.name
    g.api_key_verifies_numbers = facts.verifies_numbers
    g.api_key_id = facts.id
    g.api_key_sees_all = facts.scope == SCOPE_ALL


def require_key(view: Callable[..., Any]) -> Callable[..., Any]:
    """Refuse requests without a valid, unrevoked `Authorization: Bearer <key>` (read in a transaction of its own)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = _bearer()
        if key is None:
            check_anonymous()  # guessing keys or probing costs the client, never a partner with a key
            return _unauthorized("Send the API key as 'Authorization: Bearer <key>'.")
        with runtime().db.session() as session:
            api_key = find_api_key(session, key)
            facts = None if api_key is None else KeyFacts(api_key.id, api_key.name, api_key.scope,
                                                          bool(api_key.verifies_numbers))
        if facts is None:
            check_anonymous()
            return _unauthorized("The API key is not valid or has been revoked.")
        _remember(facts)
        return view(*args, **kwargs)

    return wrapper


def require_key_checked_by_the_view(view: Callable[..., Any]) -> Callable[..., Any]:
    """`require_key` with the key's facts from this process's cache, for a view whose own transaction checks that
    the key is still active (ApiKeyRevoked): one transaction per request instead of two, revocation as prompt."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = _bearer()
        if key is None:
            check_anonymous()
            return _unauthorized("Send the API key as 'Authorization: Bearer <key>'.")
        keys: ApiKeyCache = current_app.extensions["ivr_api_keys"]
        facts = keys.find(key)
        if facts is None:
            check_anonymous()
            return _unauthorized("The API key is not valid or has been revoked.")
        _remember(facts)
        try:
            return view(*args, **kwargs)
        except ApiKeyRevoked:
            keys.forget(facts.id)
            check_anonymous()
            return _unauthorized("The API key is not valid or has been revoked.")

    return wrapper


def _own_only() -> int | None:
    """The key's id when it may see only its own callbacks (scope `own`), else None (scope `all`)."""
    return None if g.api_key_sees_all else int(g.api_key_id)


def _visible(callback: Callback) -> Callback:
    """The callback, or the same 404 as an unknown id when this key may not see it (its existence is not told)."""
    own = _own_only()
    if own is not None and callback.api_key_id != own:
        raise NotFound("callback_not_found", "No callback with that id.", "id")
    return callback


def _unauthorized(message: str) -> Response:
    response = api_error(401, "unauthorized", message)
    response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


def _json_object() -> dict[str, Any]:
    if not request.mimetype or request.mimetype != "application/json":
        raise _ApiAbort(415, "unsupported_media_type", "Send the body as JSON with 'Content-Type: application/json'.")
    data = request.get_json(silent=True)
    if data is None:
        raise _ApiAbort(400, "malformed_json", "The body is not valid JSON.")
    if not isinstance(data, dict):
        raise _ApiAbort(400, "malformed_json", "The body must be a JSON object.")
    return data


class _ApiAbort(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def _parse_time(data: dict[str, Any], field: str) -> datetime | None:
    value = data.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRequest("invalid_time", "Expected an ISO 8601 time such as 2026-11-24T10:00:00+03:30.", field)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        raise InvalidRequest(
            "invalid_time", "Expected an ISO 8601 time such as 2026-11-24T10:00:00+03:30.", field
        ) from None
    if parsed.tzinfo is None:
        raise InvalidRequest("naive_time", "The time needs a timezone offset (e.g. +03:30 or Z).", field)
    return time_in_range(parsed, field)


def _optional_text(data: dict[str, Any], field: str) -> str | None:
    value = data.get(field)
    if value is not None and not isinstance(value, str):
        raise InvalidRequest(f"{field}_not_text", f"'{field}' must be a string.", field)
    return value


@bp.post("/callbacks")
@limiter.limit(per_client_limit)
@require_key_checked_by_the_view  # CallbackService.request checks the key is active in its transaction
@limiter.limit(per_api_key_limit, key_func=api_key_or_client, scope="api-key")
def create_callback() -> tuple[Response, int]:
    """Request a callback; 201 when stored, 200 with the open request when the number already has one."""
    data = _json_object()
    unknown = sorted(set(data) - REQUEST_FIELDS)
    if unknown:
        raise InvalidRequest("unknown_field", f"Unknown field {unknown[0]!r}.", unknown[0])
    if "phone" not in data:
        raise InvalidRequest("phone_missing", "A phone number is required.", "phone")
    rt = runtime()
    phone = rt.service.validate_phone(data["phone"])
    queue = _optional_text(data, "queue")
    if needs_code(rt.centre, queue) and not g.get("api_key_verifies_numbers"):
        raise VerificationRequired(queue or rt.centre.default_queue)
    check_phone(phone)
    result = rt.service.request(
        phone=phone,
        channel="api",
        actor=f"api:{g.api_key_name}",
        queue=queue,
        language=_optional_text(data, "language"),
        name=_optional_text(data, "name"),
        note=_optional_text(data, "note"),
        window_start=_parse_time(data, "window_start"),
        window_end=_parse_time(data, "window_end"),
        api_key_id=g.api_key_id,
    )
    own = _own_only()
    if not result.created and own is not None and result.callback.api_key_id != own:
        # Another channel's open request for this number: say so, but show nothing of it.
        raise Conflict("callback_exists", "This number already has an open callback request in that queue, made "
                                          "elsewhere.", "phone")
    body = callback_json(result.callback)
    if result.created:
        body["status_url"] = rt.settings.public_base_url + url_for("callback_form.status", token=result.status_token)
        response = jsonify(body)
        response.headers["Location"] = url_for(".get_callback", callback_id=result.callback.public_id)
        return response, 201
    return jsonify(body), 200


@bp.get("/callbacks/<callback_id>")
@require_key
@limiter.limit(per_api_key_limit, key_func=api_key_or_client, scope="api-key")
def get_callback(callback_id: str) -> Response:
    """One callback with its history and attempts."""
    rt = runtime()
    callback = _visible(rt.service.get(callback_id))
    body = callback_json(callback)
    body["history"] = [event_json(e) for e in rt.service.history(callback)]
    with rt.db.session() as session:
        attempts = session.scalars(select(Attempt).where(Attempt.callback_id == callback.id).order_by(Attempt.number))
        body["attempts"] = [attempt_json(a) for a in attempts]
    return jsonify(body)


@bp.post("/callbacks/<callback_id>/cancel")
@require_key
@limiter.limit(per_api_key_limit, key_func=api_key_or_client, scope="api-key")
def cancel_callback(callback_id: str) -> Response:
    reason = "canceled through the API"
    if request.content_length:
        data = _json_object()
        unknown = sorted(set(data) - {"reason"})
        if unknown:
            raise InvalidRequest("unknown_field", f"Unknown field {unknown[0]!r}.", unknown[0])
        reason = _optional_text(data, "reason") or reason
        if len(reason) > 500:
            raise InvalidRequest("reason_too_long", "The reason is longer than 500 characters.", "reason")
    _visible(runtime().service.get(callback_id))
    callback = runtime().service.cancel(callback_id, actor=f"api:{g.api_key_name}", reason=reason)
    return jsonify(callback_json(callback))


def _query_time(name: str) -> datetime | None:
    return _parse_time({name: request.args[name]}, name) if name in request.args else None


@bp.get("/callbacks")
@require_key
@limiter.limit(per_api_key_limit, key_func=api_key_or_client, scope="api-key")
def list_callbacks() -> Response:
    """Callbacks requested in [since, until), filtered by status and queue, in pages."""
    known = {"status", "since", "until", "queue", "limit", "cursor"}
    unknown = sorted(set(request.args) - known)
    if unknown:
        raise InvalidRequest("unknown_parameter", f"Unknown query parameter {unknown[0]!r}.", unknown[0])
    statuses = [s for s in request.args.get("status", "").split(",") if s]
    bad = [s for s in statuses if s not in (*OPEN_STATUSES, *FINAL_STATUSES)]
    if bad:
        raise InvalidRequest(
            "unknown_status", f"Unknown status {bad[0]!r}; expected {list(OPEN_STATUSES + FINAL_STATUSES)}.", "status"
        )
    limit = whole_number(request.args.get("limit", "100"), "limit", 1, MAX_PAGE)
    cursor = whole_number(request.args["cursor"], "cursor", 0, MAX_CURSOR) if "cursor" in request.args else None
    since, until = _query_time("since"), _query_time("until")
    rows = runtime().service.list(
        status=statuses or None, since=since, until=until, queue=request.args.get("queue"), limit=limit,
        after_id=cursor, api_key_id=_own_only(),
    )
    next_cursor = str(rows[-1].id) if len(rows) == limit else None
    return jsonify({"callbacks": [callback_json(c) for c in rows], "next_cursor": next_cursor})


@bp.get("/reports/missed")
@require_key
@limiter.limit(per_api_key_limit, key_func=api_key_or_client, scope="api-key")
def missed_report() -> Response:
    """Missed callbacks with their reasons, for [since, until) by deadline, streamed (never loaded whole)."""
    from callbacks.reports import missed_rows

    known = {"since", "until", "queue", "reason"}
    unknown = sorted(set(request.args) - known)
    if unknown:
        raise InvalidRequest("unknown_parameter", f"Unknown query parameter {unknown[0]!r}.", unknown[0])
    # Parse everything, and read the first batch, before the first byte goes out: a bad parameter or an unreachable
    # database must still be a 422 or a 503, not a 200 whose stream breaks off.
    rows = missed_rows(
        runtime().db,
        since=_query_time("since"),
        until=_query_time("until"),
        queue=request.args.get("queue"),
        reason=request.args.get("reason"),
        api_key_id=_own_only(),
    )
    first = next(rows, None)

    def body() -> Iterator[str]:
        yield '{"missed": ['
        count = 0
        for row in chain([first] if first is not None else [], rows):
            yield ("," if count else "") + json.dumps(row, ensure_ascii=False)
            count += 1
        yield f'], "count": {count}}}'

    return Response(stream_with_context(body()), mimetype="application/json")


@bp.get("/openapi.json")
def openapi() -> Response:
    check_anonymous()
    from ivr.api.openapi import spec

    return jsonify(spec(runtime().settings.public_base_url))


@bp.errorhandler(_ApiAbort)
def _abort(exc: _ApiAbort) -> Response:
    return api_error(exc.status, exc.code, exc.message, exc.field)


def init_app(app: Flask) -> None:
    rt = runtime(app)
    app.extensions["ivr_api_keys"] = ApiKeyCache(rt.db, rt.clock)
    app.register_blueprint(bp)
