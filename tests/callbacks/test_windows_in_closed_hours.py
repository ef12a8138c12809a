"""A customer's window with no opening hours in it (a Friday, 02:00 to 03:00) is refused on every channel, naming
the field and offering the nearest window we can keep (issue 9, finding 7: it used to be stored with a deadline
nobody could keep)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from callbacks.errors import InvalidRequest
from callbacks.models import Callback
from callbacks.policy import WindowClosed
from tests.support.form import submit, text_of

TEHRAN = ZoneInfo("Asia/Tehran")
FRIDAY_2AM = datetime(2026, 11, 27, 2, 0, tzinfo=TEHRAN)
FRIDAY_3AM = datetime(2026, 11, 27, 3, 0, tzinfo=TEHRAN)


def stored(app) -> int:
    with app.extensions["ivr"].db.session() as session:
        return session.scalar(select(func.count()).select_from(Callback))


def test_the_service_refuses_a_window_in_closed_hours_and_offers_the_nearest_open_one(app):
    service = app.extensions["ivr"].service
    with pytest.raises(InvalidRequest) as refused:
        service.request(phone="09121234567", channel="api", actor="t", window_start=FRIDAY_2AM,
                        window_end=FRIDAY_3AM)
    assert refused.value.code == "window_closed" and refused.value.field == "window_start"
    assert isinstance(refused.value, WindowClosed)
    # Thursday closes at 13:00 and Friday is closed: the nearest open hour is Thursday 12:00 to 13:00.
    start, end = refused.value.suggested
    assert (start.astimezone(TEHRAN), end.astimezone(TEHRAN)) == (
        datetime(2026, 11, 26, 12, 0, tzinfo=TEHRAN), datetime(2026, 11, 26, 13, 0, tzinfo=TEHRAN))
    assert "Thu 2026-11-26 12:00 to 13:00" in refused.value.message
    assert stored(app) == 0


def test_a_window_mostly_in_closed_hours_is_refused_too_but_one_with_enough_open_time_is_kept(app):
    service = app.extensions["ivr"].service
    with pytest.raises(WindowClosed):  # ten open minutes before 20:00 are too few to call in
        service.request(phone="09121234567", channel="api", actor="t",
                        window_start=datetime(2026, 11, 22, 19, 50, tzinfo=TEHRAN),
                        window_end=datetime(2026, 11, 22, 22, 0, tzinfo=TEHRAN))
    kept = service.request(phone="09121234567", channel="api", actor="t",
                           window_start=datetime(2026, 11, 22, 19, 0, tzinfo=TEHRAN),
                           window_end=datetime(2026, 11, 22, 22, 0, tzinfo=TEHRAN)).callback
    assert kept.deadline_from == "window"


def test_the_api_answers_422_naming_the_window_start(client, auth, app):
    response = client.post("/api/v1/callbacks", headers=auth, json={
        "phone": "09121234567", "window_start": FRIDAY_2AM.isoformat(), "window_end": FRIDAY_3AM.isoformat()})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert (error["code"], error["field"]) == ("window_closed", "window_start")
    assert "nearest time we can call is Thu 2026-11-26 12:00 to 13:00" in error["message"]
    assert stored(app) == 0


@pytest.mark.parametrize(("lang", "words"), [
    ("en", "We are closed then, so nobody could call you. The nearest time we can call is between 12:00 and 13:00"),
    ("fa", "در این زمان تعطیل هستیم"),
])
def test_the_form_shows_the_error_by_the_window_in_the_customers_language(client, app, lang, words):
    response = submit(client, lang, phone="09121234567", window_date="2026-11-27", window_from="02:00",
                      window_to="03:00")
    assert response.status_code == 422
    assert words in text_of(response, "window_from-error")
    assert stored(app) == 0
