"""Timetables: schedules that cron cannot say (business days, trading calendars), from plugins.

A plugin returns instances from the `orchestrator_timetables` hook; each has a unique `name` and
says its ticks: `next_tick(after)` (the first strictly after) and `prev_tick(before)` (the last
strictly before), aware UTC datetimes in and out. A DAG names one with `schedule=BusinessDays()`
or `schedule="timetable:business_days"`; the schedule math (orchestrator.core.schedule) cuts time into
data intervals between consecutive ticks, as for cron. A tick function must be deterministic:
results are cached.
"""

from __future__ import annotations

import re
import threading
from datetime import datetime
from typing import ClassVar

from orchestrator.core.errors import DagDefinitionError

PREFIX = "timetable:"
_NAME = re.compile(r"[a-z0-9_\-]{1,80}")
_lock = threading.Lock()
_known: dict[str, Timetable] = {}


class Timetable:
    """Base class of a timetable; subclasses set `name` and implement the two tick functions."""

    name: ClassVar[str] = ""

    def next_tick(self, after: datetime) -> datetime:
        raise NotImplementedError(f"{type(self).__name__} does not implement next_tick()")

    def prev_tick(self, before: datetime) -> datetime:
        raise NotImplementedError(f"{type(self).__name__} does not implement prev_tick()")

    @property
    def schedule(self) -> str:
        """The schedule string a DagSpec keeps for it."""
        return PREFIX + self.name


def register(timetable: Timetable) -> str:
    """Make the timetable known in this process (plugins' at load, a DAG file's when it names one)."""
    if not isinstance(timetable, Timetable):
        raise DagDefinitionError(f"a timetable must be an orchestrator.core.timetables.Timetable, not {timetable!r}")
    if not _NAME.fullmatch(timetable.name or ""):
        raise DagDefinitionError(f"timetable {type(timetable).__name__}: name {timetable.name!r} must be 1-80 of a-z, 0-9, '_', '-'")
    with _lock:
        _known.setdefault(timetable.name, timetable)
    return timetable.schedule


def is_timetable(schedule: str) -> bool:
    return schedule.startswith(PREFIX)


def resolve(schedule: str) -> Timetable:
    """The timetable a `timetable:NAME` schedule names; DagDefinitionError when no plugin gives it."""
    name = schedule[len(PREFIX):]
    found = _known.get(name)
    if found is None:
        known = ", ".join(sorted(_known)) or "none"
        raise DagDefinitionError(
            f"schedule {schedule!r}: no timetable named {name!r} is registered (known: {known}); "
            "is the plugin that provides it installed or in the plugins folder?"
        )
    return found
