"""Hypothesis over the public callback form, on PostgreSQL: whatever a browser (or a script) sends in its fields,
language and status links, the answer is a page (200, 303 or a 4xx that says what is wrong), never a 5xx."""

from __future__ import annotations

import os
from collections import Counter
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.form import csrf_token

pytestmark = pytest.mark.postgres
EXAMPLES = int(os.environ.get("IVR_FUZZ_EXAMPLES", "25")) * 4

text = st.text(st.characters(exclude_categories=["Cs"]), max_size=60)
phones = st.one_of(st.sampled_from(["0912 123 4567", "+989121234567", "+442071234567", "+1900555123", "۰۹۱۲۱۲۳۴۵۶۷",
                                    "", "0" * 40]), text)
days = st.one_of(st.dates().map(str), st.sampled_from(["today", "2026-11-22", "1405-09-01", "9999-12-31",
                                                       "0001-01-01"]), text)
times = st.one_of(st.times().map(lambda t: t.strftime("%H:%M")), st.sampled_from(["24:00", "99:99", "۱۰:۳۰", "-1:00"]),
                  text)
fields = st.fixed_dictionaries({"phone": phones}, optional={
    "name": text, "queue": st.one_of(st.sampled_from(["general", "billing", "urgent", "nowhere"]), text),
    "window_date": days, "window_from": times, "window_to": times, "note": st.one_of(text, st.just("x" * 5000)),
    "unexpected": text,
})


@pytest.fixture(autouse=True)
def _no_phone_number_in_the_logs() -> None:
    """Off here: random digit strings are logged where fields are refused, and are no one's number."""


@pytest.fixture
def site(pg_db: Any, app_config: dict[str, Any], centre: Any, clock: Any) -> Any:
    from ivr.app import create_app

    return create_app({**app_config, "DATABASE": pg_db, "CENTRE": centre, "CLOCK": clock,
                       "RATELIMIT_ENABLED": False})


def test_any_form_submission_gets_a_page_or_a_4xx(site):
    client = site.test_client()
    seen: Counter[str] = Counter()

    @given(values=fields, lang=st.sampled_from(["en", "fa", "xx", ""]))
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def fuzz(values: dict[str, str], lang: str) -> None:
        form = client.get(f"/callback?lang={lang}")
        assert form.status_code == 200
        answer = client.post(f"/callback?lang={lang}", data={**values, "csrf_token": csrf_token(form)})
        seen[str(answer.status_code)] += 1
        assert answer.status_code in (200, 201, 303, 400, 409, 413, 422, 429), answer.status_code
        assert answer.mimetype == "text/html"

    fuzz()
    print(f"form: {dict(seen)}")


def test_any_status_link_gets_a_page_or_a_4xx(site):
    client = site.test_client()

    @given(token=text, cancel=st.booleans())
    @settings(max_examples=EXAMPLES // 2, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def fuzz(token: str, cancel: bool) -> None:
        path = f"/callback/status/{quote(token, safe='')}"
        answer = client.post(path + "/cancel") if cancel else client.get(path)
        assert answer.status_code < 500, (token, answer.status_code)

    fuzz()
