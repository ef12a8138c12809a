"""Domain errors, each with a stable code for API clients and a message for people."""

from __future__ import annotations


class CallbackError(Exception):
    """Base class: `code` is stable, `message` readable, `field` names the input at fault."""

    status = 400

    def __init__(self, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


class InvalidRequest(CallbackError):
    """An input value is not acceptable."""

    status = 422


class NotFound(CallbackError):
    status = 404


class Conflict(CallbackError):
    """The request is valid but the callback's state does not allow it (e.g. cancel a completed callback)."""

    status = 409
