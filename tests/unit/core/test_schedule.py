"""Schedule math: cron strings and presets, data intervals, catch-up and end_date (UTC zone)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator import DAG
from orchestrator.core.errors import DagDefinitionError
from orchestrator.core.schedule import DataInterval, cron_expression, next_interval, upcoming_interval, zone


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


HOURLY = "0 * * * *"
START = datetime(2026, 1, 1)  # naive: wall time in the DAG's zone


def _due(schedule: str, now: datetime, last: DataInterval | None = None, *, catchup: bool, **kw: object):
    return next_interval(schedule, "UTC", kw.pop("start_date", START), last, now, catchup=catchup, **kw)


@pytest.mark.parametrize(
    ("preset", "expr"),
    [
        ("@hourly", "0 * * * *"),
        ("@daily", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"),
        ("@yearly", "0 0 1 1 *"),
    ],
)
def test_preset_means_its_cron_expression(preset: str, expr: str) -> None:
    assert cron_expression(preset) == expr


def test_cron_string_is_used_as_given_without_surrounding_blanks() -> None:
    assert cron_expression("  */15 9-17 * * 1-5 ") == "*/15 9-17 * * 1-5"


@pytest.mark.parametrize(
    "schedule",
    ["bogus", "", "* * *", "61 * * * *", "0 25 * * *", "*/0 * * * *", "@every 5m", "@reboot", "0 0 31 2 *"],
)
def test_invalid_schedule_raises_dag_definition_error_naming_it(schedule: str) -> None:
    with pytest.raises(DagDefinitionError, match="schedule"):
        cron_expression(schedule)


def test_schedule_that_never_fires_is_rejected_when_the_dag_is_defined() -> None:
    # February 31st passes croniter's syntax check but has no tick to compute
    with pytest.raises(DagDefinitionError, match="never"):
        DAG("never", schedule="0 0 31 2 *", start_date=START)


def test_dag_with_invalid_schedule_raises_dag_definition_error() -> None:
    with pytest.raises(DagDefinitionError, match="'every minute'"):
        DAG("bad_schedule", schedule="every minute", start_date=START)


def test_dag_with_schedule_but_no_start_date_raises() -> None:
    with pytest.raises(DagDefinitionError, match="start_date"):
        DAG("no_start", schedule="@daily")


def test_unknown_time_zone_raises_dag_definition_error() -> None:
    with pytest.raises(DagDefinitionError, match="Mars/Olympus_Mons"):
        zone("Mars/Olympus_Mons")


def test_dag_with_unknown_time_zone_raises_dag_definition_error() -> None:
    with pytest.raises(DagDefinitionError, match="time zone"):
        DAG("bad_zone", schedule="@daily", start_date=START, timezone="Europe/Atlantis")


def test_data_interval_is_the_span_between_two_ticks_and_starts_at_the_logical_date() -> None:
    interval = _due(HOURLY, utc(2026, 1, 1, 10, 30), catchup=False)
    assert interval == DataInterval(utc(2026, 1, 1, 9), utc(2026, 1, 1, 10))


def test_intervals_are_timezone_aware_utc() -> None:
    interval = next_interval("@daily", "Asia/Tokyo", START, None, utc(2026, 1, 5), catchup=False)
    assert interval is not None
    assert interval.start.utcoffset() == timedelta(0) and interval.end.utcoffset() == timedelta(0)


def test_naive_start_date_is_wall_time_in_the_dag_time_zone() -> None:
    interval = next_interval("@daily", "Asia/Tokyo", START, None, utc(2026, 1, 5), catchup=True)
    assert interval == DataInterval(utc(2025, 12, 31, 15), utc(2026, 1, 1, 15))


def test_interval_is_not_due_before_it_ends() -> None:
    assert _due(HOURLY, utc(2026, 1, 1, 0, 59, 59), catchup=True) is None


def test_interval_is_due_the_moment_it_ends() -> None:
    assert _due(HOURLY, utc(2026, 1, 1, 1), catchup=True) == DataInterval(utc(2026, 1, 1, 0), utc(2026, 1, 1, 1))


def test_start_date_between_ticks_begins_at_the_next_tick() -> None:
    interval = _due(HOURLY, utc(2026, 1, 2), catchup=True, start_date=datetime(2026, 1, 1, 5, 20))
    assert interval is not None and interval.start == utc(2026, 1, 1, 6)


def test_catchup_gives_missed_intervals_oldest_first_one_at_a_time() -> None:
    now = utc(2026, 1, 1, 3, 10)
    first = _due(HOURLY, now, catchup=True)
    second = _due(HOURLY, now, first, catchup=True)
    third = _due(HOURLY, now, second, catchup=True)
    assert [first, second, third] == [
        DataInterval(utc(2026, 1, 1, 0), utc(2026, 1, 1, 1)),
        DataInterval(utc(2026, 1, 1, 1), utc(2026, 1, 1, 2)),
        DataInterval(utc(2026, 1, 1, 2), utc(2026, 1, 1, 3)),
    ]


def test_catchup_stops_when_the_next_interval_has_not_ended() -> None:
    now = utc(2026, 1, 1, 3, 10)
    assert _due(HOURLY, now, DataInterval(utc(2026, 1, 1, 2), utc(2026, 1, 1, 3)), catchup=True) is None


def test_without_catchup_only_the_newest_complete_interval_runs() -> None:
    interval = _due(HOURLY, utc(2026, 3, 1, 12, 10), catchup=False)
    assert interval == DataInterval(utc(2026, 3, 1, 11), utc(2026, 3, 1, 12))


def test_without_catchup_missed_intervals_after_the_last_run_are_skipped() -> None:
    last = DataInterval(utc(2026, 3, 1, 2), utc(2026, 3, 1, 3))
    interval = _due(HOURLY, utc(2026, 3, 1, 12, 10), last, catchup=False)
    assert interval == DataInterval(utc(2026, 3, 1, 11), utc(2026, 3, 1, 12))


def test_without_catchup_the_newest_interval_is_not_given_twice() -> None:
    last = DataInterval(utc(2026, 3, 1, 11), utc(2026, 3, 1, 12))
    assert _due(HOURLY, utc(2026, 3, 1, 12, 59), last, catchup=False) is None


def test_without_catchup_a_future_start_date_still_waits_for_its_first_interval() -> None:
    start = datetime(2026, 6, 1)
    assert _due(HOURLY, utc(2026, 6, 1, 0, 30), catchup=False, start_date=start) is None
    assert _due(HOURLY, utc(2026, 6, 1, 1), catchup=False, start_date=start) == DataInterval(
        utc(2026, 6, 1, 0), utc(2026, 6, 1, 1)
    )


def test_upcoming_interval_is_known_before_it_is_due() -> None:
    last = DataInterval(utc(2026, 1, 1, 0), utc(2026, 1, 1, 1))
    upcoming = upcoming_interval(HOURLY, "UTC", START, last, utc(2026, 1, 1, 1, 5), catchup=True)
    assert upcoming == DataInterval(utc(2026, 1, 1, 1), utc(2026, 1, 1, 2))


def test_interval_starting_at_end_date_still_runs() -> None:
    last = DataInterval(utc(2026, 1, 1, 0), utc(2026, 1, 1, 1))
    interval = _due(HOURLY, utc(2026, 1, 2), last, catchup=True, end_date=datetime(2026, 1, 1, 1))
    assert interval == DataInterval(utc(2026, 1, 1, 1), utc(2026, 1, 1, 2))


def test_no_interval_starts_after_end_date() -> None:
    last = DataInterval(utc(2026, 1, 1, 1), utc(2026, 1, 1, 2))
    assert _due(HOURLY, utc(2026, 1, 2), last, catchup=True, end_date=datetime(2026, 1, 1, 1)) is None


def test_weekly_preset_intervals_run_sunday_to_sunday() -> None:
    interval = _due("@weekly", utc(2026, 1, 14), catchup=False)
    assert interval == DataInterval(utc(2026, 1, 4), utc(2026, 1, 11))
    assert interval.start.weekday() == 6


def test_monthly_preset_intervals_run_from_first_to_first() -> None:
    assert _due("@monthly", utc(2026, 3, 15), catchup=False) == DataInterval(utc(2026, 2, 1), utc(2026, 3, 1))


def test_yearly_preset_interval_covers_the_previous_year() -> None:
    assert _due("@yearly", utc(2027, 2, 1), catchup=False) == DataInterval(utc(2026, 1, 1), utc(2027, 1, 1))
