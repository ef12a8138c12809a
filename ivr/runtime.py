"""What every request handler needs, built once per app by `create_app`: settings, configuration, store, clock."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Flask

from callbacks.clock import Clock
from callbacks.db import Database
from callbacks.service import CallbackService
from config import ContactCentre, Settings
from ivr.web.current import current_flask_app

if TYPE_CHECKING:
    from callbacks.spool import Spool


@dataclass
class Runtime:
    settings: Settings
    centre: ContactCentre
    db: Database
    clock: Clock
    service: CallbackService
    # The phone tree's disk spool for bookings taken while the database is down (set by the phone tree).
    spool: Spool | None = None
    # The Prometheus registry /metrics serves (set by `ivr.health`).
    metrics_registry: Any = None


def runtime(app: Flask | None = None) -> Runtime:
    """The runtime of `app`, or of the app handling the current request or command."""
    return (app or current_flask_app()).extensions["ivr"]
