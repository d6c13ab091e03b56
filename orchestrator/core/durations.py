"""Durations as seconds: ISO 8601 text ("PT5M", "P1DT2H", "PT0.5S"), and the options that take a
timedelta, a number of seconds or that text.

A small parser rather than a dependency: `isodate` is not installed here, and only the fixed-length
units make sense for delays (years and months have no fixed length, so they are refused).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

_DURATION = re.compile(
    r"^(?P<sign>-)?P(?:(?P<weeks>\d+(?:[.,]\d+)?)W)?(?:(?P<days>\d+(?:[.,]\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:[.,]\d+)?)H)?(?:(?P<minutes>\d+(?:[.,]\d+)?)M)?(?:(?P<seconds>\d+(?:[.,]\d+)?)S)?)?$"
)
_UNIT_S = {"weeks": 604800.0, "days": 86400.0, "hours": 3600.0, "minutes": 60.0, "seconds": 1.0}


def parse_duration(text: str) -> float:
    """Seconds in an ISO 8601 duration; ValueError (saying why) for anything else."""
    raw = text.strip().upper()
    match = _DURATION.match(raw)
    if match is None or raw in ("P", "PT") or raw.endswith("T"):
        if re.match(r"^-?P(\d+([.,]\d+)?Y|\d+([.,]\d+)?M)", raw):
            raise ValueError(f"{text!r}: years and months have no fixed length; use weeks, days, hours, minutes or seconds")
        raise ValueError(f"{text!r} is not an ISO 8601 duration such as 'PT5M', 'PT30S' or 'P1DT2H'")
    if match["sign"]:
        raise ValueError(f"{text!r}: a duration must not be negative")
    return sum(float(match[unit].replace(",", ".")) * factor for unit, factor in _UNIT_S.items() if match[unit])


def duration_seconds(value: Any, name: str) -> float:
    """A timedelta, a number of seconds or an ISO 8601 duration as seconds; ValueError naming `name` if not."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, str):
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            raise ValueError(f"{name} must be a timedelta, a number of seconds or an ISO 8601 duration: {exc}") from None
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise ValueError(f"{name} must be a timedelta, a number of seconds or an ISO 8601 duration such as 'PT4H', not {value!r}")
    if seconds < 0:
        raise ValueError(f"{name} must not be negative, got {value!r}")
    return seconds
