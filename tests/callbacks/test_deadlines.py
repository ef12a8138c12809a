"""Deadlines: the promise a customer is told, counted in business time across nights, weekends, holidays and DST."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from callbacks.businesstime import BusinessCalendar
from callbacks.clock import FrozenClock
from callbacks.errors import InvalidRequest
from callbacks.policy import promise_for
from callbacks.service import CallbackService
from config.schema import SLA, Holidays, Queue, RetryPolicy, WeeklyHours

TEHRAN = ZoneInfo("Asia/Tehran")
LONDON = ZoneInfo("Europe/London")
WEEKDAYS_8_TO_20 = {day: ["08:00-20:00"] for day in ("saturday", "sunday", "monday", "tuesday", "wednesday")}


def calendar(hours=None, zone="Asia/Tehran", holidays=None) -> BusinessCalendar:
    return BusinessCalendar(
        WeeklyHours(**(hours if hours is not None else WEEKDAYS_8_TO_20)), zone, holidays or Holidays(country="IR")
    )


def queue(deadline="2h", clock="business") -> Queue:
    return Queue(sla=SLA(deadline=deadline, clock=clock), retry=RetryPolicy())


def local(zone, *args) -> datetime:
    return datetime(*args).replace(tzinfo=zone)


def test_a_request_at_nine_on_wednesday_evening_is_owed_on_the_next_business_morning():
    # Thursday and Friday are the weekend here, so the next business morning is Saturday.
    requested = local(TEHRAN, 2026, 11, 25, 21, 0)
    promise = promise_for(queue("2h"), requested.astimezone(UTC), calendar())
    assert promise.deadline_at.astimezone(TEHRAN) == local(TEHRAN, 2026, 11, 28, 10, 0)
    assert promise.deadline_at.tzinfo == UTC


def test_business_time_continues_across_closing_time():
    requested = local(TEHRAN, 2026, 11, 24, 19, 0)  # Tuesday, one business hour left today
    promise = promise_for(queue("2h"), requested.astimezone(UTC), calendar())
    assert promise.deadline_at.astimezone(TEHRAN) == local(TEHRAN, 2026, 11, 25, 9, 0)


def test_a_request_during_opening_hours_is_owed_within_them():
    requested = local(TEHRAN, 2026, 11, 22, 10, 0)
    assert promise_for(queue("2h"), requested, calendar()).deadline_at == local(TEHRAN, 2026, 11, 22, 12, 0)


def test_public_holidays_are_skipped():
    # Wednesday 11 February 2026 is Islamic Revolution Day in Iran.
    cal = calendar()
    assert cal.holiday_name(date(2026, 2, 11)) == "Islamic Revolution Day"
    requested = local(TEHRAN, 2026, 2, 10, 19, 30)
    promise = promise_for(queue("2h"), requested, cal)
    assert promise.deadline_at.astimezone(TEHRAN) == local(TEHRAN, 2026, 2, 14, 9, 30)


def test_nowruz_closes_the_centre_for_days():
    cal = calendar()
    requested = local(TEHRAN, 2026, 3, 18, 19, 0)  # Wednesday before Nowruz
    deadline = promise_for(queue("2h"), requested, cal).deadline_at.astimezone(TEHRAN)
    assert deadline.date() > date(2026, 3, 24)
    assert all(cal.holiday_name(date(2026, 3, d)) for d in (21, 22, 23, 24))


def test_extra_closed_days_and_open_anyway_days():
    rules = Holidays(country="IR", extra=[date(2026, 11, 23)], open_anyway=[date(2026, 2, 11)])
    cal = calendar(holidays=rules)
    assert not cal.is_open(local(TEHRAN, 2026, 11, 23, 10, 0))
    assert cal.is_open(local(TEHRAN, 2026, 2, 11, 10, 0))


def test_a_wall_clock_queue_counts_nights_too():
    requested = local(TEHRAN, 2026, 11, 25, 23, 50)
    promise = promise_for(queue("30m", clock="wall"), requested, calendar())
    assert promise.deadline_at == requested + timedelta(minutes=30)


def test_the_customers_window_ends_before_the_queue_deadline_so_it_is_the_deadline():
    now = local(TEHRAN, 2026, 11, 22, 10, 0)
    promise = promise_for(queue("4h"), now, calendar(), window_start=now, window_end=local(TEHRAN, 2026, 11, 22, 11, 0))
    assert promise.deadline_at == local(TEHRAN, 2026, 11, 22, 11, 0)
    assert promise.deadline_from == "window"


def test_a_window_later_than_our_promise_becomes_the_promise_and_delays_the_first_call():
    now = local(TEHRAN, 2026, 11, 22, 10, 0)
    start, end = local(TEHRAN, 2026, 11, 24, 16, 0), local(TEHRAN, 2026, 11, 24, 18, 0)
    promise = promise_for(queue("2h"), now, calendar(), window_start=start, window_end=end)
    assert (promise.first_attempt_at, promise.deadline_at, promise.deadline_from) == (start, end, "window")


def test_a_window_ending_after_the_queue_deadline_keeps_the_queue_deadline():
    now = local(TEHRAN, 2026, 11, 22, 10, 0)
    promise = promise_for(queue("2h"), now, calendar(), window_start=now, window_end=local(TEHRAN, 2026, 11, 22, 18, 0))
    assert promise.deadline_at == local(TEHRAN, 2026, 11, 22, 12, 0)
    assert promise.deadline_from == "sla"


@pytest.mark.parametrize(
    ("start", "end", "code"),
    [
        ((2026, 11, 22, 12, 0), (2026, 11, 22, 11, 0), "window_inverted"),
        ((2026, 11, 22, 8, 0), (2026, 11, 22, 9, 0), "window_past"),
        ((2026, 11, 22, 10, 0), (2026, 11, 22, 10, 5), "window_too_short"),
        ((2026, 12, 20, 10, 0), (2026, 12, 20, 12, 0), "window_too_far"),
    ],
)
def test_impossible_windows_are_refused_with_a_reason(start, end, code):
    now = local(TEHRAN, 2026, 11, 22, 10, 0)
    with pytest.raises(InvalidRequest) as info:
        promise_for(queue(), now, calendar(), window_start=local(TEHRAN, *start), window_end=local(TEHRAN, *end))
    assert info.value.code == code
    assert info.value.field == "window_end"


class TestDaylightSavingInLondon:
    """Europe/London: clocks go forward at 01:00 UTC on 29 March 2026 and back at 01:00 UTC on 25 October 2026."""

    ALWAYS = {
        d: ["00:00-24:00"] for d in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    }

    def test_business_hours_across_the_spring_change_count_real_time(self):
        cal = calendar(self.ALWAYS, zone="Europe/London", holidays=Holidays(country="GB"))
        requested = local(LONDON, 2026, 3, 29, 0, 30)  # 00:30 GMT
        deadline = promise_for(queue("3h"), requested, cal).deadline_at
        assert deadline == datetime(2026, 3, 29, 3, 30, tzinfo=UTC)
        assert deadline.astimezone(LONDON).hour == 4  # 04:30 BST: the wall clock skipped an hour

    def test_business_hours_across_the_autumn_change_count_real_time(self):
        cal = calendar(self.ALWAYS, zone="Europe/London", holidays=Holidays(country="GB"))
        requested = local(LONDON, 2026, 10, 25, 0, 30)  # 00:30 BST = 23:30 UTC
        deadline = promise_for(queue("3h"), requested, cal).deadline_at
        assert deadline == datetime(2026, 10, 25, 2, 30, tzinfo=UTC)
        assert deadline.astimezone(LONDON).hour == 2  # 02:30 GMT: the wall clock repeated an hour

    def test_opening_hours_follow_local_time_after_the_change(self):
        hours = {d: ["09:00-17:00"] for d in ("monday", "tuesday", "wednesday", "thursday", "friday")}
        cal = calendar(hours, zone="Europe/London", holidays=Holidays(country="GB"))
        requested = local(LONDON, 2026, 3, 27, 16, 0)  # Friday 16:00 GMT, one business hour left
        deadline = promise_for(queue("2h"), requested, cal).deadline_at
        # Monday 30 March opens at 09:00 BST, which is 08:00 UTC.
        assert deadline == datetime(2026, 3, 30, 9, 0, tzinfo=UTC)
        assert deadline.astimezone(LONDON) == local(LONDON, 2026, 3, 30, 10, 0)

    def test_a_day_with_a_dst_change_has_its_real_length_of_opening_time(self):
        cal = calendar(self.ALWAYS, zone="Europe/London", holidays=Holidays(country=None))
        start, end = cal.spans_on(date(2026, 3, 29))[0]
        assert end - start == timedelta(hours=23)
        start, end = cal.spans_on(date(2026, 10, 25))[0]
        assert end - start == timedelta(hours=25)


def test_a_days_opening_spans_are_the_same_however_often_asked_and_whatever_the_caller_does_with_them():
    cal = calendar()
    first = cal.spans_on(date(2026, 11, 22))
    first.clear()
    assert cal.spans_on(date(2026, 11, 22)) == calendar().spans_on(date(2026, 11, 22)) != []
    assert cal.spans_on(date(2026, 3, 21)) == []  # Nowruz, asked twice
    assert cal.spans_on(date(2026, 3, 21)) == []


def test_tehran_has_no_daylight_saving_any_more():
    cal = calendar()
    spring = cal.spans_on(date(2026, 3, 28))[0][0]  # Saturday
    summer = cal.spans_on(date(2026, 7, 4))[0][0]  # Saturday
    assert spring.astimezone(TEHRAN).utcoffset() == summer.astimezone(TEHRAN).utcoffset() == timedelta(hours=3.5)


def test_the_promise_moves_with_the_injected_clock(db, centre):
    clock = FrozenClock(local(TEHRAN, 2026, 11, 25, 19, 30))  # Wednesday, 30 minutes before closing
    service = CallbackService(db, centre, clock)
    first = service.request(phone="09121234567", channel="api", actor="test").callback
    # The example's Thursday is 08:00-13:00: 30 minutes on Wednesday, 90 on Thursday morning.
    assert first.deadline_at == local(TEHRAN, 2026, 11, 26, 9, 30)
    clock.advance(hours=14)  # Thursday 09:30
    second = service.request(phone="09351234567", channel="api", actor="test").callback
    assert second.requested_at == local(TEHRAN, 2026, 11, 26, 9, 30)
    assert second.deadline_at == local(TEHRAN, 2026, 11, 26, 11, 30)
