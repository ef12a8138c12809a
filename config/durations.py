"""Durations written the way operators write them: `90s`, `15m`, `2h`, `1d`, `1h30m`, or ISO 8601 `PT2H`."""

from __future__ import annotations

import re
from datetime import timedelta

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_COMPACT = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)\s*([smhdw])\s*)+$", re.IGNORECASE)
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])", re.IGNORECASE)
_ISO = re.compile(r"^P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$", re.IGNORECASE)


def parse_duration(value: object) -> timedelta:
    """Parse a duration; raise ValueError with the accepted forms when it cannot be read."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 90s, 15m, 2h or 1d, got a boolean")
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    if isinstance(value, str):
        text = value.strip()
        if _COMPACT.match(text):
            return timedelta(seconds=sum(float(n) * _UNIT_SECONDS[u.lower()] for n, u in _PART.findall(text)))
        iso = _ISO.match(text)
        if iso and any(iso.groupdict().values()):
            parts = {k: float(v) if v else 0.0 for k, v in iso.groupdict().items()}
            return timedelta(days=parts["d"], hours=parts["h"], minutes=parts["m"], seconds=parts["s"])
    raise ValueError(f"expected a duration such as 90s, 15m, 2h, 1h30m or 1d, got {value!r}")


def format_duration(value: timedelta) -> str:
    """The compact form parse_duration reads back (`1h30m`)."""
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0s"
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            out.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(out)
