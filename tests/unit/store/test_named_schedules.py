"""Named schedules: field validation and when the next run is due (catchup=False), with an injected now."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orchestrator.core.schedule import DataInterval
from orchestrator.store.models import Schedule
from orchestrator.store.schedules import ScheduleError, _check, next_run_at

NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)


def row(cron: str = "@daily", timezone: str = "UTC", start: datetime | None = None, end: datetime | None = None) -> Schedule:
    return Schedule(name="s", dag_id="d", cron=cron, timezone=timezone, conf={}, enabled=True, start_date=start, end_date=end)


def test_a_bad_cron_is_refused_naming_the_cron_field() -> None:
    with pytest.raises(ScheduleError, match="^cron: "):
        _check("s", "every day", "UTC", None, None)


def test_an_unknown_zone_is_refused_naming_the_timezone_field() -> None:
    with pytest.raises(ScheduleError, match="^timezone: "):
        _check("s", "@daily", "Mars/Olympus", None, None)


def test_an_end_before_the_start_is_refused() -> None:
    with pytest.raises(ScheduleError, match="end_date"):
        _check("s", "@daily", "UTC", datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))


def test_a_name_with_a_slash_is_refused() -> None:
    with pytest.raises(ScheduleError, match="^name "):
        _check("a/b", "@daily", "UTC", None, None)


def test_without_a_start_the_newest_complete_interval_is_due_now() -> None:
    # catchup=False: yesterday's interval ended at midnight, so its run is due at once
    assert next_run_at(row(), NOW) == datetime(2026, 3, 10, tzinfo=UTC)


def test_after_a_run_the_next_interval_is_due_when_it_ends() -> None:
    last = DataInterval(datetime(2026, 3, 9, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC))
    assert next_run_at(row(), NOW, last) == datetime(2026, 3, 11, tzinfo=UTC)


def test_the_cron_is_read_in_the_schedule_zone() -> None:
    # 06:00 in New York is 10:00 UTC in March after the DST change (EDT, UTC-4)
    last = DataInterval(datetime(2026, 3, 9, 10, tzinfo=UTC), datetime(2026, 3, 10, 10, tzinfo=UTC))
    assert next_run_at(row("0 6 * * *", "America/New_York"), NOW, last) == datetime(2026, 3, 11, 10, tzinfo=UTC)


def test_a_future_start_date_delays_the_first_run() -> None:
    start = datetime(2026, 4, 1, tzinfo=UTC)
    assert next_run_at(row(start=start), NOW) == datetime(2026, 4, 2, tzinfo=UTC)


def test_no_run_is_due_past_the_end_date() -> None:
    last = DataInterval(datetime(2026, 3, 9, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC))
    assert next_run_at(row(end=datetime(2026, 3, 9, 12, tzinfo=UTC)), NOW, last) is None
