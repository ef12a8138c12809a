"""The floor under the callback API's create: Flask and SQLAlchemy (the stack the product is built on), one request
read as JSON, one INSERT of a callback row, one COMMIT, a JSON answer. No key, no validation, no quote, no history:
what any durable create through this stack costs, before anything the product does.

    DATABASE_URL=postgresql+psycopg://... gunicorn -w 2 bench.peers.api_floor:app
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta

from flask import Flask, Response, jsonify, request
from sqlalchemy import create_engine, text

app = Flask(__name__)
engine = create_engine(os.environ["DATABASE_URL"], pool_size=2)

INSERT = text("""
INSERT INTO callbacks (public_id, reference, status_token_hash, queue, phone, language, channel, status, priority,
                       requested_at, deadline_at, next_attempt_at, attempts_made, version)
VALUES (:public_id, :reference, :token, :queue, :phone, 'en', 'api', 'pending', 0, :now, :deadline, :now, 0, 1)
ON CONFLICT DO NOTHING
""")


@app.post("/api/v1/callbacks")
def create() -> tuple[Response, int]:
    body = request.get_json()
    public_id = uuid.uuid4().hex
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(INSERT, {"public_id": public_id, "reference": public_id[:10], "token": public_id * 2,
                              "queue": body.get("queue", "general"), "phone": body["phone"], "now": now,
                              "deadline": now + timedelta(hours=2)})
    return jsonify({"id": public_id}), 201
