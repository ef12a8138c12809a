"""Digits as people type them (Persian ۰-۹, Arabic-Indic ٠-٩) and as Persian readers expect to see them."""

from __future__ import annotations

_TO_ASCII = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")
_TO_PERSIAN = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


def to_ascii(text: str) -> str:
    """Persian and Arabic-Indic digits as ASCII digits; everything else unchanged."""
    return text.translate(_TO_ASCII)


def to_persian(text: str) -> str:
    """ASCII digits as Persian digits; everything else unchanged."""
    return text.translate(_TO_PERSIAN)
