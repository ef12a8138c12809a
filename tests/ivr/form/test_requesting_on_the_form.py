"""A customer asks for a callback on the web form, in Persian or English, and is told when we will call."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from callbacks.clock import FrozenClock
from callbacks.db import Database
from config import ContactCentre
from config.schema import Limits, PhonePolicy
from tests.support.form import (
    count_callbacks,
    count_events,
    csrf_token,
    page,
    status_path,
    stored_callbacks,
    submit,
    text_of,
)

TEHRAN = ZoneInfo("Asia/Tehran")
REFERENCE = re.compile(r"^[A-HJKMNP-Z2-9]{4}-[A-HJKMNP-Z2-9]{4}$")


def make_app(app_config: dict[str, Any], db: Database, centre: ContactCentre, clock: FrozenClock) -> Any:
    from ivr.app import create_app

    return create_app({**app_config, "DATABASE": db, "CENTRE": centre, "CLOCK": clock})


# -- a request that is stored --------------------------------------------------------------------------------------
def test_english_request_answers_with_reference_promise_and_status_link(client: Any, db: Database) -> None:
    response = submit(client, "en", phone="0912 345 6789", name="Sara", note="About my invoice")

    assert response.status_code == 201
    html = page(response)
    assert html.get("lang") == "en" and html.get("dir") == "ltr"
    assert text_of(response, "promise") == "We will call you before 12:00 today."
    assert REFERENCE.match(text_of(response, "reference"))
    assert re.fullmatch(r"/callback/status/[\w-]{20,}", status_path(response))
    assert text_of(response, "status-link").startswith("https://support.example.com/callback/status/")
    [callback] = stored_callbacks(db)
    assert (callback.phone, callback.name, callback.note) == ("+989123456789", "Sara", "About my invoice")
    assert (callback.channel, callback.language, callback.queue) == ("web", "en", "general")
    assert callback.reference == text_of(response, "reference")


def test_persian_request_is_right_to_left_with_persian_digits_and_solar_hijri_date(client: Any, db: Database) -> None:
    response = submit(
        client, "fa", phone="۰۹۱۲ ۳۴۵ ۶۷۸۹", window_date="2026-11-26", window_from="۱۰:۰۰", window_to="۱۱:۰۰"
    )

    assert response.status_code == 201
    html = page(response)
    assert html.get("lang") == "fa" and html.get("dir") == "rtl"
    # Thursday 26 November 2026 is Thursday 5 Azar 1405.
    assert text_of(response, "promise") == "حداکثر تا ساعت ۱۱:۰۰ پنج‌شنبه ۵ آذر با شما تماس می‌گیریم."
    assert text_of(response, "window") == "خواسته‌اید پنج‌شنبه ۵ آذر بین ساعت ۱۰:۰۰ تا ۱۱:۰۰ با شما تماس بگیریم."
    assert page(response).get_element_by_id("reference").get("dir") == "ltr"
    [callback] = stored_callbacks(db)
    assert callback.phone == "+989123456789"
    assert callback.language == "fa"
    assert callback.window_start == datetime(2026, 11, 26, 10, 0, tzinfo=TEHRAN)
    assert callback.window_end == datetime(2026, 11, 26, 11, 0, tzinfo=TEHRAN)
    assert callback.window_start.utcoffset() == timedelta(0)  # stored as aware UTC


def test_english_window_later_today_becomes_the_promise(client: Any, db: Database) -> None:
    response = submit(
        client, "en", phone="09123456789", window_date="2026-11-22", window_from="14:00", window_to="16:00"
    )

    assert response.status_code == 201
    assert text_of(response, "promise") == "We will call you before 16:00 today."
    assert text_of(response, "window") == "You asked to be called between 14:00 and 16:00 on today."
    [callback] = stored_callbacks(db)
    assert callback.deadline_at == datetime(2026, 11, 22, 16, 0, tzinfo=TEHRAN)


def test_form_lists_queues_by_their_configured_names_in_the_page_language(client: Any) -> None:
    fa_options = page(client.get("/callback?lang=fa")).xpath("//select[@id='queue']/option")
    en_options = page(client.get("/callback?lang=en")).xpath("//select[@id='queue']/option")

    assert [(o.get("value"), o.text) for o in fa_options] == [
        ("general", "پشتیبانی عمومی"),
        ("billing", "امور مالی"),
        ("urgent", "موارد فوری"),
    ]
    assert [o.text for o in en_options] == ["General support", "Billing", "Urgent"]


def test_day_choices_are_the_next_two_weeks_in_solar_hijri_for_persian(client: Any) -> None:
    options = page(client.get("/callback?lang=fa")).xpath("//select[@id='window_date']/option")

    assert options[0].get("value") == ""
    assert options[1].get("value") == "2026-11-22"
    assert options[1].text == "امروز — یک\u200cشنبه ۱ آذر"
    assert options[2].text == "فردا — دوشنبه ۲ آذر"
    assert len(options) == 1 + 14


def test_request_for_another_queue_is_a_new_request(client: Any, db: Database) -> None:
    assert submit(client, "en", phone="09123456789", queue="general").status_code == 201
    assert submit(client, "en", phone="09123456789", queue="billing").status_code == 201
    assert count_callbacks(db) == 2


# -- a second request for the same number -------------------------------------------------------------------------
def test_second_request_for_same_number_shows_the_existing_promise_without_its_link(
    client: Any, db: Database, clock: FrozenClock
) -> None:
    first = submit(client, "en", phone="0912 345 6789")
    clock.advance(minutes=30)
    # The same number written another way, from another browser.
    second = submit(client.application.test_client(), "en", phone="+98 912 345 6789")

    assert second.status_code == 200
    assert "already have a request" in text_of(second, "main")
    assert text_of(second, "promise") == "We will call you before 12:00 today."
    body = second.get_data(as_text=True)
    assert "/callback/status/" not in body
    assert text_of(first, "reference") not in body
    assert count_callbacks(db) == 1


def test_second_request_in_persian_says_so_in_persian(client: Any) -> None:
    submit(client, "fa", phone="09123456789")
    second = submit(client, "fa", phone="۰۹۱۲۳۴۵۶۷۸۹")

    assert second.status_code == 200
    assert text_of(second, "promise") == "حداکثر تا ساعت ۱۲:۰۰ امروز با شما تماس می‌گیریم."


# -- every field error next to its field --------------------------------------------------------------------------
FIELD_ERRORS = [
    ({"phone": ""}, "phone", "Please enter your phone number."),
    ({"phone": "0912abc4567"}, "phone", "Use only digits, spaces and + - ( ) in the phone number."),
    ({"phone": "+"}, "phone", "This does not look like a phone number."),
    ({"phone": "0912123"}, "phone", "This phone number does not exist. Check the digits."),
    ({"phone": "+44 7400 123456"}, "phone", "We can only call numbers in Iran."),
    ({"phone": "1" * 65}, "phone", "This phone number is too long."),
    ({"name": "x" * 121}, "name", "Please shorten the name to 120 characters."),
    ({"note": "x" * 1001}, "note", "Please shorten the note to 1000 characters."),
    ({"queue": "nope"}, "queue", "Please choose a subject from the list."),
    ({"window_date": "2026-11-22", "window_from": "14:00"}, "window_to", "Please give a time."),
    ({"window_from": "14:00", "window_to": "15:00"}, "window_date", "Please choose a day for these times."),
    (
        {"window_date": "2027-01-20", "window_from": "9:00", "window_to": "10:00"},
        "window_date",
        "Please choose a day from the list.",
    ),
    (
        {"window_date": "2026-11-23", "window_from": "25:00", "window_to": "15:00"},
        "window_from",
        "Please give a time such as 14:30.",
    ),
    (
        {"window_date": "2026-11-23", "window_from": "14:00", "window_to": "13:00"},
        "window_to",
        "The end time must be after the start time.",
    ),
    (
        {"window_date": "2026-11-22", "window_from": "08:00", "window_to": "09:00"},
        "window_to",
        "This time has already passed.",
    ),
    (
        {"window_date": "2026-11-22", "window_from": "14:00", "window_to": "14:10"},
        "window_to",
        "Please leave at least 15 minutes for the call.",
    ),
]


@pytest.mark.parametrize(
    ("fields", "field", "message"), FIELD_ERRORS, ids=[f"{e[1]}-{e[2][:30]}" for e in FIELD_ERRORS]
)
def test_invalid_field_is_explained_next_to_it_and_nothing_is_stored(
    client: Any, db: Database, fields: dict[str, str], field: str, message: str
) -> None:
    form: dict[str, Any] = {"phone": "09123456789", **fields}
    response = submit(client, "en", **form)

    assert response.status_code == 422
    assert text_of(response, f"{field}-error") == message
    control = page(response).get_element_by_id(field)
    assert control.get("aria-invalid") == "true"
    assert f"{field}-error" in control.get("aria-describedby")
    assert len(page(response).xpath("//p[@class='field-error']")) == 1
    assert count_callbacks(db) == 0


def test_all_problems_are_shown_together_in_persian_and_the_input_is_kept(client: Any, db: Database) -> None:
    response = submit(
        client, "fa", phone="۰۹۱۲۱۲۳", name="x" * 121, window_date="2026-11-23", window_from="14:00", window_to="13:00"
    )

    assert response.status_code == 422
    assert text_of(response, "form-banner") == "لطفاً موارد مشخص‌شده را اصلاح کنید."
    assert text_of(response, "phone-error") == "این شمارهٔ تلفن معتبر نیست. رقم‌ها را بررسی کنید."
    assert text_of(response, "name-error") == "لطفاً نام را به ۱۲۰ نویسه کوتاه کنید."
    assert text_of(response, "window_to-error") == "ساعت پایان باید پس از ساعت شروع باشد."
    html = page(response)
    assert html.get_element_by_id("phone").get("value") == "۰۹۱۲۱۲۳"
    assert html.xpath("//select[@id='window_date']/option[@selected]")[0].get("value") == "2026-11-23"
    assert count_callbacks(db) == 0


@pytest.fixture
def strict_centre(centre: ContactCentre) -> ContactCentre:
    """The example centre calling Iran and the UK, with a range of Iranian numbers barred."""
    policy = PhonePolicy(allowed_countries=["IR", "GB"], denied_prefixes=["+989129"])
    return centre.model_copy(update={"phone_numbers": policy})


@pytest.mark.parametrize(
    ("phone", "message"),
    [
        ("+44 909 879 0000", "We cannot call premium-rate numbers."),
        ("+44 800 123 4567", "We can call only mobile and landline numbers."),
        ("0912 900 1234", "We cannot call this number."),
        ("+1 201 555 0123", "We can only call numbers in Iran, the United Kingdom."),
    ],
)
def test_numbers_the_policy_refuses_are_explained_on_the_phone_field(
    app_config: dict[str, Any],
    db: Database,
    strict_centre: ContactCentre,
    clock: FrozenClock,
    phone: str,
    message: str,
) -> None:
    client = make_app(app_config, db, strict_centre, clock).test_client()

    response = submit(client, "en", phone=phone)

    assert response.status_code == 422
    assert text_of(response, "phone-error") == message
    assert count_callbacks(db) == 0


def test_premium_rate_refusal_in_persian(
    app_config: dict[str, Any], db: Database, strict_centre: ContactCentre, clock: FrozenClock
) -> None:
    client = make_app(app_config, db, strict_centre, clock).test_client()

    response = submit(client, "fa", phone="+44 909 879 0000")

    assert text_of(response, "phone-error") == "با شماره‌های با هزینهٔ ویژه (پولی) نمی‌توانیم تماس بگیریم."


# -- CSRF ------------------------------------------------------------------------------------------------------------
def test_form_sent_without_csrf_token_is_refused_and_nothing_is_stored(client: Any, db: Database) -> None:
    response = submit(client, "en", with_token=False, phone="09123456789", name="Sara")

    assert response.status_code == 400
    assert "nothing was sent" in text_of(response, "form-banner")
    # The customer's input comes back with a fresh token, ready to send again.
    assert page(response).get_element_by_id("name").get("value") == "Sara"
    assert csrf_token(response)
    assert count_callbacks(db) == 0
    assert count_events(db) == 0


def test_form_sent_with_a_forged_token_is_refused(client: Any, db: Database) -> None:
    client.get("/callback?lang=fa")
    response = client.post("/callback?lang=fa", data={"csrf_token": "forged", "phone": "09123456789"})

    assert response.status_code == 400
    assert text_of(response, "form-banner").startswith("مهلت این فرم تمام شده بود")
    assert count_callbacks(db) == 0


def test_token_from_another_browser_session_is_refused(client: Any, app: Any, db: Database) -> None:
    token = csrf_token(client.get("/callback"))
    other = app.test_client()

    response = other.post("/callback", data={"csrf_token": token, "phone": "09123456789"})

    assert response.status_code == 400
    assert count_callbacks(db) == 0


def test_json_api_needs_no_form_token(client: Any, auth: dict[str, str]) -> None:
    response = client.post("/api/v1/callbacks", json={"phone": "09123456789"}, headers=auth)

    assert response.status_code == 201
    assert response.get_json()["status_url"].startswith("https://support.example.com/callback/status/")


# -- language ------------------------------------------------------------------------------------------------------
def test_page_language_defaults_to_persian(client: Any) -> None:
    html = page(client.get("/callback"))

    assert (html.get("lang"), html.get("dir")) == ("fa", "rtl")


def test_browser_language_is_followed(client: Any) -> None:
    html = page(client.get("/callback", headers={"Accept-Language": "en-GB,en;q=0.9"}))

    assert (html.get("lang"), html.get("dir")) == ("en", "ltr")


def test_chosen_language_is_remembered_over_the_browser_language(client: Any) -> None:
    client.get("/callback?lang=en")

    html = page(client.get("/callback", headers={"Accept-Language": "fa-IR"}))

    assert html.get("lang") == "en"
    switch = html.xpath("//nav[@class='lang-switch']/a")
    assert [(a.get("href"), a.text) for a in switch] == [("/callback?lang=fa", "فارسی")]


def test_unknown_language_falls_back_to_the_default(client: Any) -> None:
    assert page(client.get("/callback?lang=de")).get("lang") == "fa"


# -- abuse limits --------------------------------------------------------------------------------------------------
def test_client_sending_too_many_forms_gets_429_with_retry_after(
    app_config: dict[str, Any], db: Database, centre: ContactCentre, clock: FrozenClock
) -> None:
    limited = centre.model_copy(update={"limits": Limits(per_client="2 per minute")})
    client = make_app(app_config, db, limited, clock).test_client()
    submit(client, "en", phone="09123456789")
    submit(client, "en", phone="09123456780")

    response = submit(client, "en", phone="09123456781")

    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert "Too many requests came from your connection" in text_of(response, "main")
    assert count_callbacks(db) == 2


def test_number_asking_too_often_gets_429_on_the_phone_field(
    app_config: dict[str, Any], db: Database, centre: ContactCentre, clock: FrozenClock
) -> None:
    limited = centre.model_copy(update={"limits": Limits(per_phone="1 per hour")})
    client = make_app(app_config, db, limited, clock).test_client()
    assert submit(client, "fa", phone="09123456789").status_code == 201

    response = submit(client, "fa", phone="09123456789", queue="billing")

    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 3600
    assert text_of(response, "phone-error").startswith("برای این شماره درخواست‌های زیادی ثبت شده است.")
    assert count_callbacks(db) == 1


def test_invalid_forms_do_not_use_up_the_numbers_quota(
    app_config: dict[str, Any], db: Database, centre: ContactCentre, clock: FrozenClock
) -> None:
    limited = centre.model_copy(update={"limits": Limits(per_phone="1 per hour")})
    client = make_app(app_config, db, limited, clock).test_client()
    assert submit(client, "en", phone="09123456789", queue="nope").status_code == 422

    assert submit(client, "en", phone="09123456789").status_code == 201


# -- headers --------------------------------------------------------------------------------------------------------
def test_pages_with_the_status_link_are_not_cached_or_indexed(client: Any) -> None:
    response = submit(client, "en", phone="09123456789")

    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "noindex" in response.headers["X-Robots-Tag"]
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_stylesheet_is_served_locally(client: Any) -> None:
    html = page(client.get("/callback"))
    [stylesheet] = html.xpath("//link[@rel='stylesheet']")

    response = client.get(stylesheet.get("href"))

    assert response.status_code == 200
    assert "margin-inline" in response.get_data(as_text=True)
    response.close()
