"""Only Twilio gets in: every `/twilio/*` view sits behind `twilio_signed`.

The URL is rebuilt from PUBLIC_BASE_URL (what Twilio was told to call), never from the Host header, so the
check holds behind a TLS-terminating proxy and a forged Host cannot help an attacker. During rotation a
request signed with either the primary or the secondary auth token is accepted.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Request, abort, request
from twilio.request_validator import HMAC_SHA1, RequestValidator, get_signature_algorithm
from werkzeug.datastructures import MultiDict

from ivr.runtime import runtime
from ivr.web.current import current_request

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
SIGNATURE_HEADER = "X-Twilio-Signature"
_SIGNATURE_KEY = "HTTP_X_TWILIO_SIGNATURE"
_SETTINGS_KEY = "HTTP_X_TWILIO_WEBHOOKS_SIGNATURE_SETTINGS"


def public_url(req: Request, base_url: str) -> str:
    """The URL Twilio signed: our public base, the path, and the query string exactly as sent."""
    query = req.query_string.decode("latin-1")
    return f"{base_url.rstrip('/')}{req.path}" + (f"?{query}" if query else "")


def _signed_text(url: str, params: Any) -> bytes:
    """What Twilio signs: the URL, then each form field's name and value, sorted (as the twilio library does)."""
    text = url
    if isinstance(params, MultiDict):
        # A form: each name with its list of values, read in one pass (a name's one value needs no sorting).
        for name, values in sorted(zip(params.keys(), params.listvalues(), strict=True)):
            if len(values) == 1:
                text += name + values[0]
            else:
                for value in sorted(set(values)):
                    text += name + value
        return text.encode("utf-8")
    for name in sorted(set(params)):
        values = params.getlist(name) if hasattr(params, "getlist") else [params[name]]
        for value in sorted(set(values)):
            text += name + value
    return text.encode("utf-8")


def _quick_match(url: str, params: Any, signature: str, tokens: list[str]) -> bool:
    """HMAC-SHA1 over the URL exactly as we rebuilt it, compared in constant time: the usual request costs one
    HMAC per token instead of the library's two (with and without a port) and its URL parsing."""
    expected = signature.encode("ascii", "replace")
    message = _signed_text(url, params)
    for token in tokens:
        if token:
            # Not the one-shot hmac.digest: it lets go of the GIL even for a message this short, and the journey
            # writer's thread then holds the request up in the middle of its check.
            mac = base64.b64encode(hmac.new(token.encode("utf-8"), message, hashlib.sha1).digest())
            if hmac.compare_digest(mac, expected):
                return True
    return False


def is_valid(req: Request, base_url: str, tokens: list[str]) -> bool:
    """True when `req` carries a signature made with one of `tokens` over its public URL and form."""
    # The headers as `req.headers` reads them (HTTP_ + upper case), without building the headers' view.
    environ = req.environ
    signature = environ.get(_SIGNATURE_KEY, "")
    if not signature or len(signature) > 200:
        return False
    algorithm = get_signature_algorithm(environ.get(_SETTINGS_KEY, ""))
    url = public_url(req, base_url)
    params = req.form if req.method == "POST" else {}
    if algorithm == HMAC_SHA1 and _quick_match(url, params, signature, tokens):
        return True
    # Everything else (the URL signed with or without its port, other algorithms) as the library checks it.
    for token in tokens:
        if token and RequestValidator(token).validate(url, params, signature, algorithm=algorithm):
            return True
    return False


def twilio_signed(view: F) -> F:
    """Refuse (403, nothing done) any request not signed by Twilio with our primary or secondary token."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        settings = runtime().settings
        tokens = [settings.twilio_auth_token, settings.twilio_secondary_auth_token]
        if not any(tokens):
            log.error(
                "refusing %s: TWILIO_AUTH_TOKEN is not set, so no request can be proved to come from Twilio",
                request.path,
            )
            abort(403)
        if not is_valid(current_request(), settings.public_base_url, tokens):
            log.warning("refusing %s %s: bad or missing %s", request.method, request.path, SIGNATURE_HEADER)
            abort(403)
        return view(*args, **kwargs)

    return cast(F, wrapper)  # functools.wraps keeps the view's signature


__all__ = ["SIGNATURE_HEADER", "is_valid", "public_url", "twilio_signed"]
