"""Errors as people and programs should see them: JSON under /api, a page elsewhere, never a stack trace."""

from __future__ import annotations

import logging

from flask import Flask, Response, g, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from callbacks.db import DatabaseUnavailable
from callbacks.errors import CallbackError
from callbacks.i18n import N_
from ivr.web.http import api_error

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 5


def _wants_json() -> bool:
    return request.path.startswith("/api/")


# status -> (title, body), English msgids translated by the page (callbacks/translations).
PAGES = {
    404: (N_("Page not found"), N_("There is no page at this address. Check the link, or ask us to call you back "
                                   "from the form.")),
    405: (N_("This cannot be done here"), N_("This page does not accept that kind of request. Go back and use the "
                                             "page's own buttons.")),
    500: (N_("Something went wrong on our side"), N_("It was not your doing, and we have been told. Please try "
                                                     "again in a moment.")),
    503: (N_("Please try again in a moment"), N_("We cannot take requests right now. Nothing was saved, so please "
                                                 "send it again shortly.")),
}


def error_page(status: int, headers: dict[str, str] | None = None) -> Response:
    """The page for `status` in the site's layout and the reader's language; plain text should even that fail."""
    title, body = PAGES[status]
    try:
        html = render_template("errors/page.html", title_key=title, body_key=body, status=status)
    except Exception:  # the layout itself is broken: the reader still gets an answer, and we a log line
        log.exception("could not render the %d page", status)
        html = {404: "Not found", 405: "Method not allowed", 500: "Something went wrong on our side.",
                503: "Temporarily unavailable; nothing was saved."}[status]
        return Response(html, status=status, mimetype="text/plain", headers=headers)
    return Response(html, status=status, mimetype="text/html", headers=headers)


def init_app(app: Flask) -> None:
    from sqlalchemy.exc import InterfaceError, OperationalError

    @app.errorhandler(CallbackError)
    def _domain_error(exc: CallbackError) -> tuple[Response | str, int]:
        if _wants_json():
            return api_error(exc.status, exc.code, exc.message, exc.field), exc.status
        if exc.code == "invalid_text" and not request.path.startswith("/twilio/"):
            # Refused at the edge before any page's own handling: say it in the reader's language.
            from ivr.web import i18n

            try:
                lang = i18n.current_language()
                return i18n.error_message("invalid_text", lang, exc.message, field=exc.field or ""), exc.status
            except Exception:  # the page language needs the centre; the English message will do
                log.warning("could not translate the refusal of %s", request.path, exc_info=True)
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
            response = error_page(503)
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
    def _http_error(exc: HTTPException) -> ResponseReturnValue:
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
        if exc.code in PAGES:
            allow = dict(exc.get_headers()).get("Allow")
            return error_page(exc.code, {"Allow": allow} if allow else None)
        return exc.get_response()

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> ResponseReturnValue:
        if isinstance(exc, HTTPException):
            return _http_error(exc)
        log.exception("unexpected error on %s %s", request.method, request.path)
        if _wants_json():
            response = api_error(500, "internal_error", "Something went wrong on our side; nothing was saved.")
            response.status_code = 500
            return response
        return error_page(500)
