"""create_app(): the web process (Twilio webhooks, JSON API, callback form, supervisor pages, health)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from inspect import CO_COROUTINE
from types import FunctionType
from typing import Any

from flask import Flask

from callbacks.capacity import in_a_thread
from callbacks.clock import SystemClock
from callbacks.db import Database
from callbacks.service import CallbackService
from config import load_contact_centre, load_settings
from ivr.runtime import Runtime, runtime
from ivr.web.request import WebRequest

log = logging.getLogger(__name__)


class WebApp(Flask):
    """Flask, with a cheaper answer to "is this hook or view a coroutine function?", and query strings and
    URL-encoded forms decoded by one loop of ours (`ivr.web.request`)."""

    request_class = WebRequest

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """A plain `def` is returned as it is, decided from its code flags. Flask asks `inspect` on every call of
        every hook and view (fifteen times per webhook, eight Python calls each); anything else (a method, a
        partial, an `async def`, a function marked as a coroutine function) still goes through Flask."""
        if (type(func) is FunctionType and not func.__code__.co_flags & CO_COROUTINE
                and "_is_coroutine_marker" not in func.__dict__):
            return func
        return super().ensure_sync(func)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the web app. `test_config` may override settings (lower-case Settings field names),
    pass `CLOCK`, `CENTRE`, `DATABASE` objects, and any Flask config key."""
    test_config = dict(test_config or {})
    # INSTANCE_PATH (systemd: the unit's state folder) is where `ivr db upgrade` and the worker look as well.
    instance = os.environ.get("INSTANCE_PATH")
    app = WebApp(__name__, instance_relative_config=True, instance_path=os.path.abspath(instance) if instance else None)
    overrides = {k: test_config.pop(k) for k in list(test_config) if k.islower()}
    overrides.setdefault("instance_path", app.instance_path)
    settings = load_settings(**overrides)
    centre = test_config.pop("CENTRE", None) or load_contact_centre(settings.ivr_config)
    clock = test_config.pop("CLOCK", None) or SystemClock()
    db = test_config.pop("DATABASE", None) or Database(settings.resolved_database_url())
    app.config.from_mapping(
        SECRET_KEY=settings.resolved_secret_key(),
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_base_url.startswith("https://"),
        JSON_SORT_KEYS=False,
        RATELIMIT_STORAGE_URI=settings.ratelimit_storage_url,
    )
    app.config.update(test_config)
    # The backlog's reading for quotes is refreshed off the request in production (tests: inline, deterministic).
    service = CallbackService(db, centre, clock, background=None if app.testing else in_a_thread)
    app.extensions["ivr"] = Runtime(settings=settings, centre=centre, db=db, clock=clock, service=service)

    from ivr import health
    from ivr.api import views as api
    from ivr.form import views as form
    from ivr.phone import outbound as status
    from ivr.phone import webhooks as voice
    from ivr.supervisor import views as supervisor
    from ivr.web import edge, errors, ratelimit, requestlog

    requestlog.init_app(app)  # first: every other hook's log lines carry the request id
    errors.init_app(app)
    edge.init_app(app, trusted_proxies=settings.trusted_proxies, https=settings.public_base_url.startswith("https://"))
    ratelimit.init_app(app)
    health.init_app(app)
    api.init_app(app)
    form.init_app(app)
    supervisor.init_app(app)
    voice.init_app(app)
    status.init_app(app)
    # Mounted only when the built-in simulator plays Twilio's part (and only then imported: the engine and its
    # softphone are about 2 MiB a process).
    rt = runtime(app)
    if rt.settings.telephony_provider == "simulator":
        from telephony.simulator import web as simulator_web

        simulator_web.init_app(app, settings=rt.settings, centre=rt.centre, db=rt.db, clock=rt.clock)
    return app
