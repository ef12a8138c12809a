"""Errors as people and programs should see them: JSON under /api, a page elsewhere, never a stack trace."""

from __future__ import annotations

import logging

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from callbacks.db import DatabaseUnavailable
from callbacks.errors import CallbackError
from ivr.web.http import api_error

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 5


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def init_app(app: Flask) -> None:
    from sqlalchemy.exc import InterfaceError, OperationalError

    @app.errorhandler(CallbackError)
    def _domain_error(exc: CallbackError) -> tuple[Response | str, int]:
        if _wants_json():
            return api_error(exc.status, exc.code, exc.message, exc.field), exc.status
        return exc.message, exc.status

    @app.errorhandler(DatabaseUnavailable)
    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def _database_down(exc: Exception) -> Response:
        log.error("database unavailable on %s %s: %s", request.method, request.path, exc)
        if _wants_json():
            response = api_error(
                503, "database_unavailable", "The service cannot store requests right now; nothing was saved."
            )
        else:
            response = Response(
                "<!doctype html><title>Temporarily unavailable</title>"
                "<p>We cannot take requests for a moment; nothing was saved. Please try again shortly.</p>",
                status=503,
                mimetype="text/html",
            )
        response.status_code = 503
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        g.retry_after = RETRY_AFTER_SECONDS
        return response

    # Registered before the rate limiter's hook, so it runs after it: Flask-Limiter would otherwise replace a
    # 503's short Retry-After with its own window reset time, telling clients to wait far longer than needed.
    @app.after_request
    def _keep_retry_after(response: Response) -> Response:
        if response.status_code == 503 and "Retry-After" in response.headers:
            response.headers["Retry-After"] = str(g.get("retry_after", RETRY_AFTER_SECONDS))
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        if _wants_json():
            code = {
                400: "bad_request",
                401: "unauthorized",
                403: "forbidden",
                404: "not_found",
                405: "method_not_allowed",
                409: "conflict",
                413: "body_too_large",
                415: "unsupported_media_type",
                429: "rate_limited",
            }.get(exc.code or 500, "error")
            response = api_error(exc.code or 500, code, exc.description or exc.name)
            for header in ("Retry-After", "Allow", "WWW-Authenticate"):
                value = dict(exc.get_headers()).get(header)
                if value:
                    response.headers[header] = value
            if exc.code == 429 and "Retry-After" not in response.headers:
                response.headers["Retry-After"] = "60"
            return response
        return exc.get_response()

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        if isinstance(exc, HTTPException):
            return _http_error(exc)
        log.exception("unexpected error on %s %s", request.method, request.path)
        if _wants_json():
            response = api_error(500, "internal_error", "Something went wrong on our side; nothing was saved.")
            response.status_code = 500
            return response
        return Response("Something went wrong on our side.", status=500, mimetype="text/plain")
