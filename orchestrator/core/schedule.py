"""Schedule math: cron strings and presets, time zones, data intervals, catch-up. Pure.

Semantics follow Airflow: a cron schedule cuts time into data intervals between consecutive
ticks (in the DAG's time zone); the run for an interval is due once the interval has ended,
and its `logical_date` is the interval's start. Every datetime returned is timezone-aware UTC.

Daylight-saving changes, as cron itself handles them:
- A wall time the clock skips (02:30 on a spring-forward night) fires at the end of the gap,
  so no day loses its run.
- A wall time the clock repeats (01:30 on a fall-back night in New York) fires once, at its
  first occurrence, when the hour field is fixed ("30 1 * * *"): a daily job runs once a day.
  Schedules with a wildcard hour ("@hourly", "*/15 * * * *") follow real time and fire in both
  occurrences, so every real hour has its interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

from orchestrator.core.errors import DagDefinitionError
from orchestrator.core.timetables import is_timetable, resolve

PRESETS: dict[str, str] = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}


@dataclass(frozen=True)
class DataInterval:
    """The span of data a run is about: [start, end). `start` is the run's logical date."""

    start: datetime
    end: datetime


@lru_cache(maxsize=4096)
def cron_expression(schedule: str) -> str:
    """The cron expression for a cron string or preset (or a registered `timetable:NAME`, kept as
    it is); raises DagDefinitionError if invalid."""
    if is_timetable(schedule):
        resolve(schedule)
        return schedule
    expr = PRESETS.get(schedule.strip(), schedule.strip())
    if not croniter.is_valid(expr):
        presets = ", ".join(sorted(PRESETS))
        raise DagDefinitionError(f"schedule {schedule!r} is neither a valid cron expression nor one of {presets}")
    if not _ever_fires(expr):
        raise DagDefinitionError(f"schedule {schedule!r} never fires (no such date): check its day and month fields")
    return expr


