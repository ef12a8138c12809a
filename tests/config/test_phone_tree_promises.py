"""Each promise of the phone tree is checked when the YAML loads: a broken one is named at its path, in plain words.

One small menu per promise (`config.menus.PROOF`), loaded through the real loader as an operator's file would be.
"""

from __future__ import annotations

import pytest

from config import ConfigError
from config.loader import parse_contact_centre
from config.settings import EXAMPLE_CONFIG

GOOD_MENU = """ivr:
  start: main
  operator: agent
  nodes:
    main: {type: menu, prompt: {fa: x, en: x}, options: [{key: 1, goto: agent}]}
    agent: {type: transfer}
"""


def centre_with(ivr_yaml: str) -> str:
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    return text[: text.index("\nivr:")] + "\n" + ivr_yaml


def problems_of(ivr_yaml: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_contact_centre(centre_with(ivr_yaml), "centre.yaml")
    return [f"{problem.path}: {problem.message}" for problem in info.value.problems]


def test_the_small_menu_keeps_every_promise() -> None:
    centre = parse_contact_centre(centre_with(GOOD_MENU), "centre.yaml")
    assert centre.ivr is not None and centre.ivr["start"] == "main"


def test_a_reserved_word_as_the_first_word_of_an_option_is_a_message_not_a_crash() -> None:
    menu = GOOD_MENU.replace("{key: 1, goto: agent}", "{key: 1, goto: agent, words: {en: [operator, billing]}}")
    assert problems_of(menu) == ["ivr.nodes.main.options[0].words.en: 'operator' is reserved: it reaches a human"]
