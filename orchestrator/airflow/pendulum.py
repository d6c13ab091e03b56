"""The little of `pendulum` that DAG files use for dates: `pendulum.datetime(2021, 1, 1, tz="UTC")`.

`orchestrator dags check-airflow` rewrites `import pendulum` to this module, so a DAG file needs no
pendulum installed; the values are the standard library's aware datetimes and timedeltas.
"""

from __future__ import annotations

from datetime import datetime as _datetime
from datetime import timedelta
from zoneinfo import ZoneInfo


def _zone(tz: str | ZoneInfo | None) -> ZoneInfo:
    if tz is None:
        return ZoneInfo("UTC")
    return tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)


def datetime(
    year: int, month: int = 1, day: int = 1, hour: int = 0, minute: int = 0, second: int = 0, microsecond: int = 0,
    tz: str | ZoneInfo | None = "UTC",
) -> _datetime:
    """An aware datetime in `tz` (UTC by default, as pendulum's)."""
    return _datetime(year, month, day, hour, minute, second, microsecond, tzinfo=_zone(tz))


def duration(**kwargs: float) -> timedelta:
    """pendulum.duration(days=1, hours=2): a timedelta."""
    weeks = kwargs.pop("weeks", 0)
    return timedelta(weeks=weeks, **kwargs)


def now(tz: str | ZoneInfo | None = "UTC") -> _datetime:
    return _datetime.now(_zone(tz))


def today(tz: str | ZoneInfo | None = "UTC") -> _datetime:
    return now(tz).replace(hour=0, minute=0, second=0, microsecond=0)


def timezone(name: str) -> ZoneInfo:
    return ZoneInfo(name)
