"""Schedules across daylight-saving changes, in Europe/Berlin and America/New_York (2026).

Observed behaviour, which these tests pin down:
- Hourly schedules follow the real hours: every UTC hour gets exactly one interval. On the
  spring-forward night the wall hour that does not exist (02:00) has no interval; on the
  fall-back night the repeated wall hour (02:00 Berlin, 01:00 New York) runs twice, once per
  UTC offset.
- Daily schedules at midnight give one run per calendar day; the interval over the change is
  23 hours (spring) or 25 hours (fall) long.
- A daily schedule at a wall time that the clock skips (02:30 on spring-forward night) fires at
  the end of the gap (03:00 summer time) that day: no day is skipped.
- A daily schedule at a wall time the clock repeats (02:30 Berlin / 01:30 New York on fall-back
  night) fires once, at the first occurrence, as cron does: that day's interval is 25 hours long.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from orchestrator.core.schedule import DataInterval, next_interval

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"

# (zone, the local day the clock changes)
SPRING = [(BERLIN, datetime(2026, 3, 29)), (NEW_YORK, datetime(2026, 3, 8))]
FALL = [(BERLIN, datetime(2026, 10, 25)), (NEW_YORK, datetime(2026, 11, 1))]
ZONE_IDS = ["Berlin", "New_York"]
FAR_FUTURE = datetime(2030, 1, 1, tzinfo=UTC)


def catch_up(schedule: str, tz: str, start: datetime, count: int) -> list[DataInterval]:
    """The first `count` intervals from `start` (naive local time), as catchup hands them out."""
    intervals: list[DataInterval] = []
    last = None
    for _ in range(count):
        last = next_interval(schedule, tz, start, last, FAR_FUTURE, catchup=True)
        assert last is not None
        intervals.append(last)
    return intervals


def poll(
    schedule: str, tz: str, first: datetime, last: datetime, step: timedelta
) -> list[tuple[datetime, DataInterval]]:
    """A scheduler without catchup asking every `step` (injected clock): (asked at, interval)."""
    found: list[tuple[datetime, DataInterval]] = []
    previous = None
    now = first
    while now <= last:
        interval = next_interval(schedule, tz, datetime(2026, 1, 1), previous, now, catchup=False)
        if interval is not None:
            found.append((now, interval))
            previous = interval
        now += step
    return found


def wall(intervals: list[DataInterval], tz: str) -> list[str]:
    """Interval starts as local wall time with UTC offset, e.g. '03-29 03:00+0200'."""
    return [i.start.astimezone(ZoneInfo(tz)).strftime("%m-%d %H:%M%z") for i in intervals]


def assert_contiguous(intervals: list[DataInterval]) -> None:
    assert all(a.end == b.start for a, b in zip(intervals, intervals[1:]))


@pytest.mark.parametrize(
    ("tz", "day", "expected"),
    [
        (BERLIN, SPRING[0][1], ["03-29 00:00+0100", "03-29 01:00+0100", "03-29 03:00+0200", "03-29 04:00+0200"]),
        (NEW_YORK, SPRING[1][1], ["03-08 00:00-0500", "03-08 01:00-0500", "03-08 03:00-0400", "03-08 04:00-0400"]),
    ],
    ids=ZONE_IDS,
)
def test_hourly_spring_forward_has_no_interval_for_the_missing_wall_hour(
    tz: str, day: datetime, expected: list[str]
) -> None:
    assert wall(catch_up("@hourly", tz, day, 4), tz) == expected


@pytest.mark.parametrize(
    ("tz", "day", "expected"),
    [
        (BERLIN, FALL[0][1], ["10-25 01:00+0200", "10-25 02:00+0200", "10-25 02:00+0100", "10-25 03:00+0100"]),
        (NEW_YORK, FALL[1][1], ["11-01 00:00-0400", "11-01 01:00-0400", "11-01 01:00-0500", "11-01 02:00-0500"]),
    ],
    ids=ZONE_IDS,
)
def test_hourly_fall_back_runs_the_repeated_wall_hour_twice(tz: str, day: datetime, expected: list[str]) -> None:
    start = day.replace(hour=1) if tz == BERLIN else day
    assert wall(catch_up("@hourly", tz, start, 4), tz) == expected


@pytest.mark.parametrize(("tz", "day"), SPRING + FALL, ids=[f"{z}-{s}" for s in ("spring", "fall") for z in ZONE_IDS])
def test_hourly_intervals_cover_every_real_hour_once_across_the_change(tz: str, day: datetime) -> None:
    intervals = catch_up("0 * * * *", tz, day - timedelta(days=1), 72)
    assert_contiguous(intervals)
    assert {i.end - i.start for i in intervals} == {timedelta(hours=1)}


@pytest.mark.parametrize(("tz", "day"), SPRING, ids=ZONE_IDS)
def test_daily_midnight_spring_forward_interval_is_23_hours(tz: str, day: datetime) -> None:
    intervals = catch_up("@daily", tz, day - timedelta(days=1), 3)
    assert_contiguous(intervals)
    assert [i.end - i.start for i in intervals] == [timedelta(hours=24), timedelta(hours=23), timedelta(hours=24)]
    assert [i.start.astimezone(ZoneInfo(tz)).time() for i in intervals] == [time(0)] * 3


@pytest.mark.parametrize(("tz", "day"), FALL, ids=ZONE_IDS)
def test_daily_midnight_fall_back_interval_is_25_hours(tz: str, day: datetime) -> None:
    intervals = catch_up("@daily", tz, day - timedelta(days=1), 3)
    assert_contiguous(intervals)
    assert [i.end - i.start for i in intervals] == [timedelta(hours=24), timedelta(hours=25), timedelta(hours=24)]
    assert [i.start.astimezone(ZoneInfo(tz)).time() for i in intervals] == [time(0)] * 3


@pytest.mark.parametrize(
    ("tz", "day", "expected"),
    [
        (BERLIN, SPRING[0][1], ["03-28 02:30+0100", "03-29 03:00+0200", "03-30 02:30+0200"]),
        (NEW_YORK, SPRING[1][1], ["03-07 02:30-0500", "03-08 03:00-0400", "03-09 02:30-0400"]),
    ],
    ids=ZONE_IDS,
)
def test_daily_at_a_skipped_wall_time_fires_at_the_end_of_the_gap_that_day(
    tz: str, day: datetime, expected: list[str]
) -> None:
    intervals = catch_up("30 2 * * *", tz, day - timedelta(days=1), 3)
    assert_contiguous(intervals)
    assert wall(intervals, tz) == expected


@pytest.mark.parametrize(
    ("tz", "schedule", "day", "expected"),
    [
        (BERLIN, "30 2 * * *", FALL[0][1], ["10-25 02:30+0200", "10-26 02:30+0100", "10-27 02:30+0100"]),
        (NEW_YORK, "30 1 * * *", FALL[1][1], ["11-01 01:30-0400", "11-02 01:30-0500", "11-03 01:30-0500"]),
    ],
    ids=ZONE_IDS,
)
def test_daily_at_a_repeated_wall_time_fires_once_at_its_first_occurrence(
    tz: str, schedule: str, day: datetime, expected: list[str]
) -> None:
    intervals = catch_up(schedule, tz, day, 3)
    assert_contiguous(intervals)
    assert wall(intervals, tz) == expected
    assert intervals[0].end - intervals[0].start == timedelta(hours=25)


@pytest.mark.parametrize(
    ("tz", "schedule", "day"), [(BERLIN, "30 2 * * *", FALL[0][1]), (NEW_YORK, "30 1 * * *", FALL[1][1])], ids=ZONE_IDS
)
def test_polling_a_daily_schedule_at_a_repeated_wall_time_gives_one_run_that_day(
    tz: str, schedule: str, day: datetime
) -> None:
    first = day.replace(tzinfo=ZoneInfo(tz)).astimezone(UTC) - timedelta(hours=30)
    intervals = [i for _, i in poll(schedule, tz, first, first + timedelta(days=3), timedelta(minutes=10))]
    assert_contiguous(intervals)
    starts = [i.start.astimezone(ZoneInfo(tz)).date() for i in intervals]
    assert len(starts) == len(set(starts))


@pytest.mark.parametrize(("tz", "day"), FALL, ids=ZONE_IDS)
def test_a_wildcard_hour_schedule_fires_in_both_occurrences_of_the_repeated_hour(tz: str, day: datetime) -> None:
    intervals = catch_up("30 */1 * * *", tz, day, 6)
    assert_contiguous(intervals)
    assert {i.end - i.start for i in intervals} == {timedelta(hours=1)}


# (schedule, poll step, polled span): the span starts a few hours before the local day of the change
POLL_SETUPS = [
    ("@hourly", timedelta(minutes=7), timedelta(hours=8)),
    ("@daily", timedelta(minutes=53), timedelta(days=3)),
]


@pytest.mark.parametrize(("tz", "day"), SPRING + FALL, ids=[f"{z}-{s}" for s in ("spring", "fall") for z in ZONE_IDS])
@pytest.mark.parametrize(("schedule", "step", "span"), POLL_SETUPS, ids=["hourly", "daily"])
def test_polling_without_catchup_neither_skips_nor_doubles_an_interval(
    schedule: str, step: timedelta, span: timedelta, tz: str, day: datetime
) -> None:
    first = day.replace(tzinfo=ZoneInfo(tz)).astimezone(UTC) - timedelta(hours=3)
    found = poll(schedule, tz, first, first + span, step)
    intervals = [i for _, i in found]
    assert_contiguous(intervals)
    assert len(set(intervals)) == len(intervals)
    # after the first poll, each interval is handed out at the first poll after it ended
    assert all(timedelta(0) <= asked - i.end < step for asked, i in found[1:])
    # and nothing due was left behind at the last poll
    last_poll = first + (span // step) * step
    assert next_interval(schedule, tz, datetime(2026, 1, 1), intervals[-1], last_poll, catchup=False) is None
    if schedule == "@hourly":
        assert {i.end - i.start for i in intervals} == {timedelta(hours=1)}
    else:
        assert {i.start.astimezone(ZoneInfo(tz)).time() for i in intervals} == {time(0)}
