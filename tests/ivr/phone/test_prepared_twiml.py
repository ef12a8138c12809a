"""A menu step's TwiML is rendered once per web process and served prepared (as the web process runs it, not
under TESTING), without ever giving one caller another's words."""

from __future__ import annotations

from typing import Any

import pytest

from ivr.phone import twiml
from tests.support.phone import Caller, add_agent

ENGLISH_LINE = "+442080000000"


@pytest.fixture
def prepared_app(app_config: dict[str, Any], sqlite_db: Any, centre: Any, clock: Any) -> Any:
    from ivr.app import create_app

    app = create_app({**app_config, "DATABASE": sqlite_db, "CENTRE": centre, "CLOCK": clock,
                      "IVR_TWIML_CACHE": True})
    add_agent(app)
    return app


def test_a_menu_step_is_rendered_once_and_served_prepared_to_the_next_caller(prepared_app: Any, monkeypatch: Any
                                                                             ) -> None:
    renders: list[Any] = []
    real = twiml.Renderer.render

    def render(self: Any, step: Any) -> Any:
        renders.append(step)
        return real(self, step)

    monkeypatch.setattr(twiml.Renderer, "render", render)
    first = Caller(prepared_app.test_client(), prepared_app, called=ENGLISH_LINE).dial().press("1")
    count = len(renders)
    second = Caller(prepared_app.test_client(), prepared_app, called=ENGLISH_LINE).dial().press("1")
    assert len(renders) == count  # nothing rendered again
    assert second.last.body == first.last.body
    second.expect("To make a payment press 1")


def test_callers_at_different_places_in_the_queue_each_hear_their_own(prepared_app: Any) -> None:
    caller = Caller(prepared_app.test_client(), prepared_app, called=ENGLISH_LINE)
    third = caller.post("/twilio/ivr/queue/wait?n=agent&l=en", {"QueuePosition": "3", "AvgQueueTime": "60"})
    ninth = caller.post("/twilio/ivr/queue/wait?n=agent&l=en", {"QueuePosition": "9", "AvgQueueTime": "60"})
    assert third.body != ninth.body
    assert "3" in third.said and "9" in ninth.said


def test_the_hold_estimate_reads_the_queues_history_once_per_interval(prepared_app: Any, monkeypatch: Any) -> None:
    from ivr.phone import journey

    reads: list[str] = []
    real = journey.recent_wait

    def recent_wait(db: Any, queue: str, now: Any) -> Any:
        reads.append(queue)
        return real(db, queue, now)

    monkeypatch.setattr(journey, "recent_wait", recent_wait)
    caller = Caller(prepared_app.test_client(), prepared_app, called=ENGLISH_LINE)
    for position in ("3", "4", "5"):
        caller.post("/twilio/ivr/queue/wait?n=agent&l=en", {"QueuePosition": position, "AvgQueueTime": "60"})
    assert reads == ["general"]