def delta_cron(delta: timedelta, start: datetime | None) -> str:
    """The cron expression for a `timedelta` schedule counted from `start` (its wall time in the
    DAG's zone): every N minutes dividing an hour, N hours dividing a day, a day or a week.
    Others have no cron form: a DagDefinitionError says what to use instead."""
    seconds = delta.total_seconds()
    minute, hour = (start.minute, start.hour) if start else (0, 0)
    if seconds > 0 and seconds % 60 == 0:
        m = int(seconds // 60)
        if m < 60 and 60 % m == 0:
            return f"{minute % m}-59/{m} * * * *" if m > 1 else "* * * * *"
        if m % 60 == 0 and 24 % (m // 60) == 0 and m < 1440:
            h = m // 60
            return f"{minute} {hour % h}-23/{h} * * *"
        if m == 1440:
            return f"{minute} {hour} * * *"
        if m == 10080:
            return f"{minute} {hour} * * {(start.isoweekday() % 7) if start else 0}"
    raise DagDefinitionError(
        f"schedule timedelta {delta} cannot be run: use minutes dividing an hour, hours dividing a day, "
        "one day or one week, or a cron string"
    )


@lru_cache(maxsize=1024)
def _ever_fires(expr: str) -> bool:
    """Whether `expr` has any tick: croniter accepts e.g. '0 0 31 2 *' but cannot compute it."""
    try:
        croniter(expr, datetime(2000, 1, 1, tzinfo=UTC)).get_next(datetime)
    except CroniterBadDateError:
        return False
    return True


def zone(name: str) -> ZoneInfo:
    """The ZoneInfo for an IANA name; raises DagDefinitionError for an unknown zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise DagDefinitionError(f"unknown time zone {name!r}: use an IANA name such as 'Europe/Berlin'") from exc


def as_utc(moment: datetime, tz: ZoneInfo) -> datetime:
    """A naive datetime is read as wall time in `tz`; the result is aware UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(UTC)


# Ticks are pure functions of (expression, zone, moment), and many DAGs share a cron: when a
# thousand DAGs on "@hourly" fall due together, the scheduler computes their ticks once.
@lru_cache(maxsize=16384)
def next_tick(expr: str, tz: ZoneInfo, after: datetime) -> datetime:
    """The first cron tick strictly after `after`, computed in wall time of `tz`."""
    if is_timetable(expr):
        return resolve(expr).next_tick(after.astimezone(UTC)).astimezone(UTC)
    it = croniter(expr, after.astimezone(tz))
    while True:
        tick = it.get_next(datetime).astimezone(UTC)
        if not _repeated_fixed_time(expr, tz, tick):
            return tick


def _repeated_fixed_time(expr: str, tz: ZoneInfo, tick: datetime) -> bool:
    """Whether `tick` is the second occurrence of a repeated wall time and `expr` fixes the hour.

    Such ticks are skipped, as cron skips them: a job set for 01:30 has already run at the
    first 01:30 of a fall-back night.
    """
    return not is_timetable(expr) and tick.astimezone(tz).fold == 1 and "*" not in expr.split()[1]


@lru_cache(maxsize=16384)
def first_tick_at_or_after(expr: str, tz: ZoneInfo, moment: datetime) -> datetime:
    """The first cron tick at or after `moment`."""
    local = moment.astimezone(tz)
    if _is_tick(expr, local) and not _repeated_fixed_time(expr, tz, moment):
        return moment.astimezone(UTC)
    return next_tick(expr, tz, moment)


def _is_tick(expr: str, local: datetime) -> bool:
    if is_timetable(expr):
        return resolve(expr).next_tick((local - timedelta(microseconds=1)).astimezone(UTC)) == local
    return croniter.match(expr, local) and local.second == 0 and local.microsecond == 0


def interval_starting_at(expr: str, tz: ZoneInfo, start: datetime) -> DataInterval:
    return DataInterval(start, next_tick(expr, tz, start))


def next_interval(
    schedule: str,
    tz_name: str,
    start_date: datetime | None,
    last: DataInterval | None,
    now: datetime,
    *,
    catchup: bool,
    end_date: datetime | None = None,
) -> DataInterval | None:
    """The next data interval whose run is due at `now`, or None when nothing is due.

    `last` is the interval of the newest scheduled run so far. With `catchup`, intervals come one
    at a time, oldest first; without it, the newest complete interval is the one to run and the
    missed ones before it are skipped.
    """
    candidate = upcoming_interval(schedule, tz_name, start_date, last, now, catchup=catchup)
    if candidate is None or candidate.end > now:
        return None
    if end_date is not None and candidate.start > as_utc(end_date, zone(tz_name)):
        return None
    return candidate


def upcoming_interval(
    schedule: str,
    tz_name: str,
    start_date: datetime | None,
    last: DataInterval | None,
    now: datetime,
    *,
    catchup: bool,
) -> DataInterval | None:
    """The next interval to be scheduled after `last` (due or not); its `end` is when it is due."""
    expr = cron_expression(schedule)
    tz = zone(tz_name)
    if last is not None:
        start = last.end
    elif start_date is not None:
        start = first_tick_at_or_after(expr, tz, as_utc(start_date, tz))
    else:
        start = _newest_complete_start(expr, tz, now) or next_tick(expr, tz, now)
    if not catchup:
        newest = _newest_complete_start(expr, tz, now)
        if newest is not None and newest > start:
            start = newest
    return interval_starting_at(expr, tz, start)


@lru_cache(maxsize=16384)
def _newest_complete_start(expr: str, tz: ZoneInfo, now: datetime) -> datetime | None:
    """Start of the newest interval that has fully ended by `now`."""
    if is_timetable(expr):
        timetable = resolve(expr)
        end = now.astimezone(UTC) if _is_tick(expr, now) else timetable.prev_tick(now.astimezone(UTC))
        return timetable.prev_tick(end).astimezone(UTC)
    local = now.astimezone(tz)
    it = croniter(expr, local)
    ticks_back = 1 if _is_tick(expr, local) and not _repeated_fixed_time(expr, tz, now) else 2
    # the newest tick at or before now ends the newest complete interval, which starts one tick earlier
    while True:
        tick = it.get_prev(datetime).astimezone(UTC)
        if _repeated_fixed_time(expr, tz, tick):
            continue
        ticks_back -= 1
        if ticks_back == 0:
            return tick


def intervals_between(
    schedule: str, tz_name: str, start: datetime, end: datetime, now: datetime, *, limit: int = 10_000
) -> list[DataInterval]:
    """The complete data intervals whose start lies in [start, end], oldest first (for backfills).

    Naive `start`/`end` are wall times in the DAG's zone; intervals that have not ended by `now`
    are left out, as the scheduler would not run them yet either. More than `limit` intervals is
    an error: a range that wide is almost always a typo, and listing it would take long.
    """
    expr = cron_expression(schedule)
    tz = zone(tz_name)
    first, last = as_utc(start, tz), as_utc(end, tz)
    found: list[DataInterval] = []
    tick = first_tick_at_or_after(expr, tz, first)
    while tick <= last:
        interval = interval_starting_at(expr, tz, tick)
        if interval.end > now:
            break
        found.append(interval)
        if len(found) > limit:
            raise DagDefinitionError(f"the range holds more than {limit} intervals of {schedule!r}: backfill it in parts")
        tick = interval.end
    return found
