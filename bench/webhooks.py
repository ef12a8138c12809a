"""The phone tree's webhooks under load, beside Twilio's own Flask IVR sample and a bare WSGI app.

Each step is served by `gunicorn -w 2` sync workers with the project's configuration (as `ivr serve` runs it),
against SQLite and then PostgreSQL; every request is signed (X-Twilio-Signature over the public URL and the
form) and carries its own call (CallSid), as Twilio's would. The peers are measured in the same run with the same
load generator: the sample's welcome step (`bench/peers/twilio_sample.py`, no signature, no state) and a WSGI
callable that answers fixed TwiML (`bench/peers/bare_wsgi.py`).

Ratios: a step's requests/s over the sample's at the same connection count (goal >= 0.5); p99 against the goals
(< 30 ms at 16 connections, < 60 ms at 64).
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Callable
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from bench.harness import AUTH_TOKEN, Curve, Load, Prepared, Row, Run, Server, database, http, wrk_run

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
CALLER = "+989121234567"
CALLED = "+442080000000"  # fixes the language (English): no language menu
P99_GOALS = {16: 30.0, 64: 60.0}


def call_sids(n: int) -> list[str]:
    return ["CA" + secrets.token_hex(16) for _ in range(n)]


def signed(base: str, path: str, params: dict[str, str]) -> Prepared:
    signature = RequestValidator(AUTH_TOKEN).compute_signature(base + path, params)
    return Prepared("POST", path, urlencode(params), (*FORM.items(), ("X-Twilio-Signature", signature)))


def _call(sid: str) -> dict[str, str]:
    return {"AccountSid": "AC" + "0" * 32, "CallSid": sid, "From": CALLER, "To": CALLED, "Direction": "inbound"}


STEPS: dict[str, Callable[[str, str], tuple[str, dict[str, str]]]] = {
    "incoming call (/twilio/voice)": lambda base, sid: ("/twilio/voice", {**_call(sid), "CallStatus": "ringing"}),
    "menu step (/twilio/ivr/input, Digits=1)": lambda base, sid: (
        "/twilio/ivr/input?n=main&l=en",
        {**_call(sid), "CallStatus": "in-progress", "Digits": "1"},
    ),
    "queue wait (/twilio/ivr/queue/wait)": lambda base, sid: (
        "/twilio/ivr/queue/wait?n=agent&l=en",
        {**_call(sid), "CallStatus": "in-progress", "QueuePosition": "3", "AvgQueueTime": "60",
         "QueueSid": "QU" + "1" * 32},
    ),
    "status callback (/twilio/status)": lambda base, sid: (
        "/twilio/status",
        {**_call(sid), "CallStatus": "completed", "SequenceNumber": "3", "CallDuration": "42"},
    ),
}


def app_env(database_url: str, base: str, instance: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "PUBLIC_BASE_URL": base,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_PHONE_NUMBER": CALLED,
        "TELEPHONY": "twilio",
        "SECRET_KEY": "bench-secret-key-" + "x" * 32,
        "INSTANCE_PATH": instance,
        "LOG_LEVEL": "INFO",
    }


def connection_counts(run: Run) -> list[int]:
    return [16, 64] if run.quick else [4, 16, 64]


def seconds(run: Run) -> float:
    return 3 if run.quick else 8


SAMPLE_APP = "bench.peers.twilio_sample:app"
SAMPLE_BODY = urlencode({**_call("CA" + "0" * 32), "CallStatus": "ringing"})
SAMPLE_REQUEST = Prepared("POST", "/ivr/welcome", SAMPLE_BODY, tuple(FORM.items()))


def peers(run: Run) -> dict[int, Load]:
    """The sample's welcome step at every connection count (and the bare WSGI floor); returns the sample's."""
    sample: dict[int, Load] = {}
    body = SAMPLE_BODY
    for label, app, path in (
        ("peer: Twilio sample welcome", "bench.peers.twilio_sample:app", "/ivr/welcome"),
        ("peer: bare WSGI", "bench.peers.bare_wsgi:app", "/"),
    ):
        curve = Curve(label)
        with Server(app) as server:
            req = Prepared("POST", path, body, tuple(FORM.items()))
            status, _ = http(server.base, req)
            assert status == 200, f"{label} answered {status}"
            for c in connection_counts(run):
                load = wrk_run(server.base, [req], connections=c, seconds=seconds(run))
                curve.add(c, load)
                if app.endswith("twilio_sample:app"):
                    sample[c] = load
                run.add(Row("webhooks", f"{label} c={c}", load.rps, "req/s",
                            detail={"p50_ms": load.p50_ms, "p99_ms": load.p99_ms, "errors": load.errors}))
                run.add(Row("webhooks", f"{label} c={c} p99", load.p99_ms, "ms", higher_is_better=False))
            rss = server.worker_rss_mib()
            run.add(Row("memory", f"{label} worker RSS after load", max(rss), "MiB", higher_is_better=False,
                        detail={"workers": rss}))
        run.curves.append(curve)
    return sample


def ours(run: Run, kind: str, sample_server: Server) -> None:
    """Each step at each connection count, right after the sample's welcome step at the same count (this machine
    is shared: the peer measured next to each figure keeps the ratio honest when the load around it changes)."""
    with database(kind) as url, tempfile.TemporaryDirectory(prefix="bench-instance-") as instance:
        server = Server("ivr.app:create_app()", project_config=True)
        server.env.update(app_env(url, server.base, instance))
        pool = 300 if run.quick else 1000
        answered: list[str] = []
        with server:
            for step, build in STEPS.items():
                # A status callback is about a call the tree answered: the incoming step's calls.
                sids = answered if step.startswith("status") else call_sids(pool)
                if step.startswith("incoming"):
                    answered = sids
                requests = [signed(server.base, *build(server.base, sid)) for sid in sids]
                if step.startswith("menu"):
                    # The menu step's URL is the one the incoming call's <Gather> names.
                    status, twiml = http(server.base, signed(server.base, *STEPS["incoming call (/twilio/voice)"](
                        server.base, sids[0])))
                    assert status == 200 and "/twilio/ivr/input?n=main" in twiml, twiml[:500]
                for req in requests[:3]:
                    status, text = http(server.base, req)
                    assert status in (200, 204), f"{step}: {status} {text[:300]}"
                curve = Curve(f"{kind}: {step.split(' (')[0]}")
                for c in connection_counts(run):
                    peer = wrk_run(sample_server.base, [SAMPLE_REQUEST], connections=c, seconds=seconds(run))
                    load = wrk_run(server.base, requests, connections=c, seconds=seconds(run))
                    curve.add(c, load)
                    if load.errors:
                        print(f"  !! {load.errors} errors (non-2xx, timeouts, socket) in {step} c={c}")
                    run.add(Row("webhooks", f"{kind} {step} c={c}", load.rps, "req/s",
                                peer=peer.rps if peer else None, peer_name="sample welcome", goal=">= 0.5",
                                detail={"errors": load.errors, "p50_ms": load.p50_ms, "p90_ms": load.p90_ms}))
                    goal = P99_GOALS.get(c)
                    run.add(Row("webhooks", f"{kind} {step} c={c} p99", load.p99_ms, "ms",
                                peer=peer.p99_ms if peer else None, peer_name="sample welcome",
                                goal=f"< {goal:g} ms" if goal else "", higher_is_better=False))
                run.curves.append(curve)
            rss = server.worker_rss_mib()
            run.add(Row("memory", f"{kind} web worker RSS after load", max(rss), "MiB", goal="<= 60 MiB",
                        higher_is_better=False, detail={"workers": rss, "master": server.master_rss_mib()}))


IN_PROCESS = r"""
import json, os, sys, time
from bench.webhooks import STEPS, SAMPLE_REQUEST, signed, call_sids
from bench.peers.twilio_sample import app as sample
from ivr.app import create_app
base = os.environ["PUBLIC_BASE_URL"]
n = int(sys.argv[1])

