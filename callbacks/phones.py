"""Phone numbers: parse with the default region, validate, refuse what costs callers money, store E.164."""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

from callbacks.digits import to_ascii
from config.schema import NUMBER_TYPES, PhonePolicy

MAX_INPUT_LENGTH = 64
_TYPE_NAMES = {v: k for k, v in NUMBER_TYPES.items()} | {
    PhoneNumberType.PREMIUM_RATE: "premium_rate",
    PhoneNumberType.SHARED_COST: "shared_cost",
    PhoneNumberType.UNKNOWN: "unknown",
}
# Persian and Arabic-Indic digits, as typed on Iranian phones and keyboards.


class PhoneNumberRejected(ValueError):
    """A number we will not store or call; `code` is stable for API clients, `message` is for people."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def normalise(raw: object, policy: PhonePolicy) -> str:
    """Return the E.164 form of `raw` or raise PhoneNumberRejected saying why it is refused."""
    if not isinstance(raw, str):
        raise PhoneNumberRejected("phone_not_text", "The phone number must be given as text.")
    text = to_ascii(raw).strip()
    if not text:
        raise PhoneNumberRejected("phone_missing", "A phone number is required.")
    if len(text) > MAX_INPUT_LENGTH:
        raise PhoneNumberRejected("phone_too_long", f"The phone number is longer than {MAX_INPUT_LENGTH} characters.")
    if re.search(r"[^\d\s+\-().\u200c\u200e\u200f/]", text):
        raise PhoneNumberRejected(
            "phone_invalid_characters", "The phone number may contain only digits, spaces, + - ( ) and dots."
        )
    text = text.replace("\u200c", "").replace("\u200e", "").replace("\u200f", "")
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, policy.default_region)
    except NumberParseException as exc:
        raise PhoneNumberRejected(
            "phone_unparseable", f"This is not a phone number we can read ({exc._msg})."
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise PhoneNumberRejected("phone_invalid", "This phone number does not exist (check the digits and country).")
    region = phonenumbers.region_code_for_number(number)
    if region not in policy.allowed_countries:
        raise PhoneNumberRejected(
            "phone_country_not_allowed",
            f"We cannot call numbers in {region or 'that country'}; allowed: {', '.join(policy.allowed_countries)}.",
        )
    kind = _TYPE_NAMES.get(phonenumbers.number_type(number), "unknown")
    if kind == "premium_rate":
        raise PhoneNumberRejected("phone_premium_rate", "Premium-rate numbers cannot be called back.")
    if kind == "shared_cost":
        raise PhoneNumberRejected("phone_shared_cost", "Shared-cost numbers cannot be called back.")
    if kind == "unknown":
        raise PhoneNumberRejected(
            "phone_unknown_type", "We cannot tell what kind of number this is, so we cannot call it."
        )
    if kind not in policy.allowed_types:
        raise PhoneNumberRejected(
            "phone_type_not_allowed",
            f"We do not call {kind.replace('_', ' ')} numbers; allowed: {', '.join(policy.allowed_types)}.",
        )
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if any(e164.startswith(prefix) for prefix in policy.denied_prefixes):
        raise PhoneNumberRejected("phone_denied", "This number cannot be called back.")
    return e164


def mask(e164: str | None) -> str:
    """A number safe for logs and pages: the country code and operator prefix, then the last four digits."""
    if not e164:
        return "(none)"
    digits = e164.lstrip("+")
    if len(digits) <= 6:
        return "+" + "*" * len(digits)
    head = 5 if len(digits) >= 11 else 3
    return "+" + digits[:head] + "***" + digits[-4:]


def display(e164: str, region: str = "IR") -> str:
    """Human form: national for numbers of `region`, international otherwise."""
    number = phonenumbers.parse(e164)
    fmt = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if phonenumbers.region_code_for_number(number) == region
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return phonenumbers.format_number(number, fmt)
