"""On the phone the caller hears the honest time: when the SLA cannot be kept they hear that we are busier than
usual, and beyond the queue's ceiling that we are overloaded."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from config import load_contact_centre
from config.menus import menu_of
from config.settings import EXAMPLE_CONFIG
from ivr.phone import navigator

TEHRAN = ZoneInfo("Asia/Tehran")
MENU = menu_of(load_contact_centre(EXAMPLE_CONFIG))
DEADLINE = datetime(2026, 11, 22, 15, 5, tzinfo=TEHRAN)


def spoken(step: navigator.Step) -> str:
    return " ".join(s.text or "" for s in step.speech)


def test_a_caller_promised_the_sla_hears_the_time_and_reference():
    words = spoken(navigator.booked(MENU, "callback", "en", DEADLINE, "K7PQ-4QXM", False, TEHRAN, promise="sla"))
    assert words.startswith("Thank you. We will call you back by Sunday at 15:05.")
    assert "busier" not in words


def test_a_caller_promised_a_later_time_hears_that_we_are_busier_than_usual():
    words = spoken(navigator.booked(MENU, "callback", "en", DEADLINE, "K7PQ-4QXM", False, TEHRAN,
                                    promise="forecast"))
    assert words.startswith("We are busier than usual")
    assert "We will call you back by Sunday at 15:05" in words


def test_a_caller_beyond_the_ceiling_hears_plainly_that_we_are_overloaded_in_their_language():
    english = spoken(navigator.booked(MENU, "callback", "en", DEADLINE, "K7PQ-4QXM", False, TEHRAN,
                                      promise="ceiling"))
    assert english.startswith("We are overloaded right now and cannot promise you a time.")
    persian = spoken(navigator.booked(MENU, "callback", "fa", DEADLINE, "K7PQ-4QXM", False, TEHRAN,
                                      promise="ceiling"))
    assert "سرمان بسیار شلوغ است" in persian