def per_request(client, requests):
    for r in requests[:20]:
        client.post(r.path, data=r.body, headers=dict(r.headers))
    best = None
    for _ in range(3):  # the best of three: this machine is shared
        started = time.perf_counter()
        for r in requests:
            response = client.post(r.path, data=r.body, headers=dict(r.headers))
            assert response.status_code in (200, 204), response.data[:200]
        took = (time.perf_counter() - started) / len(requests) * 1000
        best = took if best is None else min(best, took)
    return best

out = {"sample": per_request(sample.test_client(), [SAMPLE_REQUEST] * n)}
app = create_app()
client = app.test_client()
answered = call_sids(n)  # status callbacks are about calls the tree answered
for step, build in STEPS.items():
    sids = answered if step.startswith(("incoming", "status")) else call_sids(n)
    out[step] = per_request(client, [signed(base, *build(base, sid)) for sid in sids])
    out["sample after " + step] = per_request(sample.test_client(), [SAMPLE_REQUEST] * n)
print(json.dumps(out))
"""


def in_process(run: Run, kind: str) -> None:
    """Each step's cost in one process (Flask's test client, no server, no network), beside the sample's welcome
    step measured right after it: the CPU a request costs, the figure least disturbed by a shared machine."""
    import json
    import subprocess
    import sys

    from bench.harness import ROOT

    with database(kind) as url, tempfile.TemporaryDirectory(prefix="bench-instance-") as instance:
        base = "http://127.0.0.1:5000"
        env = {**os.environ, **app_env(url, base, instance), "PYTHONPATH": str(ROOT)}
        out = subprocess.run([sys.executable, "-c", IN_PROCESS, "300" if run.quick else "1000"], env=env, cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
        costs = json.loads(out.strip().splitlines()[-1])
    for step in STEPS:
        peer = costs["sample after " + step]
        run.add(Row("webhooks", f"{kind} {step} in one process", round(costs[step], 3), "ms/req",
                    peer=round(peer, 3), peer_name="sample welcome", goal=">= 0.5", higher_is_better=False))


def main(run: Run) -> None:
    print("# Webhooks: gunicorn -w 2 (sync), wrk -t2, signed requests", flush=True)
    for kind in os.environ.get("BENCH_DATABASES", "sqlite,postgresql").split(","):
        in_process(run, kind.strip())
    peers(run)
    kinds = os.environ.get("BENCH_DATABASES", "sqlite,postgresql").split(",")
    with Server(SAMPLE_APP) as sample_server:
        for kind in kinds:
            ours(run, kind.strip(), sample_server)
