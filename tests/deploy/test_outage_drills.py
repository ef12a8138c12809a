"""The outage drills of docs/resilience.md, shortened: real processes (`ivr serve` under gunicorn, `ivr worker`),
a PostgreSQL cluster of the drill's own that is really stopped and started, the Twilio stand-in as the provider.
The full-length runs are `python -m bench.drills postgres|worker|web` (bench/drills.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from bench.drills import postgres_bin, postgres_drill, web_drill, worker_drill
from tests.conftest import IN_CI

pytestmark = [
    pytest.mark.slow,
    # Now and then a psycopg connection object of the drill's own cluster is collected unclosed after the cluster
    # was stopped under it (seen once in a few runs, not pinned down); it says nothing about the product.
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture(autouse=True)
def _postgres_binaries(shared_dir) -> Iterator[None]:
    """The drills need initdb and pg_ctl (and the TwiML schema, through shared_dir)."""
    try:
        postgres_bin()
    except RuntimeError as exc:
        if IN_CI:
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    yield
    gc.collect()  # what a drill left unclosed is collected inside its test, where the filter above applies


def test_postgres_stopped_and_started_while_calls_and_callbacks_are_due():
    report = postgres_drill(outage=12, callers_every=2, due_during=4)
    print(report)
    # Every webhook during the outage answered within 5 s with valid TwiML; status callbacks were refused with 503
    # and an empty TwiML document, never an error page.
    assert report["webhooks"] > 10 and report["over_budget"] == 0 and report["unanswered"] == 0
    assert report["bare_5xx"] == 0 and report["not_twiml"] == 0
    # Every caller heard a promise; every promise went to the spool and was stored afterwards with its deadline.
    assert report["callers"] >= 5 and report["promised"] == report["callers"] == report["spooled"]
    assert report["stored_from_spool"] == report["spooled"] == report["deadline_kept"]
    # The same worker process dialed the callbacks that fell due meanwhile, once each.
    assert report["worker_alive"] and report["worker_recovered_s"] is not None
    assert report["due_dialed_after"] == report["due_during_outage"] == 4
    assert report["dialed_twice"] == 0 and report["calls_placed"] == 1 + 4


def test_worker_down_ten_minutes_dials_what_is_still_in_time_and_reports_the_rest_missed():
    report = worker_drill(down=600, in_time=4, too_late=2, pause=5)
    print(report)
    assert report["in_time_dialed"] == 4 and report["in_time_missed"] == 0
    assert report["too_late_missed"] == 2 and report["too_late_dialed"] == 0
    assert all(reason for reason in report["missed_reasons"])
    # Paused mid-run (SIGSTOP): APScheduler runs the late ticks, nothing due is skipped as a misfire.
    assert report["due_in_pause_dialed"] == 2 and report["scheduler_misfires_logged"] == 0
    assert report["dialed_twice"] == 0 and report["calls_placed"] == 4 + 2


def test_web_restarted_while_a_caller_is_in_a_menu_the_next_webhook_continues_the_call():
    report = web_drill()
    print(report)
    assert report["continued_status"] == 200 and report["continued_twiml_valid"]
    assert report["same_as_steady_caller"]


def test_a_short_soak_with_the_worker_restarted_keeps_every_callback_accounted_for(monkeypatch):
    import bench.soak

    monkeypatch.setattr(bench.soak, "WARM_UP", 10.0)
    report = bench.soak.main(seconds=20, restart_every=(6, 10))
    print(report)
    assert report["worker_restarts"]  # at least one restart happened
    assert report["callbacks"] >= 5 and report["api_callbacks_missing"] == 0
    assert report["phone_references_heard"] > 0 and report["phone_references_missing"] == 0
    assert report["open_past_deadline"] == 0
    assert set(report["by_status"]) <= {"pending", "completed", "unreachable", "canceled"}
    assert report["duplicates"] == 0 and report["stuck"] == 0 and report["agents_leaked"] == 0
    assert report["twiml_errors"] == 0
    assert not [k for k in report["webhook_answers"] if "not TwiML" in k or k.startswith("5")]
