"""Shared HTTP shapes: the API's fixed error body."""

from __future__ import annotations

from flask import Response, jsonify


def api_error(status: int, code: str, message: str, field: str | None = None) -> Response:
    """`{"error": {"code", "message", "field"?}}` with `status`."""
    body: dict[str, object] = {"code": code, "message": message}
    if field:
        body["field"] = field
    response = jsonify({"error": body})
    response.status_code = status
    return response
