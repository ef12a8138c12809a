"""The form's words, digits and dates in Persian and English."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from callbacks.i18n import translate
from ivr.web import i18n
from tests.conftest import ROOT

TEHRAN = ZoneInfo("Asia/Tehran")
NOW = datetime(2026, 11, 22, 10, 0, tzinfo=TEHRAN)  # Sunday 1 Azar 1405
# Codes the form can never trigger: it always sends text, aware times and a page language the centre knows.
NOT_FROM_THE_FORM = {
    "phone_not_text",
    "name_not_text",
    "note_not_text",
    "naive_time",
    "window_incomplete",
    "taken_at_out_of_range",  # only a spool replay passes taken_at
}


def service_error_codes() -> set[str]:
    """Every stable error code the phone rules, the policy and the service can raise."""
    codes: set[str] = set()
    for module in ("callbacks/phones.py", "callbacks/policy.py", "callbacks/service.py"):
        source = (ROOT / module).read_text()
        codes |= set(re.findall(r'(?:PhoneNumberRejected|InvalidRequest)\(\s*"(\w+)"', source))
    return codes


def test_every_error_the_service_can_raise_has_persian_and_english_words() -> None:
    codes = service_error_codes()

    assert {"phone_invalid", "phone_premium_rate", "window_too_short"} <= codes  # the scan works
    missing = sorted(c for c in codes - NOT_FROM_THE_FORM if c not in i18n.FIELD_ERRORS)
    assert missing == []


def test_every_field_error_has_its_persian_words() -> None:
    for code, english in i18n.FIELD_ERRORS.items():
        assert translate(english, "fa") != english, code


def test_unknown_error_code_falls_back_to_the_services_message() -> None:
    assert i18n.error_message("phone_brand_new_rule", "fa", "Service says no.") == "Service says no."


def test_numbers_in_persian_sentences_use_persian_digits() -> None:
    note_too_long = i18n.FIELD_ERRORS["note_too_long"]
    assert translate(note_too_long, "fa", limit=1000) == "لطفاً توضیح را به ۱۰۰۰ نویسه کوتاه کنید."
    assert translate(note_too_long, "en", limit=1000) == "Please shorten the note to 1000 characters."


@pytest.mark.parametrize(
    ("moment", "english", "persian"),
    [
        (datetime(2026, 11, 22, 12, 0, tzinfo=TEHRAN), "12:00 today", "ساعت ۱۲:۰۰ امروز"),
        (datetime(2026, 11, 23, 9, 30, tzinfo=TEHRAN), "09:30 tomorrow", "ساعت ۰۹:۳۰ فردا"),
        (datetime(2026, 11, 26, 10, 0, tzinfo=TEHRAN), "10:00 on Thursday 26 November", "ساعت ۱۰:۰۰ پنج‌شنبه ۵ آذر"),
        # Nowruz: a new Solar Hijri year (1406) but the same Gregorian one... and the other way round at New Year.
        (
            datetime(2027, 3, 21, 8, 0, tzinfo=TEHRAN),
            "08:00 on Sunday 21 March 2027",
            "ساعت ۰۸:۰۰ یک‌شنبه ۱ فروردین ۱۴۰۶",
        ),
        (datetime(2026, 12, 31, 8, 0, tzinfo=TEHRAN), "08:00 on Thursday 31 December", "ساعت ۰۸:۰۰ پنج‌شنبه ۱۰ دی"),
    ],
)
def test_promised_time_is_shown_in_the_centres_zone(moment: datetime, english: str, persian: str) -> None:
    utc_moment = moment.astimezone(ZoneInfo("UTC"))

    assert i18n.format_when(utc_moment, "en", TEHRAN, NOW) == english
    assert i18n.format_when(utc_moment, "fa", TEHRAN, NOW) == persian


def test_today_is_the_centres_today_not_utcs() -> None:
    # 01:00 in Tehran on Monday is still Sunday 21:30 in UTC.
    late_sunday_utc = datetime(2026, 11, 22, 21, 30, tzinfo=ZoneInfo("UTC"))
    monday_morning = datetime(2026, 11, 23, 9, 0, tzinfo=TEHRAN)

    assert i18n.format_when(monday_morning, "en", TEHRAN, late_sunday_utc) == "09:00 today"


def test_day_names_in_solar_hijri() -> None:
    assert i18n.format_day(date(2026, 11, 22), "fa", date(2026, 11, 22)) == "یک‌شنبه ۱ آذر"
    assert i18n.format_day(date(2026, 11, 22), "fa") == "یک‌شنبه ۱ آذر ۱۴۰۵"


def test_direction_of_each_language() -> None:
    assert i18n.direction("fa") == "rtl"
    assert i18n.direction("fa-IR") == "rtl"
    assert i18n.direction("en") == "ltr"


@pytest.mark.parametrize(
    ("query", "cookie", "accept", "expected"),
    [
        ("en", "fa", "fa", "en"),
        (None, "en", "fa-IR", "en"),
        (None, None, "en-US,en;q=0.8", "en"),
        (None, None, "de-DE, fa;q=0.5", "fa"),
        (None, None, "de-DE", "fa"),
        ("xx", "yy", "", "fa"),
    ],
)
def test_language_is_picked_by_query_then_cookie_then_browser_then_default(
    app: Any, query: str | None, cookie: str | None, accept: str, expected: str
) -> None:
    headers = {"Accept-Language": accept}
    if cookie:
        headers["Cookie"] = f"lang={cookie}"
    path = f"/callback?lang={query}" if query else "/callback"
    with app.test_request_context(path, headers=headers):
        from flask import request

        centre = app.extensions["ivr"].centre
        assert i18n.pick_language(request, i18n.page_languages(centre), default=centre.default_language) == expected
