"""Deadlines and run timeouts: when a run or a task is expected to have finished, as pure decisions.

A DAG or a task declares `deadline=Deadline(after=timedelta(hours=2), reference="logical_date")`
(or `reference="run_start"`): the run (or the task) should have finished by then. A DAG's
`dagrun_timeout` is stricter: past it the run fails and its work is cancelled.

The scheduler keeps the times of the runs it drives in a `DueList` (a heap) and, at each pass,
takes only the entries that fell due: it never scans every run. `missed` says whether an
entry that fell due is a miss, from the state of what it watches.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Generic, Literal, NamedTuple, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.core.errors import DagDefinitionError

Reference = Literal["logical_date", "run_start"]


class NotifyTarget(BaseModel):
    """Where a deadline miss is told: a notifier channel ("email", "webhook" or a plugin's) and its address."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    channel: str = Field(min_length=1, description="the notifier channel: 'email', 'webhook' or a plugin's")
    to: tuple[str, ...] = Field(default=(), description="e-mail addresses")
    conn_id: str | None = Field(default=None, description="the SMTP connection (email) or HTTP connection (webhook)")
    url: str | None = Field(default=None, description="the webhook's full URL, or a path on conn_id")
    subject: str | None = None


class DeadlineSpec(BaseModel):
    """A declared expected finish: `after_s` seconds after the run's logical date or its start."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    after_s: float = Field(gt=0, description="seconds after the reference by which the run (or task) should have finished")
    reference: Reference = Field(default="run_start", description="'logical_date' or 'run_start'")
    notify: tuple[NotifyTarget, ...] = Field(default=(), description="who is told of a miss, through the notifier plugins")


class Deadline:
    """`Deadline(after=timedelta(minutes=30), reference="run_start", notify=[{"channel": "email", ...}])`:
    the run or task should have finished `after` its run's start (or its logical date)."""

    def __init__(self, after: timedelta | float, reference: str = "run_start", notify: Any = ()) -> None:
        seconds = after.total_seconds() if isinstance(after, timedelta) else after
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
            raise DagDefinitionError(f"Deadline: after must be a positive timedelta or number of seconds, not {after!r}")
        if reference not in ("logical_date", "run_start"):
            raise DagDefinitionError(f"Deadline: reference must be 'logical_date' or 'run_start', not {reference!r}")
        try:
            self.spec = DeadlineSpec(after_s=float(seconds), reference=reference, notify=tuple(notify))  # type: ignore[arg-type]
        except ValueError as exc:
            raise DagDefinitionError(f"Deadline: notify must be a list of {{'channel': ..., 'to'/'url'/'conn_id': ...}}: {exc}") from None


def deadline_spec(value: Deadline | DeadlineSpec | dict[str, Any] | None, what: str) -> DeadlineSpec | None:
    """The spec of a `deadline=` argument (a Deadline, or a mapping as YAML gives it)."""
    if value is None or isinstance(value, DeadlineSpec):
        return value
    if isinstance(value, Deadline):
        return value.spec
    raise DagDefinitionError(f"{what}: deadline must be Deadline(after=..., reference=...), not {value!r}")


def timeout_seconds(value: timedelta | float | None, what: str) -> float | None:
    """`dagrun_timeout` in seconds (positive), or None."""
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
        raise DagDefinitionError(f"{what}: dagrun_timeout must be a positive timedelta or number of seconds, not {value!r}")
    return float(seconds)


def retention_seconds(value: timedelta | float | str | None, what: str) -> float | None:
    """`log_retention` in seconds (positive; a timedelta, seconds or ISO 8601 such as "P30D"), or None."""
    if value is None:
        return None
    from orchestrator.core.durations import parse_duration

    try:
        seconds = parse_duration(value) if isinstance(value, str) else value.total_seconds() if isinstance(value, timedelta) else value
    except ValueError as exc:
        raise DagDefinitionError(f"{what}: log_retention {exc}") from None
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
        raise DagDefinitionError(f"{what}: log_retention must be a positive duration (a timedelta, seconds or ISO 8601 such as 'P30D'), not {value!r}")
    return float(seconds)


def due_at(deadline: DeadlineSpec, logical_date: datetime | None, start_date: datetime | None) -> datetime | None:
    """When the deadline falls for a run with this logical date and start (None: its reference is unknown)."""
    base = logical_date if deadline.reference == "logical_date" else start_date
    return None if base is None else base + timedelta(seconds=deadline.after_s)


class Watch(NamedTuple):
    """What a due-list entry watches: a run's timeout, a run's deadline, or (task_id) a task's deadline."""

    dag_id: str
    run_id: str
    kind: Literal["timeout", "deadline"]
    task_id: str | None = None


T = TypeVar("T")


class Due(NamedTuple):
    at: datetime
    item: Any


def late(due: list[Due], finished: Callable[[Watch], bool | None]) -> list[Due]:
    """Of the entries that fell due, those that are late: what they watch has not finished.
    `finished` answers None for a run no longer driven here (it ended, or another scheduler has it)."""
    return [d for d in due if finished(d.item) is False]


class DueList(Generic[T]):
    """Items by the time they fall due; `take_due(now)` pops those due at `now`, cheaply (a heap)."""

    def __init__(self) -> None:
        self._heap: list[tuple[datetime, int, T]] = []
        self._seq = itertools.count()

    def push(self, at: datetime, item: T) -> None:
        heapq.heappush(self._heap, (at, next(self._seq), item))

    def take_due(self, now: datetime) -> list[Due]:
        """The items due at `now` (at or before), earliest first; they leave the list."""
        due = []
        while self._heap and self._heap[0][0] <= now:
            at, _, item = heapq.heappop(self._heap)
            due.append(Due(at, item))
        return due

    def next_due(self) -> datetime | None:
        return self._heap[0][0] if self._heap else None

    def __len__(self) -> int:
        return len(self._heap)
