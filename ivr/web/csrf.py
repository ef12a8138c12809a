"""CSRF tokens on the HTML areas' forms: Flask-WTF's tokens and checks, imported by the first page that shows or
checks one. Flask-WTF brings WTForms and Babel with it (about 40 modules, 1.4 MiB); a web process that
answers only Twilio and the API never needs them.

Only the HTML blueprints check tokens, each in its own before_request: the JSON API and Twilio's webhooks must never
ask for one, so Flask-WTF's app-wide check (CSRFProtect.init_app) is not installed at all.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from flask import Flask

if TYPE_CHECKING:
    from flask_wtf.csrf import CSRFProtect


def init_app(app: Flask) -> None:
    """Flask-WTF's defaults for what `refusal()` reads (as CSRFProtect.init_app sets them), and `csrf_token()` in
    templates."""
    app.config.setdefault("WTF_CSRF_ENABLED", True)
    app.config["WTF_CSRF_METHODS"] = set(app.config.get("WTF_CSRF_METHODS", ["POST", "PUT", "PATCH", "DELETE"]))
    app.config.setdefault("WTF_CSRF_FIELD_NAME", "csrf_token")
    app.config.setdefault("WTF_CSRF_HEADERS", ["X-CSRFToken", "X-CSRF-Token"])
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", 3600)
    app.config.setdefault("WTF_CSRF_SSL_STRICT", True)
    app.jinja_env.globals.setdefault("csrf_token", generate_csrf)


@functools.cache
def _protector() -> CSRFProtect:
    from flask_wtf.csrf import CSRFProtect

    return CSRFProtect()


def generate_csrf() -> str:
    """This session's token, made on first use (Flask-WTF's generate_csrf)."""
    from flask_wtf.csrf import generate_csrf as generate

    return str(generate())


def refusal() -> str | None:
    """Why this request's token is refused (an unsafe method without a valid token; on HTTPS, a Referer from
    another site), or None when it is accepted or not needed."""
    from flask_wtf.csrf import CSRFError

    try:
        _protector().protect()
    except CSRFError as exc:
        return str(exc.description)
    return None


def is_valid(token: str) -> bool:
    """`token` (from a form field or a header) is this session's and has not expired."""
    from flask_wtf.csrf import validate_csrf
    from wtforms.validators import ValidationError

    try:
        validate_csrf(token)
    except ValidationError:
        return False
    return True
