"""Liveness, readiness and metrics."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app, jsonify
from sqlalchemy import text

from callbacks.db import head_revision

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """The process is alive (says nothing about the database)."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Ready when the database answers and its schema is at our newest migration."""
    db = current_app.extensions["ivr"].db
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        current = db.schema_revision()
    except Exception as exc:  # any failure to reach the database means "not ready"
        return jsonify({"status": "unavailable", "database": f"unreachable: {type(exc).__name__}"}), 503
    expected = head_revision()
    if current != expected:
        return jsonify(
            {"status": "unavailable", "database": "schema not current", "schema": current, "expected": expected}
        ), 503
    return jsonify({"status": "ok", "database": "ok", "schema": current}), 200


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
