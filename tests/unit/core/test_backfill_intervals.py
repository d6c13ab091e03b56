"""intervals_between: the data intervals a backfill covers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orchestrator.core.errors import DagDefinitionError
from orchestrator.core.schedule import intervals_between

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def test_a_daily_backfill_covers_each_day_in_the_range_oldest_first() -> None:
    found = intervals_between("@daily", "UTC", datetime(2026, 3, 1), datetime(2026, 3, 3), NOW)
    assert [i.start.day for i in found] == [1, 2, 3]
    assert all(i.end - i.start == found[0].end - found[0].start for i in found)


def test_naive_dates_are_wall_times_in_the_dags_zone() -> None:
    found = intervals_between("0 6 * * *", "Europe/Berlin", datetime(2026, 3, 2), datetime(2026, 3, 2, 23), NOW)
    assert [i.start for i in found] == [datetime(2026, 3, 2, 5, 0, tzinfo=UTC)]


def test_intervals_that_have_not_ended_are_left_out() -> None:
    found = intervals_between("@daily", "UTC", datetime(2026, 3, 8), datetime(2026, 3, 12), NOW)
    assert [i.start.day for i in found] == [8, 9]


def test_an_empty_range_gives_no_intervals() -> None:
    assert intervals_between("@daily", "UTC", datetime(2026, 3, 1, 1), datetime(2026, 3, 1, 23), NOW) == []


def test_a_range_with_more_intervals_than_the_limit_is_refused() -> None:
    with pytest.raises(DagDefinitionError, match="more than 24 intervals"):
        intervals_between("@hourly", "UTC", datetime(2026, 3, 1), datetime(2026, 3, 3), NOW, limit=24)
