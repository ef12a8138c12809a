"""The objects behind Flask's `request`, `g` and `current_app` proxies, for the code every request runs.

Each attribute read through one of the proxies costs five Python calls (werkzeug's LocalProxy finds the object
again every time): a hook that reads the request ten times pays fifty. As werkzeug's documentation advises, the
per-request hooks take the object once and read it directly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from flask import current_app, g, request

if TYPE_CHECKING:
    from flask import Flask, Request
    from flask.ctx import _AppCtxGlobals

# The proxies' own look-ups, bound once (each call: one context-variable read).
current_request: Callable[[], Request] = cast(Any, request)._get_current_object
request_globals: Callable[[], _AppCtxGlobals] = cast(Any, g)._get_current_object
current_flask_app: Callable[[], Flask] = cast(Any, current_app)._get_current_object

__all__ = ["current_flask_app", "current_request", "request_globals"]
