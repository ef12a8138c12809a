"""The promise, proved by walking: from every node of the shipped menu and of randomly generated valid menus,
`0` reaches a human or the callback offer, silence and nonsense never end the call first, and every answer is
valid TwiML. Requests go through the Flask test client, signed like Twilio's."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from config.menus import Menu, menu_of, parse_menu, prove
from tests.support.phone import Caller, add_agent

GARBAGE = "9" * 50
KEYS = list("123456789#")


@pytest.fixture
def phone_app(app_config: dict[str, Any], sqlite_db: Any, centre: Any, clock: Any) -> Any:
    from ivr.app import create_app

    app = create_app({**app_config, "DATABASE": sqlite_db, "CENTRE": centre, "CLOCK": clock})
    add_agent(app)
    return app


def walk_zero(app: Any, menu: Menu, node: str, language: str) -> None:
    caller = Caller(app.test_client(), app).visit(node, language)
    for _ in range(menu.max_presses_to_human + 1):
        if caller.last.reaches_human_or_offer:
            return
        assert not caller.last.hangs_up or menu.nodes[node].type == "goodbye", f"{node}: hung up before a human"
        caller.press("0")
    raise AssertionError(f"{node} ({language}): 0 did not reach a human: {caller.last.body!r}")


def walk_confused(app: Any, menu: Menu, node: str, language: str, act: str) -> None:
    if menu.nodes[node].type == "goodbye":
        return  # saying goodbye is the caller's own choice, not confusion
    caller = Caller(app.test_client(), app).visit(node, language)
    for _ in range(20):
        if caller.last.reaches_human_or_offer:
            return
        assert not caller.last.hangs_up, f"{node}: the call ended on a confused caller: {caller.history[-2].body!r}"
        if caller.last.gather is None:
            caller.follow()
        elif act == "silence":
            caller.stay_silent()
        else:
            caller.press(GARBAGE)
    raise AssertionError(f"{node} ({language}): {act} went round without reaching a human")


def walk_everything(app: Any, menu: Menu, languages: list[str], *, every_language: bool = True) -> None:
    for i, node in enumerate(menu.nodes):
        for language in languages if every_language else [languages[i % len(languages)]]:
            walk_zero(app, menu, node, language)
            walk_confused(app, menu, node, language, "silence")
            walk_confused(app, menu, node, language, "nonsense")


def test_every_node_of_the_shipped_menu_keeps_the_no_dead_end_promise(phone_app: Any, centre: Any) -> None:
    walk_everything(phone_app, menu_of(centre), list(centre.languages))


def test_with_nobody_on_shift_every_node_still_reaches_the_callback_offer(
    app_config: dict[str, Any], sqlite_db: Any, centre: Any, clock: Any
) -> None:
    from ivr.app import create_app

    app = create_app({**app_config, "DATABASE": sqlite_db, "CENTRE": centre, "CLOCK": clock})
    menu = menu_of(centre)
    for node in menu.nodes:
        walk_zero(app, menu, node, "fa")


@st.composite
def menus(draw: Any) -> dict[str, Any]:
    """A random phone tree of menus, messages, digit collection, transfers, callback offers and goodbyes."""
    kinds = (
        ["menu"] * draw(st.integers(1, 4))
        + ["message"] * draw(st.integers(0, 2))
        + ["collect"] * draw(st.integers(0, 1))
        + ["transfer"] * draw(st.integers(1, 2))
        + ["callback"] * draw(st.integers(0, 1))
        + ["goodbye"] * draw(st.integers(0, 1))
    )
    ids = [f"{kind}{i}" for i, kind in enumerate(kinds)]
    humans = [i for i in ids if i.startswith(("transfer", "callback"))]
    flowing = [i for i in ids if not i.startswith("goodbye")]
    prompt = {"fa": "یک گزینه را انتخاب کنید", "en": "Choose an option"}
    nodes: dict[str, Any] = {}
    for node_id, kind in zip(ids, kinds, strict=True):
        node: dict[str, Any] = {"type": kind}
        if kind in ("menu", "message", "collect"):
            node["prompt"] = prompt
        if kind == "menu":
            keys = draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=4, unique=True))
            node["options"] = [{"key": k, "goto": draw(st.sampled_from(ids))} for k in keys]
            if draw(st.booleans()):
                node["options"].append({"words": {"en": [f"word{node_id}"]}, "goto": draw(st.sampled_from(ids))})
        if kind == "message" and draw(st.booleans()):
            node["next"] = draw(st.sampled_from(flowing))
        if kind == "collect":
            node.update(min_length=2, max_length=6, next=draw(st.sampled_from(flowing)), confirm=draw(st.booleans()))
        if kind in ("transfer", "callback"):
            node["queue"] = draw(st.sampled_from(["general", "billing", "urgent"]))
        if draw(st.integers(0, 3)) == 0:
            node["zero"] = draw(st.sampled_from(ids))
        nodes[node_id] = node
    start = draw(st.sampled_from([i for i in ids if i.startswith("menu")]))
    return {
        "start": start,
        "operator": draw(st.sampled_from(humans)),
        "max_presses_to_human": 4,
        "human": {"mode": draw(st.sampled_from(["enqueue", "dial"]))},
        "nodes": nodes,
    }


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=menus())
def test_any_valid_menu_an_operator_can_write_keeps_the_promise(phone_app: Any, centre: Any, data: dict) -> None:
    candidate = centre.model_copy(update={"ivr": data})
    menu = parse_menu(candidate)
    assume(not list(prove(menu, candidate)))  # the loader would refuse the others at start-up
    phone_app.extensions["ivr"].centre = candidate
    walk_everything(phone_app, menu, list(candidate.languages), every_language=False)
