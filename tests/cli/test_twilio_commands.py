"""`ivr twilio check` and `ivr twilio configure` through the real `twilio` client against the spec-validated
stand-in: an operator sets up a fresh number, fixes what the check finds, and is told what only the console can do."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from cli.main import cli
from telephony.twilio_standin import TwilioStub, openapi_validator

ACCOUNT = "AC" + "0123456789abcdef" * 2
TOKEN = "setup-token"
LINE = "+982191000000"
PUBLIC = "https://support.example.com"


@pytest.fixture(scope="module")
def validator(shared_dir):
    return openapi_validator(json.loads((shared_dir / "twilio" / "twilio_api_v2010.json").read_text()))


@pytest.fixture
def twilio(validator):
    with TwilioStub(validator=validator, auth_token=TOKEN) as server:
        yield server
    assert server.errors == [], "a request did not match Twilio's API description"


def ivr(twilio: TwilioStub, *args: str, tmp_path: Any, **env: str) -> Any:
    environment = {"TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": TOKEN, "TWILIO_PHONE_NUMBER": LINE,
                   "TWILIO_API_BASE_URL": twilio.base_url, "PUBLIC_BASE_URL": PUBLIC,
                   "INSTANCE_PATH": str(tmp_path), **env}
    return CliRunner().invoke(cli, ["twilio", *args], env=environment, catch_exceptions=False)


def test_a_fresh_number_fails_the_check_until_configure_points_it_at_us(twilio, tmp_path):
    sid = twilio.add_number(LINE, ACCOUNT)
    twilio.allow_country("IR")
    before = ivr(twilio, "check", tmp_path=tmp_path)
    assert before.exit_code == 1
    assert "ok    credentials: account " + ACCOUNT in before.output
    assert f"ok    number: {LINE} ({sid})" in before.output
    assert "FAIL  voice URL (a call comes in): is (empty), should be https://support.example.com/twilio/voice: " \
           "run `ivr twilio configure`" in before.output
    assert "FAIL  fallback URL (the voice URL failed)" in before.output
    assert "ok    calls to IR: allowed" in before.output

    configured = ivr(twilio, "configure", tmp_path=tmp_path)
    assert configured.exit_code == 0, configured.output
    assert "set to https://support.example.com/twilio/status" in configured.output
    [update] = [r for r in twilio.requests if r["method"] == "POST" and "IncomingPhoneNumbers" in r["path"]]
    assert update["form"]["VoiceUrl"] == [f"{PUBLIC}/twilio/voice"]
    assert update["form"]["StatusCallback"] == [f"{PUBLIC}/twilio/status"]
    assert update["form"]["VoiceFallbackUrl"] == [f"{PUBLIC}/twilio/fallback"]
    assert "VoiceMethod" not in update["form"]  # already POST: only what differs is sent

    after = ivr(twilio, "check", tmp_path=tmp_path)
    assert after.exit_code == 0, after.output
    assert "FAIL" not in after.output and "Twilio is set up for this installation" in after.output
    again = ivr(twilio, "configure", tmp_path=tmp_path)
    assert again.exit_code == 0 and "already https://support.example.com/twilio/voice" in again.output
    assert len([r for r in twilio.requests if r["method"] == "POST"]) == 1  # nothing left to change


def test_a_number_pointing_elsewhere_is_shown_with_its_current_url(twilio, tmp_path):
    twilio.add_number(LINE, ACCOUNT, voice_url="https://old.example.com/voice",
                      status_callback=f"{PUBLIC}/twilio/status", voice_fallback_url=f"{PUBLIC}/twilio/fallback")
    twilio.allow_country("IR")
    done = ivr(twilio, "check", tmp_path=tmp_path)
    assert done.exit_code == 1
    assert "is https://old.example.com/voice, should be https://support.example.com/twilio/voice" in done.output
    assert "1 problem(s)" in done.output


def test_calls_to_a_country_the_geo_permissions_forbid_are_reported_with_where_to_allow_them(twilio, tmp_path):
    twilio.add_number(LINE, ACCOUNT)
    done = ivr(twilio, "configure", tmp_path=tmp_path)
    assert done.exit_code == 1  # the number is set; the permission is the console's
    assert "FAIL  calls to IR: not allowed: callbacks to IR would fail; enable IR in Twilio console > Voice > " \
           "Settings > Geo permissions" in done.output
    geo = [r for r in twilio.requests if r["path"].startswith("/v1/DialingPermissions/Countries/")]
    assert [r["path"] for r in geo] == ["/v1/DialingPermissions/Countries/IR"]


def test_wrong_credentials_are_named_without_a_stack_trace(twilio, tmp_path):
    twilio.add_number(LINE, ACCOUNT)
    done = ivr(twilio, "check", tmp_path=tmp_path, TWILIO_AUTH_TOKEN="not-the-token")
    assert done.exit_code == 1
    assert "Twilio refused TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN (HTTP 401)" in done.output
    assert "Traceback" not in done.output


def test_a_number_that_is_not_the_accounts_is_reported(twilio, tmp_path):
    twilio.add_number("+982191000001", ACCOUNT)
    twilio.allow_country("IR")
    done = ivr(twilio, "check", tmp_path=tmp_path)
    assert done.exit_code == 1
    assert f"FAIL  number: {LINE} is not a number of account {ACCOUNT}" in done.output


def test_missing_twilio_settings_are_named(tmp_path):
    done = CliRunner().invoke(cli, ["twilio", "check"], env={"TWILIO_ACCOUNT_SID": "", "TWILIO_AUTH_TOKEN": "",
                                                            "TWILIO_PHONE_NUMBER": "", "INSTANCE_PATH": str(tmp_path)})
    assert done.exit_code == 1
    assert "set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_PHONE_NUMBER" in done.output
