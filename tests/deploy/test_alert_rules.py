"""The example alert rules: valid for Prometheus, each alert unit-tested on its story with promtool, and every
metric they read is one the web or the worker really serves."""

from __future__ import annotations

import re
import subprocess

from prometheus_client import generate_latest

from callbacks.clock import FrozenClock
from scheduler.metrics import WorkerMetrics
from tests.conftest import DEFAULT_NOW, ROOT
from tests.support.tools import require_tool

RULES = ROOT / "deploy" / "prometheus"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_tool("promtool"), *args], cwd=RULES, capture_output=True, text=True, timeout=120)


def test_promtool_accepts_the_rules_and_the_example_scrape_configuration():
    rules = promtool("check", "rules", "alerts.yml")
    assert rules.returncode == 0 and "SUCCESS: 9 rules found" in rules.stdout, rules.stdout + rules.stderr
    config = promtool("check", "config", "prometheus.yml")
    assert config.returncode == 0, config.stdout + config.stderr


def test_each_alert_fires_on_its_story_and_stays_quiet_otherwise():
    tested = promtool("test", "rules", "alerts_test.yml")
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr
    alerts = set(re.findall(r"- alert: (\w+)", (RULES / "alerts.yml").read_text()))
    covered = set(re.findall(r"alertname: (\w+)", (RULES / "alerts_test.yml").read_text()))
    assert alerts == covered == {"CallbacksMissed", "CallbacksWaitingWithAgentsFree", "DispatchStalled", "WorkerDown",
                                 "WebhookLatencyHigh", "DatabaseDown", "CallbackSpoolNotDraining",
                                 "CallbackSpoolRejected", "QuotesBeyondSla"}


def _family(name: str) -> str:
    return re.sub(r"_(total|bucket|count|sum)$", "", name)


def _families(exposition: str) -> set[str]:
    return {_family(name) for name in re.findall(r"^# TYPE (\w+) ", exposition, re.MULTILINE)}


def test_every_metric_the_rules_read_is_served_by_the_web_or_the_worker(client, db):
    web = client.get("/metrics").get_data(as_text=True)
    worker = WorkerMetrics()
    worker.watch_store(db, FrozenClock(DEFAULT_NOW))
    served = _families(web) | _families(generate_latest(worker.registry).decode()) | {
        # Served by the web when the phone tree's spool is on (always, in production): see ivr.health.
        "ivr_callback_spool_pending", "ivr_callback_spool_rejected"}
    text = (RULES / "alerts.yml").read_text()
    read = {_family(name) for name in re.findall(r"\b(ivr_\w+)", text)}
    assert read <= served, f"not served: {sorted(read - served)}"
