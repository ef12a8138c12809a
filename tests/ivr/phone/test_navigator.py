"""The navigator alone: no Flask, no database. Menu + node + input + retries -> the next step."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from config import ConfigError
from config.loader import parse_contact_centre
from config.menus import menu_of
from config.settings import EXAMPLE_CONFIG
from ivr.phone import navigator as nav
from ivr.phone.navigator import CallerInput, Situation


@pytest.fixture(scope="module")
def menu(centre):
    return menu_of(centre)


def press(keys: str) -> CallerInput:
    return CallerInput.parse(keys, None)


SILENCE = CallerInput.parse(None, None)
OPEN = Situation()


def test_zero_from_billing_goes_to_the_billing_queue(menu) -> None:
    step = nav.navigate(menu, "billing", press("0"), 0, "en", OPEN)
    assert isinstance(step.then, nav.Enqueue) and step.then.queue == "billing"


def test_silence_re_prompts_twice_then_reaches_a_human(menu) -> None:
    first = nav.decide(menu, "main", SILENCE, 0)
    second = nav.decide(menu, "main", SILENCE, first.retries)
    third = nav.decide(menu, "main", SILENCE, second.retries)
    assert (first.node, first.retries, second.node, second.retries) == ("main", 1, "main", 2)
    assert third.node == menu.operator


def test_a_ten_thousand_digit_entry_is_just_confusion(menu) -> None:
    heard = CallerInput.parse("1" * 10_000, None)
    assert heard.kind == "garbage"
    assert nav.decide(menu, "main", heard, 0).sorry


def test_persian_digits_and_arabic_letters_are_understood(menu) -> None:
    assert nav.decide(menu, "main", CallerInput.parse("۱", None), 0).node == "billing"
    assert nav.decide(menu, "main", CallerInput.parse(None, "مالي"), 0).node == "billing"  # Arabic yeh


def test_closed_transfer_offers_a_callback_with_the_next_opening(menu, centre) -> None:
    closed = Situation(is_open=False, next_opening=datetime(2026, 11, 28, 4, 30, tzinfo=UTC), zone=centre.zone)
    step = nav.navigate(menu, "main", press("0"), 0, "en", closed)
    assert "Saturday at 08:00" in " ".join(s.text or "" for s in step.speech)
    assert step.listen is not None and step.listen.action.name == "offer"


def test_the_renderer_refuses_options_without_a_gather(menu) -> None:
    from ivr.phone.twiml import OptionsWithoutGather, Renderer

    step = nav.Step("main", speech=(nav.Speech("en", "press 1"),), then=nav.Redirect(nav.Route.to("input", n="main")))
    with pytest.raises(OptionsWithoutGather):
        Renderer(menu, "https://x.example").render(step)


# -- the load-time proof --------------------------------------------------------------------------------------


def with_menu(ivr_yaml: str) -> str:
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    return text[: text.index("\nivr:")] + "\n" + ivr_yaml


def problems(ivr_yaml: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_contact_centre(with_menu(ivr_yaml), "centre.yaml")
    return str(info.value)


def test_a_missing_node_is_named_with_file_path_and_line() -> None:
    text = problems(
        """ivr:
  start: main
  operator: agent
  nodes:
    main:
      type: menu
      prompt: {fa: "x", en: "x"}
      options:
        - {key: 1, goto: bilin}
    agent: {type: transfer}
"""
    )
    assert "centre.yaml:" in text and "ivr.nodes.main.options[0].goto" in text and "'bilin' is not a node" in text


def test_zero_that_loops_between_menus_is_refused() -> None:
    text = problems(
        """ivr:
  start: a
  operator: agent
  nodes:
    a: {type: menu, zero: b, prompt: {fa: x, en: x}, options: [{key: 1, goto: b}]}
    b: {type: menu, zero: a, prompt: {fa: x, en: x}, options: [{key: 1, goto: a}]}
    agent: {type: transfer}
"""
    )
    assert "ivr.nodes.a.zero" in text and "never reaches" in text


def test_a_human_too_many_presses_away_is_refused() -> None:
    text = problems(
        """ivr:
  start: a
  operator: agent
  max_presses_to_human: 1
  nodes:
    a: {type: menu, zero: b, prompt: {fa: x, en: x}, options: [{key: 1, goto: b}]}
    b: {type: menu, prompt: {fa: x, en: x}, options: [{key: 1, goto: a}]}
    agent: {type: transfer}
"""
    )
    assert "2 presses of 0 away" in text


def test_options_on_a_message_and_a_missing_language_and_a_reserved_key_are_refused() -> None:
    text = problems(
        """ivr:
  start: a
  operator: agent
  nodes:
    a: {type: message, next: m, prompt: {fa: x}, options: [{key: 1, goto: m}]}
    m: {type: menu, prompt: {fa: x, en: x}, options: [{key: 1, goto: a}]}
    agent: {type: transfer, queue: nowhere}
"""
    )
    assert "ivr.nodes.a.options" in text and "only menu nodes" in text
    assert "ivr.nodes.a.prompt" in text and "['en']" in text
    assert "'nowhere' is not one of the queues" in text


def test_the_operator_must_be_a_human() -> None:
    text = problems(
        """ivr:
  start: m
  operator: m
  nodes:
    m: {type: menu, prompt: {fa: x, en: x}, options: [{key: 1, goto: m}]}
"""
    )
    assert "`0` must lead to a transfer or callback node" in text


def test_an_option_may_not_take_the_zero_key() -> None:
    text = problems(
        """ivr:
  start: m
  operator: agent
  nodes:
    m: {type: menu, prompt: {fa: x, en: x}, options: [{key: 0, goto: agent}]}
    agent: {type: transfer}
"""
    )
    assert "ivr.nodes.m.options[0].key" in text and "`0` is reserved" in text
