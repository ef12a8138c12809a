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


BROKEN = {
    "node ids are plain words": (
        GOOD_MENU.replace("main", "main menu").replace("start: main menu", 'start: "main menu"')
        .replace("    main menu:", '    "main menu":'),
        "ivr.nodes: node ids must be letters, digits, '_' or '-' (at most 60), got ['main menu']",
    ),
    "an option leads to a node that exists": (
        GOOD_MENU.replace("goto: agent}", "goto: bilin}"),
        "ivr.nodes.main.options[0].goto: `goto` 'bilin' is not a node (nodes are ['agent', 'main'])",
    ),
    "zero leads to a transfer or callback": (
        GOOD_MENU.replace("operator: agent", "operator: main"),
        "ivr.operator: `0` must lead to a transfer or callback node; 'main' is a menu",
    ),
    "zero never says goodbye": (
        GOOD_MENU.replace("{type: menu,", "{type: menu, zero: bye,") + "    bye: {type: goodbye}\n",
        "ivr.nodes.main.zero: `0` may not lead to a goodbye: it is the way to a human",
    ),
    "zero does not loop": (
        GOOD_MENU.replace("{type: menu,", "{type: menu, zero: other,")
        + "    other: {type: menu, zero: main, prompt: {fa: x, en: x}, options: [{key: 1, goto: main}]}\n",
        "ivr.nodes.main.zero: pressing 0 from here never reaches a transfer or callback node (a loop?)",
    ),
    "a human answers in a queue the centre has": (
        GOOD_MENU.replace("{type: transfer}", "{type: transfer, queue: sales}"),
        "ivr.nodes.agent.queue: 'sales' is not one of the queues ['billing', 'general', 'urgent']",
    ),
    "collected digits lead on": (
        GOOD_MENU.replace("goto: agent}", "goto: order}") + "    order: {type: collect, prompt: {fa: x, en: x}}\n",
        "ivr.nodes.order.next: a collect node needs `next` (where the call goes after)",
    ),
    "digits can be collected": (
        GOOD_MENU.replace("goto: agent}", "goto: order}")
        + "    order: {type: collect, next: agent, min_length: 8, max_length: 4, prompt: {fa: x, en: x}}\n",
        "ivr.nodes.order.min_length: min_length is more than max_length",
    ),
    "messages do not talk in a ring": (
        GOOD_MENU.replace("goto: agent}", "goto: a}")
        + "    a: {type: message, next: b, prompt: {fa: x, en: x}}\n"
        + "    b: {type: message, next: a, prompt: {fa: x, en: x}}\n",
        "ivr.nodes.a.next: messages lead to each other in a ring with no menu",
    ),
    "a menu offers something": (
        GOOD_MENU.replace("options: [{key: 1, goto: agent}]", "options: []"),
        "ivr.nodes.main.options: a menu needs at least one option (use a message otherwise)",
    ),
    "a key leads to one option": (
        GOOD_MENU.replace("[{key: 1, goto: agent}]", "[{key: 1, goto: agent}, {key: 1, goto: main}]"),
        "ivr.nodes.main.options[1].key: key '1' is used twice in this menu",
    ),
    "the words for a human stay reserved": (
        GOOD_MENU.replace("{key: 1, goto: agent}", "{key: 1, goto: agent, words: {en: [Operator]}}"),
        "ivr.nodes.main.options[0].words.en: 'Operator' is reserved: it reaches a human",
    ),
    "every language hears the prompt": (
        GOOD_MENU.replace("prompt: {fa: x, en: x}", "prompt: {fa: x}"),
        "ivr.nodes.main.prompt: no prompt in ['en'] (languages are ['fa', 'en'])",
    ),
    "every language can be chosen": (
        GOOD_MENU.replace("  nodes:", '  language: {keys: {"1": fa}, prompt: {fa: x, en: x}}\n  nodes:'),
        "ivr.language.keys: no key chooses ['en']",
    ),
}


@pytest.mark.parametrize("promise", list(BROKEN))
def test_a_broken_promise_is_named_at_its_path(promise: str) -> None:
    menu, problem = BROKEN[promise]
    assert problem in problems_of(menu)


def test_a_reserved_word_as_the_first_word_of_an_option_is_a_message_not_a_crash() -> None:
    menu = GOOD_MENU.replace("{key: 1, goto: agent}", "{key: 1, goto: agent, words: {en: [operator, billing]}}")
    assert problems_of(menu) == ["ivr.nodes.main.options[0].words.en: 'operator' is reserved: it reaches a human"]
