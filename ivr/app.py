"""create_app(): the web process (Twilio webhooks, JSON API, callback form, supervisor pages, health)."""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask

from callbacks.capacity import in_a_thread
from callbacks.clock import SystemClock
from callbacks.db import Database
from callbacks.service import CallbackService
from config import load_contact_centre, load_settings
from ivr.runtime import Runtime, runtime

log = logging.getLogger(__name__)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the web app. `test_config` may override settings (lower-case Settings field names),
    pass `CLOCK`, `CENTRE`, `DATABASE` objects, and any Flask config key."""
    test_config = dict(test_config or {})
    # INSTANCE_PATH (systemd: the unit's state folder) is where `ivr db upgrade` and the worker look as well.
    instance = os.environ.get("INSTANCE_PATH")
    app = Flask(__name__, instance_relative_config=True, instance_path=os.path.abspath(instance) if instance else None)
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
    from telephony.simulator import web as simulator_web

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
    # Mounted only when the built-in simulator plays Twilio's part.
    rt = runtime(app)
    simulator_web.init_app(app, settings=rt.settings, centre=rt.centre, db=rt.db, clock=rt.clock)
    return app
