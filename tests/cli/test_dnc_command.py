"""`ivr dnc add|remove|list`: the operator's hand on the do-not-call list; `ivr api-key create --verifies-numbers`."""

from __future__ import annotations

import json

import pytest

from callbacks.guard import DNC_REASON, OptedOut
from callbacks.models import CANCELED
from cli.dnc import dnc_cli
from tests.support.network import reload, request_callback

pytestmark = pytest.mark.parametrize("db", ["sqlite"], indirect=True)


def test_adding_a_number_cancels_its_open_callbacks_and_refuses_new_ones(app):
    callback = request_callback(app, "+989121234567")
    result = app.test_cli_runner().invoke(dnc_cli, ["add", "0912 123 4567", "--reason", "asked by letter"])
    assert result.exit_code == 0, result.output
    assert "1 open callback(s) canceled" in result.output
    assert "+989121234567" not in result.output  # masked in what may end up in a terminal log
    done = reload(app, callback)
    assert done.status == CANCELED and done.end_reason == DNC_REASON
    with pytest.raises(OptedOut):
        request_callback(app, "+989121234567")


def test_list_and_remove(app):
    runner = app.test_cli_runner()
    runner.invoke(dnc_cli, ["add", "09121234567"])
    listed = runner.invoke(dnc_cli, ["list", "--format", "json"])
    assert [row["phone"] for row in json.loads(listed.output)] == ["+989121234567"]
    assert runner.invoke(dnc_cli, ["remove", "09121234567"]).exit_code == 0
    assert "nobody" in runner.invoke(dnc_cli, ["list"]).output
    again = runner.invoke(dnc_cli, ["remove", "09121234567"])
    assert again.exit_code != 0 and "not on the do-not-call list" in again.output
    request_callback(app, "+989121234567")  # callable again


def test_a_number_we_could_never_call_is_refused_with_the_reason(app):
    result = app.test_cli_runner().invoke(dnc_cli, ["add", "hello"])
    assert result.exit_code != 0 and "not a number we could call" in result.output


def test_a_partner_key_that_verifies_numbers_is_created_with_its_flag(app):
    from sqlalchemy import select

    from callbacks.models import ApiKey
    from cli.main import api_key

    runner = app.test_cli_runner()
    assert runner.invoke(api_key, ["create", "partner", "--verifies-numbers"]).exit_code == 0
    assert runner.invoke(api_key, ["create", "plain"]).exit_code == 0
    with app.extensions["ivr"].db.session() as session:
        flags = {k.name: k.verifies_numbers for k in session.scalars(select(ApiKey))}
    assert flags == {"partner": True, "plain": False}
