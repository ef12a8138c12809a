"""The web process's edge: who the client is behind a proxy, inputs the database must never see, security headers.

- TRUSTED_PROXIES: a count applies werkzeug's ProxyFix; addresses/networks believe X-Forwarded-For only when the
  peer is one of them (walking the list from the right past our own proxies). Unset, nobody is believed, so the
  rate limiter keys on the real peer; gunicorn's forwarded_allow_ips follows the same setting.
- Every query parameter, form field, path part and JSON string is checked before any view runs: a NUL or a lone
  surrogate (which PostgreSQL refuses, a 500) is a 422 naming the field; JSON nested deeper than MAX_JSON_DEPTH
  (or deep enough to exhaust Python's recursion) is not JSON at all.
- Security headers on every response (JSON, TwiML, errors), not only on the console's pages.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from itertools import chain
from typing import Any

from flask import Blueprint, Flask, Request, Response
from flask.json.provider import DefaultJSONProvider
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from werkzeug.datastructures import MultiDict
from werkzeug.middleware.proxy_fix import ProxyFix

from callbacks.errors import InvalidRequest
from config.settings import Network, parse_trusted_proxies
from ivr.web.current import current_request

MAX_JSON_DEPTH = 20
# Times outside these bounds are typing mistakes or probes; beyond them, converting to UTC can even overflow.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
UNTRUSTED_FORWARDING = "ivr.untrusted_forwarding"
_HTML_CSP = "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
_DATA_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"


# -- who the client is ---------------------------------------------------------------------------------------
class TrustedNetworks:
    """Believe X-Forwarded-For / -Proto only from peers in `networks` (our proxies)."""

    def __init__(self, app: Callable[..., Any], networks: list[Network]):
        self.app = app
        self.networks = networks

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        peer = environ.get("REMOTE_ADDR", "")
        forwarded = [a.strip() for a in environ.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
        if forwarded and self._trusted(peer):
            client = peer
            for address in reversed(forwarded):  # the rightmost entries were added by our own proxies
                client = address
                if not self._trusted(address):
                    break
            environ["ivr.peer_addr"] = peer
            environ["REMOTE_ADDR"] = client
            proto = environ.get("HTTP_X_FORWARDED_PROTO", "").split(",")[-1].strip().lower()
            if proto in ("http", "https"):
                environ["wsgi.url_scheme"] = proto
        elif forwarded:
            environ[UNTRUSTED_FORWARDING] = True
        return self.app(environ, start_response)


class _MarkUntrusted:
    """No proxies trusted: forwarding headers are ignored, and remembered as a reason to refuse /metrics."""

    def __init__(self, app: Callable[..., Any]):
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("HTTP_X_FORWARDED_FOR") or environ.get("HTTP_FORWARDED"):
            environ[UNTRUSTED_FORWARDING] = True
        return self.app(environ, start_response)


def apply_trusted_proxies(app: Flask, value: str) -> None:
    """Wrap the WSGI app as TRUSTED_PROXIES says (a count, networks, or nobody)."""
    parsed = parse_trusted_proxies(value)
    wsgi: Any = app.wsgi_app
    if isinstance(parsed, int):
        app.wsgi_app = ProxyFix(wsgi, x_for=parsed, x_proto=parsed) if parsed else _MarkUntrusted(wsgi)  # type: ignore[method-assign]
    else:
        app.wsgi_app = TrustedNetworks(wsgi, parsed)  # type: ignore[method-assign]


# -- inputs --------------------------------------------------------------------------------------------------
def bad_text(value: str) -> bool:
    """A NUL or a lone surrogate: nothing a person typed, and nothing PostgreSQL or UTF-8 can store."""
    if "\x00" in value:
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _strings(value: Any) -> Iterator[str]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


class BoundedJSON(DefaultJSONProvider):
    """json.loads that refuses (ValueError, so `get_json(silent=True)` gives None) what is nested too deep."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            data = super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
        if _depth(data) > MAX_JSON_DEPTH:
            raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
        return data


def _refuse(field: str) -> None:
    raise InvalidRequest("invalid_text", f"'{field}' contains a character that is not allowed (NUL or a lone "
                                         "UTF-16 surrogate).", field)


def _bad_field(fields: MultiDict[str, str]) -> str | None:
    """The name of the first field whose name or value is not `bad_text`-clean, if any. Every name and value is
    joined and looked at once first (a NUL or a surrogate stays one when joined): a clean request, the usual one,
    costs a few calls instead of two per field."""
    if not fields or not bad_text("".join(fields.keys()) + "".join(chain.from_iterable(fields.listvalues()))):
        return None
    for name, value in fields.items(multi=True):
        if bad_text(name) or bad_text(value):
            return name
    return None


