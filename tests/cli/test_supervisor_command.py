"""`ivr supervisor add EMAIL`: asks for or generates a password (printed once); roles; errors are readable."""

from __future__ import annotations

import pytest

from callbacks.accounts import authenticate, list_supervisors
from cli.supervisor import supervisor_cli

pytestmark = pytest.mark.parametrize("db", ["sqlite"], indirect=True)


def test_add_with_a_password_on_stdin(app, clock):
    result = app.test_cli_runner().invoke(
        supervisor_cli, ["add", "Lead@Example.com", "--password-stdin"], input="a long secret phrase\n"
    )
    assert result.exit_code == 0, result.output
    assert "lead@example.com added (admin)" in result.output
    db = app.extensions["ivr"].db
    assert authenticate(db, "lead@example.com", "a long secret phrase", clock.now()).supervisor is not None
    stored = list_supervisors(db)[0]
    assert stored.password_hash.startswith("$argon2id$") and "a long secret phrase" not in stored.password_hash


def test_add_generates_and_prints_a_password_once(app, clock):
    result = app.test_cli_runner().invoke(supervisor_cli, ["add", "viewer@example.com", "--role", "viewer"])
    assert result.exit_code == 0, result.output
    password = result.stdout.strip().splitlines()[-1]
    assert len(password) >= 16
    found = authenticate(app.extensions["ivr"].db, "viewer@example.com", password, clock.now()).supervisor
    assert found is not None and found.role == "viewer"


def test_add_refuses_duplicates_bad_emails_and_short_passwords(app):
    runner = app.test_cli_runner()
    assert runner.invoke(supervisor_cli, ["add", "a@example.com", "--generate"]).exit_code == 0
    again = runner.invoke(supervisor_cli, ["add", "A@example.com", "--generate"])
    assert again.exit_code != 0 and "already exists" in again.output
    bad = runner.invoke(supervisor_cli, ["add", "not-an-email", "--generate"])
    assert bad.exit_code != 0 and "not an e-mail address" in bad.output
    short = runner.invoke(supervisor_cli, ["add", "b@example.com", "--password-stdin"], input="short\n")
    assert short.exit_code != 0 and "at least" in short.output


def test_role_and_password_changes(app, clock):
    runner = app.test_cli_runner()
    runner.invoke(supervisor_cli, ["add", "a@example.com", "--password-stdin"], input="first password!!\n")
    assert runner.invoke(supervisor_cli, ["role", "a@example.com", "viewer"]).exit_code == 0
    result = runner.invoke(
        supervisor_cli, ["set-password", "a@example.com", "--password-stdin"], input="second password!!\n"
    )
    assert result.exit_code == 0
    db = app.extensions["ivr"].db
    found = authenticate(db, "a@example.com", "second password!!", clock.now()).supervisor
    assert found is not None and found.role == "viewer"
    assert "a@example.com" in runner.invoke(supervisor_cli, ["list"]).output


def test_the_ivr_command_has_the_supervisor_group(db):
    from cli.main import cli

    assert "supervisor" in cli.commands


def test_a_shift_planned_ahead_is_read_back_in_the_centres_time(app):
    from cli.main import agent

    runner = app.test_cli_runner()
    assert runner.invoke(agent, ["add", "Sara", "09350000001"]).exit_code == 0
    planned = runner.invoke(agent, ["shift", "Sara", "2026-11-23T14:00", "2026-11-23T18:00"])
    assert planned.exit_code == 0, planned.output
    assert "shift planned 2026-11-23 14:00 to 2026-11-23 18:00 (Asia/Tehran)" in planned.output
    wrong = runner.invoke(agent, ["shift", "Sara", "tomorrow", "2026-11-23T18:00"])
    assert wrong.exit_code != 0 and "expected a time such as 2026-11-23T14:00" in wrong.output
    unknown = runner.invoke(agent, ["shift", "Nobody", "2026-11-23T14:00", "2026-11-23T18:00"])
    assert unknown.exit_code != 0 and "No agent named 'Nobody'" in unknown.output
