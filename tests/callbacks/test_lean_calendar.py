"""The business calendar loads the configured country's public holidays only (the `holidays` package would
import every country's module, some 280 of them, in each process)."""

from __future__ import annotations

import subprocess
import sys
from datetime import date

from callbacks.businesstime import _country_class, _country_holidays

PROBE = """
import sys
from datetime import datetime, UTC
from callbacks.businesstime import BusinessCalendar
from config import load_contact_centre
from config.settings import EXAMPLE_CONFIG
centre = load_contact_centre(EXAMPLE_CONFIG)
calendar = BusinessCalendar.for_centre(centre)
calendar.is_open(datetime(2026, 3, 21, 8, tzinfo=UTC))
print(sorted(m for m in sys.modules if m.startswith("holidays.countries.")))
"""


def test_a_process_that_checks_the_hours_imports_one_country() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['holidays.countries.iran']"


def test_the_country_calendar_is_the_packages_own() -> None:
    import holidays

    ours = _country_holidays("IR", None, 2026)
    assert dict(ours) == dict(holidays.country_holidays("IR", years=2026))
    assert date(2026, 3, 21) in ours  # Nowruz
    assert _country_class("gb").__name__ == "UnitedKingdom"
