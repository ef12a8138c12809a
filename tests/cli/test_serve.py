"""`ivr serve`: gunicorn with the project's configuration, started for real, answering a signed call and counting
what every one of its processes served."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.support.logs import leaks_in
from tests.support.network import valid_twiml
from tests.support.servers import IVR, gunicorn, ivr_env, run_ivr, signed_post

pytestmark = pytest.mark.slow

CALL = {"CallSid": "CA" + "5" * 32, "AccountSid": "AC" + "0" * 32, "From": "+989121234567", "To": "+982191000000",
        "CallStatus": "ringing", "Direction": "inbound"}


def sample(metrics: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text, or None when it is not there."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in metrics.splitlines():
        head, _, value = line.rpartition(" ")
        if not head.startswith(name + "{") and head != name:
            continue
        found = head[len(name) + 1:-1] if "{" in head else ""
        if ",".join(sorted(found.split(","))) == wanted:
            return float(value)
    return None


def test_a_signed_call_through_gunicorn_reaches_the_phone_tree_and_is_logged_as_json(sqlite_db, tmp_path: Path):
    env = ivr_env(tmp_path, sqlite_db.url)
    with gunicorn(env) as (server, base):
        answer = signed_post(base, "/twilio/voice", CALL)
        assert answer.status_code == 200, answer.text
        root = valid_twiml(answer.content)
        assert root.find("Gather") is not None  # the caller hears the first menu
        forged = requests.post(base + "/twilio/voice", data=CALL, headers={"X-Twilio-Signature": "forged"},
                               timeout=10)
        assert forged.status_code == 403
        server.wait_for(r'"message": "POST /twilio/voice 200')
    records = server.records()
    webhook = next(r for r in records if r.get("endpoint") == "voice.incoming" and r.get("status") == 200)
    assert webhook["call_sid"] == CALL["CallSid"] and webhook["request_id"]
    assert any(r["logger"] == "gunicorn.error" and "Booting worker" in r["message"] for r in records)
    # Two workers counting abuse limits in memory each: said once, at start, with the variable to set.
    warnings = [r for r in records if "RATELIMIT_STORAGE_URL is memory:// with 2 web workers" in r["message"]]
    assert len(warnings) == 1 and warnings[0]["level"] == "WARNING", warnings
    assert answer.headers["X-Request-Id"] == webhook["request_id"]
    assert not [line for line in server.lines if leaks_in(line)], "a full number in the server's log"


def test_metrics_scraped_from_a_two_worker_gunicorn_add_up_every_process(sqlite_db, tmp_path: Path):
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = ivr_env(tmp_path, sqlite_db.url, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
    with gunicorn(env, workers=2) as (_server, base):
        # Calls at once, in rounds, until both workers have served some (one fast worker may take a whole round).
        sent, pids = 0, set[str]()
        with ThreadPoolExecutor(12) as pool:
            while len(pids) < 2 and sent < 240:
                calls = [{**CALL, "CallSid": f"CA{n:032x}"} for n in range(sent, sent + 24)]
                answers = list(pool.map(lambda form: signed_post(base, "/twilio/voice", form), calls))
                assert [a.status_code for a in answers] == [200] * len(calls)
                sent += len(calls)
                pids = {re.findall(r"_(\d+)\.db$", p.name)[0] for p in metrics_dir.glob("*.db")}
        assert len(pids) == 2, f"both workers should have served calls, files: {sorted(pids)}"
        for scrape in range(6):
            text = requests.get(base + "/metrics", timeout=10).text
            assert sample(text, "ivr_http_responses_total", endpoint="voice.incoming", status="200") == sent
            assert sample(text, "ivr_http_request_duration_seconds_count", endpoint="voice.incoming",
                          method="POST") == sent
            # Each scrape is counted once it is answered, whichever worker answered it.
            assert sample(text, "ivr_http_responses_total", endpoint="health.metrics", status="200") == (
                scrape or None)
            assert sample(text, "ivr_database_up") == 1


def test_serve_refuses_an_address_that_is_not_a_proxy_and_names_the_variable(sqlite_db, tmp_path: Path):
    env = ivr_env(tmp_path, sqlite_db.url, TRUSTED_PROXIES="nginx.internal")
    refused = run_ivr(env, "serve", "--check", check=False)
    assert refused.returncode != 0
    assert "TRUSTED_PROXIES: 'nginx.internal' is not an IP address or network" in refused.stdout + refused.stderr
    accepted = run_ivr(ivr_env(tmp_path, sqlite_db.url, TRUSTED_PROXIES="127.0.0.1, 10.0.0.0/8"), "serve", "--check")
    assert accepted.returncode == 0
    counted = run_ivr(ivr_env(tmp_path, sqlite_db.url, TRUSTED_PROXIES="1"), "serve", "--check")  # one proxy
    assert counted.returncode == 0
    too_many = run_ivr(ivr_env(tmp_path, sqlite_db.url, TRUSTED_PROXIES="99"), "serve", "--check", check=False)
    assert too_many.returncode != 0 and "TRUSTED_PROXIES" in too_many.stdout + too_many.stderr


def test_serve_stops_on_a_bad_setting_with_the_variables_name(sqlite_db, tmp_path: Path):
    done = run_ivr(ivr_env(tmp_path, sqlite_db.url, LOG_FORMAT="xml"), "serve", check=False)
    assert done.returncode == 1 and "LOG_FORMAT" in done.stderr and "Traceback" not in done.stderr
    assert IVR  # the same command line the operator's unit runs
