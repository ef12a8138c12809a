"""The JSON API's callback create under load (gunicorn -w 2, wrk, PostgreSQL), beside the bare WSGI app.

Each request asks for a callback on a number of its own (a pool larger than one run's requests, where possible:
a number already waiting gets 200 with its open request instead of 201), to a centre with 20 agents on shift, so
every request is quoted by the capacity forecast over the backlog the run builds. Goal: >= 1,000 req/s, p99 < 50 ms
at 16 connections.
Second peer, the stack's floor (`bench/peers/api_floor.py`): Flask and SQLAlchemy on the same database doing one INSERT
and COMMIT per request, no more: what a durable create costs on this machine before anything the product does.
"""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime

import yaml

from bench.harness import Prepared, Row, Run, Server, database, http, wrk_run
from bench.webhooks import app_env

AGENTS = 20


def main(run: Run) -> None:
    from callbacks.agents import add_agent
    from callbacks.apikeys import create_api_key
    from callbacks.db import Database
    from config.settings import EXAMPLE_CONFIG

    seconds = 3 if run.quick else 8
    print("# API: POST /api/v1/callbacks, gunicorn -w 2, wrk -t2 -c16, PostgreSQL", flush=True)
    with Server("bench.peers.bare_wsgi:app") as bare:
        peer = wrk_run(bare.base, [Prepared("POST", "/", '{"phone": "+989121234567"}')], connections=16,
                       seconds=seconds)
    with database("postgresql") as url, tempfile.TemporaryDirectory(prefix="bench-instance-") as instance:
        db = Database(url)
        key = create_api_key(db, "bench", datetime.now(UTC))
        # A staffed centre: every request is quoted by the capacity forecast over the growing backlog.
        for i in range(AGENTS):
            add_agent(db, f"Agent {i}", f"+98935{i:07d}", datetime.now(UTC), "IR")
        db.dispose()
        server = Server("ivr.app:create_app()", project_config=True)
        server.env.update(app_env(url, server.base, instance))
        # The per-client, per-key and per-phone limits are the product's defence, not the figure measured here: the
        # example configuration with limits no load generator on one address reaches.
        config = yaml.safe_load(EXAMPLE_CONFIG.read_text())
        config["limits"] = {"per_phone": "1000 per hour", "per_client": "1000000 per minute",
                            "api_per_key": "1000000 per minute"}
        config_path = f"{instance}/bench.yaml"
        with open(config_path, "w") as out:
            yaml.safe_dump(config, out, allow_unicode=True)
        server.env.update(RATELIMIT_STORAGE_URL="memory://", IVR_CONFIG=config_path)
        headers = (("Content-Type", "application/json"), ("Authorization", f"Bearer {key}"))
        requests = [Prepared("POST", "/api/v1/callbacks",
                             json.dumps({"phone": f"+98912{i:07d}", "queue": "general"}), headers)
                    for i in range(3000 if run.quick else 20000)]
        with server:
            status, body = http(server.base, requests[0])
            assert status in (200, 201), f"{status} {body[:300]}"
            load = wrk_run(server.base, requests[1:], connections=16, seconds=seconds)
        # The stack's floor on the same database: Flask, SQLAlchemy, one INSERT and COMMIT per request (numbers of
        # its own, so no insert is skipped as a duplicate of ours).
        floor_requests = [Prepared("POST", "/api/v1/callbacks", json.dumps({"phone": f"+98913{i:07d}"}),
                                   (("Content-Type", "application/json"),)) for i in range(20000)]
        with Server("bench.peers.api_floor:app", {"DATABASE_URL": url}) as floor_server:
            status, body = http(floor_server.base, floor_requests[0])
            assert status == 201, f"{status} {body[:300]}"
            floor = wrk_run(floor_server.base, floor_requests[1:], connections=16, seconds=seconds)
    if load.errors:
        print(f"  !! {load.errors} errors (non-2xx: rate limits, refusals) in API create")
    run.add(Row("api", "callback create c=16", load.rps, "req/s", peer=peer.rps, peer_name="bare WSGI",
                goal=">= 1000 req/s", detail={"errors": load.errors, "p50_ms": load.p50_ms}))
    run.add(Row("api", "callback create c=16 p99", load.p99_ms, "ms", peer=peer.p99_ms, peer_name="bare WSGI",
                goal="< 50 ms", higher_is_better=False))
    run.add(Row("api", "callback create c=16, against the stack's floor", load.rps, "req/s", peer=floor.rps,
                peer_name="Flask + SQLAlchemy: one INSERT + COMMIT", detail={"floor_p99_ms": floor.p99_ms,
                                                                           "floor_errors": floor.errors}))
