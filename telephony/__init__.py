"""Telephony providers behind one small interface (`telephony.provider`)."""

from __future__ import annotations

from typing import Any

from telephony.provider import (
    CallInfo,
    CallRequest,
    CallsLimitExceeded,
    OutcomeUnknown,
    Provider,
    ProviderError,
    ProviderPermanentError,
    ProviderTransientError,
)


class ProviderNotAvailable(RuntimeError):
    """The configured telephony provider cannot be built; the message says what to set."""


def provider_for(settings: Any, **kwargs: Any) -> Provider:
    """The provider the settings ask for: `twilio` with credentials, else the built-in simulator."""
    if settings.telephony_provider == "twilio":
        from telephony.twilio import TwilioProvider

        if not (settings.twilio_account_sid and settings.twilio_auth_token):
            raise ProviderNotAvailable("TELEPHONY=twilio needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
        return TwilioProvider(
            settings.twilio_account_sid, settings.twilio_auth_token, base_url=settings.twilio_api_base_url
        )
    try:
        from telephony import simulator
    except ModuleNotFoundError as exc:
        if exc.name not in ("telephony.simulator",):
            raise
        raise ProviderNotAvailable(
            "no Twilio credentials (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN) and the simulator is not installed"
        ) from None
    return simulator.make_provider(settings, **kwargs)


__all__ = [
    "CallInfo",
    "CallRequest",
    "CallsLimitExceeded",
    "OutcomeUnknown",
    "Provider",
    "ProviderError",
    "ProviderNotAvailable",
    "ProviderPermanentError",
    "ProviderTransientError",
    "provider_for",
]
