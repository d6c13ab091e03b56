"""The schedule table: named schedules beyond a DAG's own. Every write goes through here.

A named schedule follows catchup=False semantics: when it is created, resumed or edited, missed
intervals are skipped and `next_run_at` is the end of the newest interval not yet run (which may
already be due, as for a DAG with catchup=False).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.core.errors import ConflictError, DagDefinitionError, NotFoundError
from orchestrator.core.priority import check_priority
from orchestrator.core.schedule import DataInterval, as_utc, cron_expression, upcoming_interval, zone
from orchestrator.store.models import Dag, Schedule

NAME_PATTERN = r"^[A-Za-z0-9_.\-]{1,250}$"


class ScheduleError(DagDefinitionError):
    """A schedule field is invalid; the message names the field."""


def _check(name: str | None, cron: str, timezone: str, start: datetime | None, end: datetime | None) -> None:
    if name is not None and not re.match(NAME_PATTERN, name):
        raise ScheduleError(f"name {name!r} must be 1 to 250 letters, digits, '_', '.' or '-'")
    try:
        cron_expression(cron)
    except DagDefinitionError as exc:
        raise ScheduleError(f"cron: {exc}") from None
    try:
        tz = zone(timezone)
    except DagDefinitionError as exc:
        raise ScheduleError(f"timezone: {exc}") from None
    if start is not None and end is not None and as_utc(end, tz) < as_utc(start, tz):
        raise ScheduleError(f"end_date {end.isoformat()} is before start_date {start.isoformat()}")


def _utc(moment: datetime | None, timezone: str) -> datetime | None:
    """A naive start/end is wall time in the schedule's zone; the store keeps aware UTC."""
    return None if moment is None else as_utc(moment, zone(timezone))


def next_run_at(row: Schedule, now: datetime, last: DataInterval | None = None) -> datetime | None:
    """When the next interval of `row` after `last` is due (None once past its end_date)."""
    nxt = upcoming_interval(row.cron, row.timezone, row.start_date, last, now, catchup=False)
    if nxt is None or (row.end_date is not None and nxt.start > as_utc(row.end_date, zone(row.timezone))):
        return None
    return nxt.end


def get(session: Session, name: str) -> Schedule:
    row = session.get(Schedule, name)
    if row is None:
        raise NotFoundError(f"no schedule named {name!r}: `orchestrator schedules list` shows them")
    return row


def list_all(session: Session) -> list[Schedule]:
    return list(session.scalars(select(Schedule).order_by(Schedule.name)))


def create(
    session: Session,
    name: str,
    dag_id: str,
    cron: str,
    now: datetime,
    *,
    timezone: str = "UTC",
    conf: dict[str, Any] | None = None,
    start_date: datetime | None = None,
    end_date: datetime | None = None,
    enabled: bool = True,
    priority: int = 0,
) -> Schedule:
    """Add a schedule; ConflictError if the name is taken, NotFoundError for an unknown DAG."""
    _check(name, cron, timezone, start_date, end_date)
    check_priority(priority)
    dag = session.get(Dag, dag_id)
    if dag is None or not dag.is_active:
        raise NotFoundError(f"dag_id: no DAG with id {dag_id!r}: `orchestrator dags list` shows the known DAGs")
    if session.get(Schedule, name) is not None:
        raise ConflictError(f"schedule {name!r} already exists (update it, or delete it first)")
    row = Schedule(
        name=name, dag_id=dag_id, cron=cron.strip(), timezone=timezone, conf=conf or {}, enabled=enabled,
        start_date=_utc(start_date, timezone), end_date=_utc(end_date, timezone), created_at=now, updated_at=now,
        priority=priority,
    )
    row.next_run_at = next_run_at(row, now) if enabled else None
    session.add(row)
    session.flush()
    return row


def update(session: Session, name: str, now: datetime, **changes: Any) -> Schedule:
    """Change cron, timezone, conf, start_date, end_date or priority; the next run is computed again."""
    allowed = {"cron", "timezone", "conf", "start_date", "end_date", "priority"}
    unknown = set(changes) - allowed
    if unknown:
        raise ScheduleError(f"{sorted(unknown)[0]}: cannot be changed (only {', '.join(sorted(allowed))})")
    row = get(session, name)
    merged = {k: getattr(row, k) for k in allowed} | changes
    _check(None, merged["cron"], merged["timezone"], merged["start_date"], merged["end_date"])
    check_priority(merged["priority"])
    for key, value in changes.items():
        setattr(row, key, (value or {}) if key == "conf" else value)
    row.cron = row.cron.strip()
    row.start_date, row.end_date = _utc(row.start_date, row.timezone), _utc(row.end_date, row.timezone)
    row.updated_at = now
    row.next_run_at = next_run_at(row, now) if row.enabled else None
    session.flush()
    return row


def pause(session: Session, name: str, now: datetime) -> Schedule:
    """Stop queueing runs (idempotent)."""
    row = get(session, name)
    row.enabled = False
    row.next_run_at = None
    row.updated_at = now
    session.flush()
    return row


def resume(session: Session, name: str, now: datetime) -> Schedule:
    """Queue runs again from the newest interval on; the ones missed while paused are skipped."""
    row = get(session, name)
    if not row.enabled:
        row.enabled = True
        row.next_run_at = next_run_at(row, now)
        row.updated_at = now
        session.flush()
    return row


def delete(session: Session, name: str) -> None:
    session.delete(get(session, name))
    session.flush()


def as_dict(row: Schedule) -> dict[str, Any]:
    """The schedule as plain JSON-ready values (CLI --json)."""
    def iso(v: datetime | None) -> str | None:
        return None if v is None else v.isoformat()

    return {
        "name": row.name, "dag_id": row.dag_id, "cron": row.cron, "timezone": row.timezone, "conf": row.conf,
        "enabled": row.enabled, "start_date": iso(row.start_date), "end_date": iso(row.end_date),
        "next_run_at": iso(row.next_run_at), "priority": row.priority, "created_at": iso(row.created_at), "updated_at": iso(row.updated_at),
    }