def check_inputs() -> None:
    """Before any view: every field a client sent is text the database can hold."""
    req = current_request()
    view_args = req.view_args
    if view_args:
        for name, value in view_args.items():
            if isinstance(value, str) and bad_text(value):
                _refuse(name)
    bad = _bad_field(req.args)
    if bad is not None:
        _refuse(bad)
    if req.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        bad = _bad_field(req.form)
        if bad is not None:
            _refuse(bad)
    elif req.is_json and req.content_length:
        data = req.get_json(silent=True)
        if isinstance(data, dict):
            for key, value in data.items():
                if any(bad_text(s) for s in _strings([key, value])):
                    _refuse(str(key) if not bad_text(str(key)) else "body")
        elif data is not None and any(bad_text(s) for s in _strings(data)):
            _refuse("body")


def time_in_range(value: datetime, field: str) -> datetime:
    """`value` (aware) as UTC, or a 422 naming `field` when it is beyond any sane date."""
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise InvalidRequest("time_out_of_range",
                             f"'{field}' must fall between {EARLIEST.year} and {LATEST.year - 1}.", field)
    return value


def whole_number(raw: str, field: str, low: int, high: int) -> int:
    """A decimal integer in [low, high] (ASCII digits only: '²' or '١' are not), else a 422 naming `field`."""
    text = raw.strip()
    digits = text[1:] if text[:1] == "-" else text
    if not digits or not digits.isascii() or not digits.isdecimal() or len(digits) > 19:
        raise InvalidRequest("not_a_number", f"'{field}' must be a whole number.", field)
    number = int(text)
    if not low <= number <= high:
        raise InvalidRequest(f"{field}_out_of_range", f"'{field}' must be between {low} and {high}.", field)
    return number


# -- headers ----------------------------------------------------------------------------------------------------
_COMMON_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
)
_HSTS = ("Strict-Transport-Security", "max-age=31536000")
# The headers wanted, by (an HTML page?, served over HTTPS?), each with its name in lower case: built once.
_WANTED = {
    (html, https): tuple((name.lower(), name, value) for name, value in (
        *_COMMON_HEADERS, ("Content-Security-Policy", _HTML_CSP if html else _DATA_CSP), *((_HSTS,) if https else ())))
    for html in (False, True) for https in (False, True)
}


def security_headers(response: Response, *, https: bool) -> Response:
    """The headers every response carries; pages that set a stricter policy keep theirs."""
    headers = response.headers
    # One look at the names already set, which also finds the content type (`response.mimetype` looks again).
    present: set[str] = set()
    content_type = None
    for name, value in headers:
        lowered = name.lower()
        if lowered == "content-type" and content_type is None:
            content_type = value
        present.add(lowered)
    html = content_type is not None and content_type.split(";")[0].strip() == "text/html"
    for lowered, name, value in _WANTED[html, https]:
        if lowered not in present:
            headers.add(name, value)
    return response


# Blueprints only Twilio calls (signed webhooks): nothing for the rate limiter to count (ivr.web.ratelimit).
# Filled by `twilio_only`.
TWILIO_BLUEPRINTS: set[str] = set()
# Where their webhooks live: no browser behind them, so no session cookie to read or sign (the session is opened
# before the URL is matched to a blueprint, hence the path).
TWILIO_PATH = "/twilio/"
# The JSON API: partners' servers with Bearer keys, no browser session either.
API_PATH = "/api/"


def twilio_only(bp: Blueprint) -> None:
    """Mark `bp` as called by Twilio alone (see TWILIO_BLUEPRINTS)."""
    TWILIO_BLUEPRINTS.add(bp.name)


class BrowserSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie session, except for Twilio's webhooks and the JSON API: a null session there (nothing
    to parse or sign on the busiest requests; a view that wrote to it would fail loudly)."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith((TWILIO_PATH, API_PATH)):
            return None
        return super().open_session(app, request)


def init_app(app: Flask, *, trusted_proxies: str, https: bool) -> None:
    app.json = BoundedJSON(app)
    app.session_interface = BrowserSessions()
    apply_trusted_proxies(app, trusted_proxies)
    app.before_request(check_inputs)

    @app.after_request
    def _headers(response: Response) -> Response:
        return security_headers(response, https=https)


__all__ = [
    "MAX_JSON_DEPTH",
    "TWILIO_BLUEPRINTS",
    "TWILIO_PATH",
    "BoundedJSON",
    "BrowserSessions",
    "TrustedNetworks",
    "apply_trusted_proxies",
    "bad_text",
    "check_inputs",
    "init_app",
    "security_headers",
    "time_in_range",
    "twilio_only",
    "whole_number",
]
