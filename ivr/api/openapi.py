"""The served OpenAPI 3.1 description of /api/v1 (tests validate real responses against it)."""

from __future__ import annotations

from typing import Any

from callbacks.models import FINAL_STATUSES, OPEN_STATUSES

_TIME = {"type": "string", "format": "date-time"}
_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
_NULLABLE_TEXT = {"type": ["string", "null"]}
STATUSES = list(OPEN_STATUSES + FINAL_STATUSES)


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _errors(*codes: int, conflict: str = "The callback's state does not allow this") -> dict[str, Any]:
    text = {
        400: "Malformed JSON (or nested deeper than 20 levels) or query",
        401: "Missing or invalid API key",
        404: "No such callback, or one this key's scope does not see (the same answer: its existence is not told)",
        409: conflict,
        413: "Body too large",
        415: "Body is not JSON",
        422: "A field is invalid (also: a NUL or lone surrogate in any text, a time outside 2000-2199, a number "
             "out of range); `field` names it",
        429: "Rate limited (per key; requests without a valid key, per client address); see Retry-After",
        503: "Database unavailable; nothing was saved; see Retry-After",
    }
    return {str(c): _error_response(text[c]) for c in codes}


KEY_AUTH: list[dict[str, list[str]]] = [{"bearer": []}]
OK_CALLBACK = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Callback"}}}}
TIME_PARAM = {"schema": {"type": "string", "format": "date-time"}, "in": "query", "required": False,
              "description": "ISO 8601 with an offset, between 2000 and 2199"}
ID_PARAM = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}


