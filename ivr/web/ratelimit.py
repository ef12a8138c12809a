"""Abuse limits (Flask-Limiter over the `limits` package): per client address, per API key, per phone number.

Storage is memory:// for one process and Redis (RATELIMIT_STORAGE_URL=redis://...) when several share limits.
"""

from __future__ import annotations

import math
import time
from functools import partial, wraps
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import parse

from callbacks.errors import CallbackError
from ivr.runtime import runtime
from ivr.web.current import current_request
from ivr.web.edge import TWILIO_BLUEPRINTS, twilio_only
from ivr.web.http import api_error


class RateLimited(CallbackError):
    status = 429

    def __init__(self, message: str, retry_after: int, field: str | None = "phone"):
        super().__init__("rate_limited", message, field)
        self.retry_after = retry_after


def client_key() -> str:
    """The client's address: behind a reverse proxy, the real one when TRUSTED_PROXIES names it (`ivr.web.edge`);
    otherwise every client behind it would share the proxy's bucket."""
    return get_remote_address()


def api_key_or_client() -> str:
    key = getattr(g, "api_key_name", None)
    return f"key:{key}" if key else f"ip:{client_key()}"


limiter = Limiter(
    key_func=client_key,
    headers_enabled=True,
    # A broken Redis must not take the callback line down with it: fall back to per-process memory.
    in_memory_fallback_enabled=True,
    swallow_errors=True,
)


def exempt_twilio_blueprint(bp: Blueprint) -> None:
    """`bp` is called by Twilio alone: never counted, no browser session (ivr.web.edge.twilio_only)."""
    limiter.exempt(bp)
    twilio_only(bp)


def per_client_limit() -> str:
    return runtime().centre.limits.per_client


def per_api_key_limit() -> str:
    return runtime().centre.limits.api_per_key


# API requests without a valid key (guessing keys, probing): per client address, well below a partner's own limit.
UNAUTHENTICATED_API_LIMIT = "30 per minute"


def unauthenticated_api_limit() -> str:
    return str(current_app.config.get("API_UNAUTHENTICATED_RATE", UNAUTHENTICATED_API_LIMIT))


def _hit(limit: str, kind: str, key: str, message: str, field: str | None) -> None:
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return
    item = parse(limit)
    strategy = limiter.limiter
    scope = (current_app.config.get("RATELIMIT_KEY_PREFIX") or "ivr", kind, key)
    if not strategy.hit(item, *scope):
        reset_at, _ = strategy.get_window_stats(item, *scope)
        retry_after = max(1, math.ceil(reset_at - time.time()))
        raise RateLimited(message, retry_after, field)


def check_phone(e164: str) -> None:
    """Count one request for this number; raise RateLimited when over the configured per-phone limit."""
    _hit(runtime().centre.limits.per_phone, "phone", e164,
         "Too many callback requests for this number; please try again later.", "phone")


def check_anonymous() -> None:
    """Count one API request without a valid key from this client; RateLimited when over the limit."""
    _hit(unauthenticated_api_limit(), "api-anonymous", client_key(),
         "Too many requests without a valid API key from this address; please try again later.", None)


def init_app(app: Flask) -> None:
    # Said explicitly: the limiter is one object for every app of the process, and would otherwise keep the last
    # app's RATELIMIT_ENABLED=False for the next one.
    app.config.setdefault("RATELIMIT_ENABLED", True)
    limiter.init_app(app)
    _not_for_twilio(app)

    @app.errorhandler(RateLimited)
    def _limited(exc: RateLimited) -> Response:
        if request.path.startswith("/api/"):
            response = api_error(429, exc.code, exc.message, exc.field)
        else:
            from flask import make_response

            response = make_response(exc.message, 429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response


def _not_for_twilio(app: Flask) -> None:
    """The limiter's own hooks (before, after and teardown of every request) skip Twilio's webhooks: they are never
    limited (a caller must never hear a rate limit), and resolving that on each of them cost more than the webhook's
    own work. Decorated limits elsewhere are untouched (they are checked by their decorators)."""

    def owned(hook: Any) -> bool:
        return (getattr(hook, "__self__", None) is limiter
                or (isinstance(hook, partial) and hook.args[:1] == (limiter,)))

    def skipping(hook: Any) -> Any:
        @wraps(hook)
        def guarded(*args: Any) -> Any:
            if current_request().blueprint in TWILIO_BLUEPRINTS:
                return args[0] if args and isinstance(args[0], Response) else None
            return hook(*args)

        return guarded

    registries: list[dict[Any, list[Any]]] = [app.before_request_funcs, app.after_request_funcs,
                                              app.teardown_request_funcs]
    for hooks in registries:
        funcs = hooks.get(None, [])
        funcs[:] = [skipping(f) if owned(f) else f for f in funcs]
