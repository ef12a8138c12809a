"""An operator's typo in the contact-centre YAML is a clear message with the file, the path and the line."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from config import ConfigError, SettingsError, load_contact_centre, load_settings
from config.loader import parse_contact_centre
from config.settings import EXAMPLE_CONFIG

EXAMPLE = EXAMPLE_CONFIG.read_text(encoding="utf-8")


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_contact_centre(text, "centre.yaml")
    return [p.render("centre.yaml") for p in info.value.problems]


def test_the_shipped_example_is_valid():
    centre = load_contact_centre(EXAMPLE_CONFIG)
    assert centre.timezone == "Asia/Tehran"
    assert centre.default_queue in centre.queues
    assert centre.hours.friday == []


def test_a_misspelt_setting_names_its_path_and_line():
    text = EXAMPLE.replace("  wrap_up: 30s", "  wrapup: 30s")
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "wrapup" in row)
    assert problems_of(text) == [
        f"centre.yaml:{line}: dispatch.wrapup: unknown setting (check its spelling and indentation)"
    ]


def test_a_bad_duration_says_what_was_expected():
    [problem] = problems_of(EXAMPLE.replace("deadline: 4h", "deadline: four hours"))
    assert "queues.billing.sla.deadline" in problem
    assert "expected a duration such as 90s, 15m, 2h" in problem


def test_every_problem_is_reported_at_once():
    text = EXAMPLE.replace("timezone: Asia/Tehran", "timezone: Asia/Teheran").replace(
        'saturday: ["08:00-20:00"]', 'saturday: ["20:00-08:00"]'
    )
    found = problems_of(text)
    assert len(found) == 2
    assert any("timezone: unknown timezone 'Asia/Teheran'" in p for p in found)
    assert any("hours.saturday" in p and "end must come after the start" in p for p in found)


def test_a_default_queue_that_does_not_exist_is_named():
    [problem] = problems_of(EXAMPLE.replace("default_queue: general", "default_queue: sales"))
    assert "default_queue: 'sales' is not one of the queues ['billing', 'general', 'urgent']" in problem


def test_broken_yaml_gives_the_line():
    [problem] = problems_of("timezone: Asia/Tehran\nqueues: [\n")
    assert problem.startswith("centre.yaml:3: (top level): not valid YAML")


def test_premium_rate_numbers_can_never_be_allowed():
    [problem] = problems_of(EXAMPLE.replace("allowed_types: [mobile,", "allowed_types: [premium_rate, mobile,"))
    assert "phone_numbers.allowed_types" in problem and "can never be allowed" in problem


def test_an_unknown_holiday_country_is_refused():
    [problem] = problems_of(EXAMPLE.replace("  country: IR", "  country: XX"))
    assert "holidays.country" in problem and "no calendar for country 'XX'" in problem


def test_overlapping_opening_spans_are_refused():
    [problem] = problems_of(EXAMPLE.replace('sunday: ["08:00-20:00"]', 'sunday: ["08:00-14:00", "13:00-20:00"]'))
    assert "sunday: opening spans overlap" in problem


def test_a_missing_file_is_a_clear_error(tmp_path: Path):
    with pytest.raises(ConfigError) as info:
        load_contact_centre(tmp_path / "nope.yaml")
    assert "cannot read the file" in str(info.value)


def test_config_check_command_reports_problems_and_exits_non_zero(tmp_path: Path):
    from cli.main import cli

    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE.replace("deadline: 30m", "deadline: 0m"), encoding="utf-8")
    result = CliRunner().invoke(cli, ["config", "check", str(bad)])
    assert result.exit_code == 1
    assert "queues.urgent.sla.deadline: the deadline must be longer than zero" in result.output
    good = CliRunner().invoke(cli, ["config", "check", str(EXAMPLE_CONFIG)])
    assert good.exit_code == 0 and "OK (3 queues" in good.output


def test_the_web_refuses_to_start_on_an_invalid_file(tmp_path: Path):
    from ivr.app import create_app

    bad = tmp_path / "bad.yaml"
    bad.write_text("timezone: Mars/Olympus\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        create_app({"ivr_config": bad, "instance_path": tmp_path, "secret_key": "x"})
    assert "timezone: unknown timezone 'Mars/Olympus'" in str(info.value)


def test_a_bad_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PUBLIC_BASE_URL", "support.example.com")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert "PUBLIC_BASE_URL" in str(info.value) and "expected an http(s) URL" in str(info.value)
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://support.example.com/")
    monkeypatch.setenv("TWILIO_PHONE_NUMBER", "0912")
    with pytest.raises(SettingsError, match="TWILIO_PHONE_NUMBER"):
        load_settings()


def test_settings_default_to_sqlite_under_instance_and_the_simulator(tmp_path: Path, monkeypatch):
    for name in ("DATABASE_URL", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TELEPHONY"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(instance_path=tmp_path)
    assert settings.resolved_database_url() == f"sqlite:///{tmp_path.resolve()}/ivr.sqlite3"
    assert settings.telephony_provider == "simulator"
    key = settings.resolved_secret_key()
    assert len(key) > 40 and settings.resolved_secret_key() == key  # generated once, then kept
    monkeypatch.setenv("DATABASE_URL", "postgres://u@db/ivr")
    assert load_settings().resolved_database_url() == "postgresql+psycopg://u@db/ivr"


def test_a_queues_promise_margin_and_ceiling_are_checked_with_their_line():
    text = EXAMPLE.replace("      margin: 15m\n      ceiling: 8h", "      margin: 15m\n      ceiling: 1h")
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "ceiling: 1h" in row)
    assert problems_of(text) == [
        f"centre.yaml:{line}: queues.general.promise.ceiling: the ceiling must be longer than the SLA's deadline "
        "(2h00m)"
    ]
    [problem] = problems_of(EXAMPLE.replace("promise: {margin: 5m, ceiling: 4h}", "promise: {margin: -5m}"))
    assert "queues.urgent.promise.margin" in problem
    [problem] = problems_of(EXAMPLE.replace("promise: {margin: 5m, ceiling: 4h}", "promise: {margin: 5h, ceiling: 4h}"))
    assert "queues.urgent.promise.margin: the margin must be shorter than the ceiling (4h00m)" in problem


def test_a_queue_without_a_promise_section_gets_a_margin_and_ceiling_from_its_sla():
    centre = parse_contact_centre(EXAMPLE.replace("    promise: {margin: 20m, ceiling: 12h}\n", ""), "centre.yaml")
    billing = centre.queues["billing"]
    assert billing.promise.forecast is True
    assert (billing.quote_margin.total_seconds(), billing.quote_ceiling.total_seconds()) == (1800, 16 * 3600)
