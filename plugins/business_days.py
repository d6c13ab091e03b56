"""An example timetable plugin: runs on business days (Monday to Friday) at 06:00 UTC.

A DAG uses it with `schedule="timetable:business_days"` (or `schedule=BusinessDays()`). Each
run's data interval spans from one business day's 06:00 to the next one's, so Friday's run covers
the weekend and is due on Monday at 06:00.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orchestrator.core.timetables import Timetable
from orchestrator.plugins.hookspecs import hookimpl


class BusinessDays(Timetable):
    name = "business_days"
    hour = 6

    def _at(self, day: datetime) -> datetime:
        return day.astimezone(UTC).replace(hour=self.hour, minute=0, second=0, microsecond=0)

    def next_tick(self, after: datetime) -> datetime:
        tick = self._at(after)
        while tick <= after or tick.weekday() >= 5:
            tick = self._at(tick + timedelta(days=1))
        return tick

    def prev_tick(self, before: datetime) -> datetime:
        tick = self._at(before)
        while tick >= before or tick.weekday() >= 5:
            tick = self._at(tick - timedelta(days=1))
        return tick


@hookimpl
def orchestrator_timetables() -> list[Timetable]:
    return [BusinessDays()]
