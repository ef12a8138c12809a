"""Phone numbers: read what customers type, store E.164, refuse numbers that cost money or cannot be called."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callbacks.phones import PhoneNumberRejected, display, mask, normalise
from config.schema import PhonePolicy

IRAN = PhonePolicy()
UK = PhonePolicy(default_region="GB", allowed_countries=["GB"])
FRANCE = PhonePolicy(default_region="FR", allowed_countries=["FR"])


@pytest.mark.parametrize(
    "typed",
    [
        "09121234567",
        "0912 123 4567",
        "+98 912 123 4567",
        "00989121234567",
        "۰۹۱۲۱۲۳۴۵۶۷",
        "٠٩١٢١٢٣٤٥٦٧",
        "(0912) 123-4567",
    ],
)
def test_an_iranian_mobile_typed_any_common_way_is_stored_in_e164(typed):
    assert normalise(typed, IRAN) == "+989121234567"


def test_a_tehran_landline_is_accepted():
    assert normalise("021 8877 6655", IRAN) == "+982188776655"


@pytest.mark.parametrize(
    ("typed", "policy", "code"),
    [
        ("", IRAN, "phone_missing"),
        ("   ", IRAN, "phone_missing"),
        ("call me", IRAN, "phone_invalid_characters"),
        ("0912", IRAN, "phone_invalid"),
        ("+98 999 1234", IRAN, "phone_invalid"),
        ("+44 20 7946 0018", IRAN, "phone_country_not_allowed"),
        ("09067123456", UK, "phone_premium_rate"),
        ("+33 884 012 345", FRANCE, "phone_shared_cost"),
        ("1" * 65, IRAN, "phone_too_long"),
        ("+", IRAN, "phone_unparseable"),
    ],
)
def test_numbers_we_refuse_say_why(typed, policy, code):
    with pytest.raises(PhoneNumberRejected) as info:
        normalise(typed, policy)
    assert info.value.code == code
    assert info.value.message


def test_a_number_type_the_centre_does_not_call_is_refused():
    mobiles_only = PhonePolicy(allowed_types=["mobile"])
    with pytest.raises(PhoneNumberRejected) as info:
        normalise("021 8877 6655", mobiles_only)
    assert info.value.code == "phone_type_not_allowed"


def test_a_denied_prefix_is_refused():
    policy = PhonePolicy(denied_prefixes=["+98912"])
    with pytest.raises(PhoneNumberRejected) as info:
        normalise("09121234567", policy)
    assert info.value.code == "phone_denied"
    assert normalise("09351234567", policy) == "+989351234567"


def test_non_text_is_refused():
    with pytest.raises(PhoneNumberRejected) as info:
        normalise(9121234567, IRAN)
    assert info.value.code == "phone_not_text"


def test_numbers_are_masked_in_logs():
    assert mask("+989126786789") == "+98912***6789"
    assert mask(None) == "(none)"
    assert "1234567" not in mask("+989121234567")


def test_display_uses_national_form_at_home():
    assert display("+989121234567") == "0912 123 4567"
    assert display("+442079460018").startswith("+44 20")


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=80), st.from_regex(r"\+?[0-9۰-۹ ()\-]{0,20}", fullmatch=True)))
def test_any_string_gives_an_e164_number_or_a_clear_error(raw):
    try:
        result = normalise(raw, IRAN)
    except PhoneNumberRejected as exc:
        assert exc.code.startswith("phone_") and exc.message
    else:
        assert result.startswith("+98") and result[1:].isdigit() and len(result) <= 16
        assert normalise(result, IRAN) == result  # normalising is idempotent