def spec(server_url: str) -> dict[str, Any]:
    """The whole description, served at /api/v1/openapi.json."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Callback API",
            "version": "1.0.0",
            "description": "Request, follow and cancel customer callbacks. Every request needs "
            "`Authorization: Bearer <key>` (create one with `ivr api-key create NAME --scope own|all`). A key with "
            "the `own` scope (the default) sees, lists, reports on and cancels only the callbacks requested with "
            "it; another's callback answers 404 as if it did not exist. A key with the `all` scope sees every "
            "channel's callbacks (keys made before scopes existed have `all`). Requests without a valid key are "
            "rate limited per client address. Text fields never accept NUL or lone UTF-16 surrogates; times must "
            "carry an offset and fall between 2000 and 2199.",
        },
        "servers": [{"url": server_url + "/api/v1"}],
        "security": KEY_AUTH,
        "paths": {
            "/callbacks": _callbacks_path(),
            "/callbacks/{id}": _callback_path(),
            "/callbacks/{id}/cancel": _cancel_path(),
            "/reports/missed": _missed_report_path(),
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": _schemas(),
        },
    }


def _callbacks_path() -> dict[str, Any]:
    """Request a callback, and list callbacks."""
    return {
        "post": {
            "operationId": "createCallback",
            "summary": "Request a callback (one open request per number and queue)",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CallbackRequest"}}},
            },
            "responses": {
                "201": {"description": "Stored; the deadline is the promise", **OK_CALLBACK},
                "200": {"description": "The number already has an open request in that queue (made with "
                        "this key, or any request for an `all` key)", **OK_CALLBACK},
                **_errors(400, 401, 409, 413, 415, 422, 429, 503,
                          conflict="`do_not_call`: the number asked never to be called by us; nothing was "
                          "stored. `own` key: the number has an open request in that queue made elsewhere "
                          "(nothing of it is shown); `field` is phone"),
                "403": _error_response(
                    "`number_not_verified`: the queue needs proof that the customer owns the number "
                    "(`verify: sms`); only keys created with `--verifies-numbers` may request for it"),
            },
        },
        "get": {
            "operationId": "listCallbacks",
            "summary": "Callbacks requested in [since, until) (an `own` key: only its own)",
            "parameters": [
                {
                    "name": "status",
                    "in": "query",
                    "required": False,
                    "description": "Comma-separated statuses",
                    "schema": {"type": "string"},
                },
                {"name": "since", **TIME_PARAM},
                {"name": "until", **TIME_PARAM},
                {"name": "queue", "in": "query", "required": False, "schema": {"type": "string"}},
                {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100},
                },
                {"name": "cursor", "in": "query", "required": False,
                 "description": "next_cursor of the previous page: a whole number from 0 to 2147483647",
                 "schema": {"type": "string", "pattern": "^[0-9]{1,10}$"}},
            ],
            "responses": {
                "200": {
                    "description": "A page of callbacks; pass next_cursor as cursor for the next page",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["callbacks", "next_cursor"],
                                "additionalProperties": False,
                                "properties": {
                                    "callbacks": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/Callback"},
                                    },
                                    "next_cursor": _NULLABLE_TEXT,
                                },
                            }
                        }
                    },
                },
                **_errors(400, 401, 422, 429, 503),
            },
        },
    }


def _callback_path() -> dict[str, Any]:
    """One callback."""
    return {
        "parameters": [ID_PARAM],
        "get": {
            "operationId": "getCallback",
            "summary": "One callback with its history and attempts",
            "responses": {"200": {"description": "The callback", **OK_CALLBACK},
                          **_errors(401, 404, 422, 429, 503)},
        },
    }


def _cancel_path() -> dict[str, Any]:
    """Cancel a callback."""
    return {
        "parameters": [ID_PARAM],
        "post": {
            "operationId": "cancelCallback",
            "summary": "Cancel an open callback (repeating the call is harmless)",
            "requestBody": {
                "required": False,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {"reason": {"type": "string", "maxLength": 500}},
                        }
                    }
                },
            },
            "responses": {
                "200": {"description": "Canceled", **OK_CALLBACK},
                **_errors(400, 401, 404, 409, 415, 422, 429, 503),
            },
        },
    }


def _missed_report_path() -> dict[str, Any]:
    """The missed-callback report (streamed)."""
    return {
        "get": {
            "operationId": "missedReport",
            "summary": "Missed callbacks with reasons, by deadline in [since, until) (an `own` key: only its "
            "own); every parameter is checked before the first byte is sent",
            "parameters": [
                {"name": "since", **TIME_PARAM},
                {"name": "until", **TIME_PARAM},
                {"name": "queue", "in": "query", "required": False, "schema": {"type": "string"}},
                {"name": "reason", "in": "query", "required": False, "schema": {"type": "string"}},
            ],
            "responses": {
                "200": {
                    "description": "The missed callbacks",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["missed", "count"],
                                "properties": {
                                    "missed": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/MissedRow"},
                                    },
                                    "count": {"type": "integer"},
                                },
                            }
                        }
                    },
                },
                **_errors(400, 401, 422, 429, 503),
            },
        }
    }


def _callback_schema() -> dict[str, Any]:
    """A callback as every answer shows it."""
    return {
        "type": "object",
        "required": ["id", "reference", "status", "phone", "queue", "language", "requested_at", "deadline_at"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string"},
            "reference": {"type": "string", "description": "Short code read to the customer"},
            "status": {"type": "string", "enum": STATUSES},
            "phone": {"type": "string", "description": "E.164", "pattern": r"^\+[1-9]\d{1,14}$"},
            "name": _NULLABLE_TEXT,
            "language": {"type": "string"},
            "queue": {"type": "string"},
            "note": _NULLABLE_TEXT,
            "channel": {"type": "string", "enum": ["phone", "web", "api", "supervisor"]},
            "requested_at": _TIME,
            "window_start": _NULLABLE_TIME,
            "window_end": _NULLABLE_TIME,
            "deadline_at": {**_TIME, "description": "The promised time: the callback is owed before this. The "
                            "queue's SLA when the capacity forecast keeps it, else an honest later time"},
            "sla_deadline_at": {**_NULLABLE_TIME, "description": "What the queue's SLA alone would have promised"},
            "deadline_from": {"type": ["string", "null"], "enum": ["sla", "forecast", "window", "ceiling", None],
                              "description": "sla, forecast (the SLA could not be kept), window (the customer's "
                              "own), ceiling (overloaded: the customer was told so)"},
            "overloaded": {"type": "boolean", "description": "The centre was overloaded when the request came"},
            "next_attempt_at": _NULLABLE_TIME,
            "attempts_made": {"type": "integer", "minimum": 0},
            "at_risk": {"type": "boolean"},
            "ended_at": _NULLABLE_TIME,
            "end_reason": _NULLABLE_TEXT,
            "status_url": {"type": "string", "description": "The customer's status page (only in the 201 answer)"},
            "history": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}},
            "attempts": {"type": "array", "items": {"$ref": "#/components/schemas/Attempt"}},
        },
    }


def _schemas() -> dict[str, Any]:
    """The request and answer bodies the paths refer to."""
    return {
        "CallbackRequest": {
            "type": "object",
            "required": ["phone"],
            "additionalProperties": False,
            "properties": {
                "phone": {
                    "type": "string",
                    "description": "Any common format; national numbers use the configured region",
                    "maxLength": 64,
                },
                "name": {"type": "string", "maxLength": 120},
                "language": {"type": "string"},
                "queue": {"type": "string"},
                "note": {"type": "string", "maxLength": 1000},
                "window_start": {**_TIME, "description": "Earliest time the customer wants the call"},
                "window_end": {**_TIME, "description": "Latest time; becomes the deadline when earlier"},
            },
        },
        "Callback": _callback_schema(),
        "Event": {
            "type": "object",
            "properties": {
                "at": _TIME,
                "kind": {"type": "string"},
                "from_status": _NULLABLE_TEXT,
                "to_status": _NULLABLE_TEXT,
                "actor": {"type": "string"},
                "reason": _NULLABLE_TEXT,
                "details": {"type": "object"},
            },
        },
        "Attempt": {
            "type": "object",
            "properties": {
                "number": {"type": "integer"},
                "state": {"type": "string"},
                "outcome": _NULLABLE_TEXT,
                "created_at": _TIME,
                "answered_at": _NULLABLE_TIME,
                "ended_at": _NULLABLE_TIME,
                "talk_seconds": {"type": ["number", "null"]},
                "error_code": _NULLABLE_TEXT,
                "error_message": _NULLABLE_TEXT,
            },
        },
        "MissedRow": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "reference": {"type": "string"},
                "queue": {"type": "string"},
                "phone": {"type": "string", "description": "masked"},
                "requested_at": _TIME,
                "deadline_at": _TIME,
                "missed_at": _NULLABLE_TIME,
                "attempts_made": {"type": "integer"},
                "reason": _NULLABLE_TEXT,
            },
        },
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "additionalProperties": False,
                    "properties": {
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "field": {"type": "string"},
                    },
                }
            },
        },
    }
