"""The abuse settings (`verify`, the caps, the code policy) are checked at start-up with the path in the message."""

from tests.config.test_contact_centre_yaml import EXAMPLE, problems_of


def test_verify_takes_sms_or_none():
    [problem] = problems_of(EXAMPLE.replace("    verify: none", "    verify: email"))
    assert "queues.general.verify" in problem and "'sms'" in problem and "'none'" in problem


def test_caps_must_be_sensible_numbers():
    found = problems_of(EXAMPLE.replace("calls_per_number_per_day: 6", "calls_per_number_per_day: 0")
                        .replace("dials_per_hour: 1000", "dials_per_hour: -5"))
    assert any("limits.calls_per_number_per_day" in p and "greater than or equal to 1" in p for p in found)
    assert any("limits.dials_per_hour" in p and "greater than or equal to 0" in p for p in found)


def test_a_code_that_lives_too_long_is_refused_with_the_reason():
    [problem] = problems_of(EXAMPLE.replace("code_ttl: 10m", "code_ttl: 2h"))
    assert "verification.code_ttl" in problem and "between 1m and 1h" in problem
