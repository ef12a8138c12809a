"""Business time: opening hours in the centre's timezone, minus public holidays and the centre's own closed days."""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import holidays as holidays_lib

from callbacks.clock import ensure_utc
from config.schema import ContactCentre, Holidays, WeeklyHours

# Searching further than this for an opening means the hours are effectively never open.
MAX_SEARCH_DAYS = 366 * 2
# Days whose opening spans a calendar keeps worked out (then it starts again).
_DAYS_KEPT = 1024


class NeverOpen(ValueError):
    """The configured hours have no opening within the search horizon."""


class BusinessCalendar:
    """When the contact centre is open. All inputs and outputs are aware UTC datetimes."""

    def __init__(self, hours: WeeklyHours, timezone: str, holiday_rules: Holidays):
        from zoneinfo import ZoneInfo

        self.hours = hours
        self.zone = ZoneInfo(timezone)
        self.rules = holiday_rules
        self._extra = set(holiday_rules.extra)
        self._open_anyway = set(holiday_rules.open_anyway)
        # Each day's spans, worked out once: a request asks for the same few days several times (its deadline, the
        # forecast's ceiling, the opening spans ahead), and the hours and holidays never change.
        self._spans: dict[date, tuple[tuple[datetime, datetime], ...]] = {}

    @classmethod
    def for_centre(cls, centre: ContactCentre) -> BusinessCalendar:
        return _calendar_for(centre)

    def holiday_name(self, day: date) -> str | None:
        """The reason `day` (a local date) is closed as a holiday, or None."""
        if day in self._open_anyway:
            return None
        if day in self._extra:
            return "closed"
        if self.rules.country:
            names = _country_holidays(self.rules.country, self.rules.subdivision, day.year)
            if day in names:
                return names.get(day)
        return None

    def spans_on(self, day: date) -> list[tuple[datetime, datetime]]:
        """Opening spans of a local date as UTC (start, end) pairs; empty on closed days and holidays."""
        spans = self._spans.get(day)
        if spans is None:
            if len(self._spans) >= _DAYS_KEPT:
                self._spans.clear()
            spans = self._spans[day] = tuple(self._work_out_spans(day))
        return list(spans)

    def _work_out_spans(self, day: date) -> list[tuple[datetime, datetime]]:
        if self.holiday_name(day) is not None:
            return []
        out = []
        for span in sorted(self.hours.for_weekday(day.weekday()), key=lambda s: s.start):
            start = datetime.combine(day, span.start, tzinfo=self.zone)
            end = (
                datetime.combine(day + timedelta(days=1), time(0), tzinfo=self.zone)
                if span.end is None
                else datetime.combine(day, span.end, tzinfo=self.zone)
            )
            # Converting each local bound to UTC makes a DST day's spans their real length.
            out.append((start.astimezone(UTC), end.astimezone(UTC)))
        return out

    def _spans_from(self, moment: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Opening spans that end after `moment`, in order."""
        day = moment.astimezone(self.zone).date() - timedelta(days=1)
        for _ in range(MAX_SEARCH_DAYS):
            for start, end in self.spans_on(day):
                if end > moment:
                    yield max(start, moment), end
            day += timedelta(days=1)
        raise NeverOpen(f"the contact centre has no opening hours within {MAX_SEARCH_DAYS} days")

    def is_open(self, now: datetime) -> bool:
        now = ensure_utc(now)
        return any(start <= now < end for start, end in self.spans_on(now.astimezone(self.zone).date()))

    def next_opening(self, now: datetime) -> datetime:
        """`now` when open, else the start of the next opening span."""
        now = ensure_utc(now)
        start, _ = next(self._spans_from(now))
        return start

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The moment `duration` of opening time has passed after `start` (counting only open time)."""
        start = ensure_utc(start)
        left = duration
        cursor = start
        for span_start, span_end in self._spans_from(start):
            available = span_end - span_start
            if left <= available:
                return span_start + left
            left -= available
            cursor = span_end
        return cursor  # unreachable: _spans_from raises first

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Opening time between two moments (zero when end <= start)."""
        start, end = ensure_utc(start), ensure_utc(end)
        total = timedelta(0)
        if end <= start:
            return total
        for span_start, span_end in self._spans_from(start):
            if span_start >= end:
                break
            total += min(span_end, end) - span_start
        return total


@lru_cache(maxsize=64)
def _country_holidays(country: str, subdivision: str | None, year: int) -> holidays_lib.HolidayBase:
    calendar: holidays_lib.HolidayBase = _country_class(country)(subdiv=subdivision, years=year)
    return calendar


@lru_cache(maxsize=8)
def _country_class(country: str) -> Any:
    """The `holidays` calendar class of one country, importing that country's module only.

    `holidays.countries` imports every country (some 280 modules, about 8 MiB in each process) when it is imported
    as a package; its modules import nothing of one another, so one is loaded here under a bare package module
    when nothing has imported the real one yet. The registry names the module and class of each code.
    """
    from holidays.registry import COUNTRIES

    code = country.upper()
    found = next(((module, names[0]) for module, names in COUNTRIES.items() if code in names[1:]), None)
    if found is None:
        raise ValueError(f"the holidays package has no calendar for country {country!r}")
    module_name, class_name = found
    package = "holidays.countries"
    if package not in sys.modules:
        bare = types.ModuleType(package)
        bare.__path__ = [str(Path(holidays_lib.__file__).parent / "countries")]
        sys.modules[package] = bare
    return getattr(importlib.import_module(f"{package}.{module_name}"), class_name)


_calendars: dict[int, tuple[ContactCentre, BusinessCalendar]] = {}


def _calendar_for(centre: ContactCentre) -> BusinessCalendar:
    cached = _calendars.get(id(centre))
    if cached is None or cached[0] is not centre:
        cached = (centre, BusinessCalendar(centre.hours, centre.timezone, centre.holidays))
        _calendars[id(centre)] = cached
    return cached[1]
