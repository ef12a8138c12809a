"""The README's "Running in production" is a path an operator can copy: every file it installs is in deploy/, and
every `ivr` command it lists is run here, in its order, with the env file it gives, against the Twilio stand-in and
PostgreSQL; then the services' own commands take the first call and dial the first callback."""

from __future__ import annotations

import json
import re
import shlex
import socket
import time
from pathlib import Path

import pytest
import requests

from cli.simulator import demo_config
from config.settings import EXAMPLE_CONFIG
from telephony.twilio_standin import TwilioStub, openapi_validator
from tests.conftest import ROOT
from tests.support.logs import leaks_in
from tests.support.network import valid_twiml
from tests.support.servers import IVR, PUBLIC, background, gunicorn, run_ivr, signed_post

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
ACCOUNT = "AC" + "0123456789abcdef" * 2
TOKEN = "readme-token"


def production_section() -> str:
    text = (ROOT / "README.md").read_text()
    return text.split("## Running in production", 1)[1].split("\n## ", 1)[0]


def shell_lines() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", production_section(), re.DOTALL)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def env_file() -> dict[str, str]:
    """deploy/ivr.env.example read the way systemd's EnvironmentFile= reads it."""
    values = {}
    for line in (ROOT / "deploy" / "ivr.env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_every_file_the_readme_installs_is_in_the_repository():
    paths = set(re.findall(r"/opt/ivr/src/(\S+)", production_section()))
    assert {"deploy/ivr.env.example", "deploy/systemd/ivr-web.service", "deploy/systemd/ivr-worker.service"} <= paths
    for path in paths:
        assert (ROOT / path).is_file(), path
    units = {Path(p).name for p in paths if p.startswith("deploy/systemd/")}
    assert f"sudo systemctl enable --now {' '.join(sorted(u.removesuffix('.service') for u in units))}" in \
        shell_lines()


def test_the_readmes_commands_take_a_server_from_nothing_to_its_first_call(pg_db, shared_dir, tmp_path):
    commands = [shlex.split(line)[1:] for line in shell_lines() if line.startswith("ivr ")]
    assert [c[:2] for c in commands] == [["config", "check"], ["db", "upgrade"], ["twilio", "configure"],
                                         ["twilio", "check"], ["agent", "add"], ["supervisor", "add"]]
    validator = openapi_validator(json.loads((shared_dir / "twilio" / "twilio_api_v2010.json").read_text()))
    with TwilioStub(validator=validator, auth_token=TOKEN) as twilio:
        settings = env_file()
        twilio.add_number(settings["TWILIO_PHONE_NUMBER"], ACCOUNT)
        twilio.allow_country("IR")
        metrics_port = free_port()
        env = {
            **{k: v for k, v in __import__("os").environ.items() if not k.startswith(("TWILIO_", "PROMETHEUS_"))},
            **settings,
            # What this test machine has instead of the example's values:
            "DATABASE_URL": pg_db.url, "TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": TOKEN,
            "TWILIO_API_BASE_URL": twilio.base_url, "PUBLIC_BASE_URL": PUBLIC, "SECRET_KEY": "k" * 48,
            "IVR_CONFIG": str(demo_config(EXAMPLE_CONFIG, tmp_path)),  # open 24/7: the callback is due now
            "INSTANCE_PATH": str(tmp_path / "var-lib-ivr"), "RATELIMIT_STORAGE_URL": "memory://",
            "WORKER_METRICS_PORT": str(metrics_port),
        }
        outputs = [run_ivr(env, *command).stdout for command in commands]
        assert "Twilio is set up for this installation" in outputs[3]
        key = run_ivr(env, "api-key", "create", "partner-portal").stdout.strip()

        with gunicorn(env) as (web, base), background([*IVR, "worker"], env) as worker:
            worker.wait_for(r"worker metrics at http://127\.0\.0\.1:\d+/metrics")
            call = {"CallSid": "CA" + "9" * 32, "AccountSid": ACCOUNT, "From": "+989127654321",
                    "To": settings["TWILIO_PHONE_NUMBER"], "CallStatus": "ringing"}
            answer = signed_post(base, "/twilio/voice", call, token=TOKEN)
            assert answer.status_code == 200 and valid_twiml(answer.content).find("Gather") is not None
            asked = requests.post(base + "/api/v1/callbacks", json={"phone": "0912 765 4321"}, timeout=10,
                                  headers={"Authorization": f"Bearer {key}", "X-Request-Id": "first-callback-0001"})
            assert asked.status_code == 201, asked.text
            placed = worker.wait_for(r'"request_id": "first-callback-0001"', seconds=60)
            line = json.loads(placed.string)
            assert line["callback"] == asked.json()["reference"] and line["outcome"] == "accepted"
            assert line["call_sid"].startswith("CA") and line["attempt_id"] > 0
            [dial] = [r for r in twilio.requests if r["method"] == "POST" and r["path"].endswith("/Calls.json")]
            assert dial["form"]["To"] == ["+989121234567"]  # the agent from the README is rung first
            deadline = time.monotonic() + 20
            while True:
                scraped = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
                if 'ivr_calls_placed_total{kind="attempt",outcome="accepted"} 1.0' in scraped:
                    break
                assert time.monotonic() < deadline, scraped
                time.sleep(0.2)
            assert "ivr_worker_database_up 1.0" in scraped
            web_metrics = requests.get(base + "/metrics", timeout=5).text
            assert 'ivr_http_responses_total{endpoint="voice.incoming",status="200"} 1.0' in web_metrics
        assert twilio.errors == []
    for process in (web, worker):
        assert not [line for line in process.lines if leaks_in(line)], "a full number in a service's log"
