"""The form shows, before the customer submits, when each topic would call them back; when we are busier than
usual it says so and offers the customer's own window instead."""

from __future__ import annotations

from callbacks.agents import add_agent, set_shift
from tests.support.form import page, text_of


def test_the_form_shows_each_topics_promise_before_submitting(client, app):
    add_agent(app.extensions["ivr"].db, "Agent", "+989350000001", app.extensions["ivr"].clock.now(), "IR")
    response = client.get("/callback?lang=en")
    assert text_of(response, "quote-general") == "General support: we will call you before 12:00 today."
    assert text_of(response, "quote-urgent") == "Urgent: we will call you before 10:30 today."
    assert page(response).get_element_by_id("quote-window-offer", None) is None


def test_when_we_are_busy_the_form_says_so_and_offers_the_customers_own_window(client, app):
    rt = app.extensions["ivr"]
    name = add_agent(rt.db, "Agent", "+989350000001", rt.clock.now(), "IR").name
    set_shift(rt.db, name, False, rt.clock.now())  # nobody until tomorrow morning
    response = client.get("/callback?lang=en")
    general = text_of(response, "quote-general")
    assert "We are overloaded right now and cannot promise a time" in general
    assert "choose your own time below" in text_of(response, "quote-window-offer")
    persian = client.get("/callback?lang=fa")
    assert "سرمان بسیار شلوغ است" in text_of(persian, "quote-general")
