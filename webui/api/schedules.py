"""/schedules: named schedules beyond a DAG's own (its cron, zone and conf), every change audited.

Viewers list and read them; operators create, edit, pause, resume and delete them. A user in
a DAG role sees the schedules of the DAGs they may read and changes those of the DAGs they may edit.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import available_timezones

from pydantic import AfterValidator, BaseModel, Field, StringConstraints, WithJsonSchema

from orchestrator.store import schedules as schedule_store
from orchestrator.store.models import Schedule
from orchestrator.store.permissions import DagPermission
from orchestrator.store.users import Role
from webui.access import readable_dag_ids, require_dag
from webui.api.endpoint import endpoint
from webui.api.schemas import Conf, DagId, Input, Page, PageQuery, Priority, UtcDatetime
from webui.auth import audit
from webui.state import web_state

ScheduleName = Annotated[str, StringConstraints(pattern=schedule_store.NAME_PATTERN)]
# printable ASCII only: cron fields, presets, and IANA zone names need nothing else
Cron = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[ -~]+$")]
ZONES = frozenset(available_timezones())


def _known_zone(name: str) -> str:
    if name not in ZONES:
        raise ValueError(f"unknown time zone {name!r}: use an IANA name such as Europe/Paris or UTC")
    return name


# the IANA names this server knows, listed in the document, so that it refuses the others too
Zone = Annotated[str, AfterValidator(_known_zone), WithJsonSchema({"type": "string", "enum": sorted(ZONES)})]


class SchedulePath(Input):
    name: ScheduleName


class ScheduleCreate(Input):
    name: ScheduleName
    dag_id: DagId
    cron: Cron = Field(description="a cron expression or preset such as @daily")
    timezone: Zone = "UTC"
    conf: Conf = Field(default_factory=dict)
    enabled: bool = True
    start_date: UtcDatetime | None = None
    end_date: UtcDatetime | None = None
    priority: Priority = 0


class SchedulePatch(Input):
    """Fields to change; those left out keep their value."""

    cron: Cron | None = None
    timezone: Zone | None = None
    conf: Conf | None = None
    start_date: UtcDatetime | None = None
    end_date: UtcDatetime | None = None
    priority: Priority | None = None


class ScheduleOut(BaseModel):
    name: str
    dag_id: str
    cron: str
    timezone: str
    conf: dict[str, Any]
    enabled: bool
    start_date: datetime | None
    end_date: datetime | None
    next_run_at: datetime | None = Field(description="when its next run is due; null while paused or past end_date")
    priority: int = Field(description="the priority of the runs it starts: their ready tasks go first")
    created_at: datetime
    updated_at: datetime


class ScheduleDeleted(BaseModel):
    name: str
    deleted: bool


def _out(row: Schedule) -> ScheduleOut:
    return ScheduleOut.model_validate(row, from_attributes=True)


def _now() -> datetime:
    return datetime.now(UTC)


def _checked(name: str, needed: DagPermission) -> None:
    """403 unless the caller may do `needed` to the DAG of schedule `name` (404 if there is none)."""
    with web_state().read_sessions() as s:
        dag_id = schedule_store.get(s, name).dag_id
    require_dag(dag_id, needed)


def _may_read(path: SchedulePath) -> None:
    _checked(path.name, DagPermission.READ)


def _may_edit(path: SchedulePath) -> None:
    _checked(path.name, DagPermission.EDIT)


@endpoint("GET", "/schedules", summary="List schedules", tag="schedules", role=Role.VIEWER, query=PageQuery, response=Page[ScheduleOut])
def list_schedules(query: PageQuery) -> Page[ScheduleOut]:
    """The named schedules by name."""
    with web_state().read_sessions() as s:
        readable = readable_dag_ids(s)
        rows = [_out(r) for r in schedule_store.list_all(s) if readable is None or r.dag_id in readable]
    return Page[ScheduleOut](items=rows[query.offset : query.offset + query.limit], total=len(rows))


@endpoint(
    "GET", "/schedules/{name}", summary="Get a schedule", tag="schedules", role=Role.VIEWER,
    dag=DagPermission.READ, path_model=SchedulePath, authorize=_may_read, response=ScheduleOut,
)
def get_schedule(path: SchedulePath) -> ScheduleOut:
    """One named schedule."""
    with web_state().read_sessions() as s:
        return _out(schedule_store.get(s, path.name))


@endpoint(
    "POST", "/schedules", summary="Create a schedule", tag="schedules", role=Role.OPERATOR, dag=DagPermission.EDIT,
    body=ScheduleCreate, body_required=True, response=ScheduleOut, status=201, conflicts=True,
)
def create_schedule(body: ScheduleCreate) -> ScheduleOut:
    """Add a named schedule of a DAG (400 for a bad cron or zone, 404 for an unknown DAG, 409 if the name exists)."""
    require_dag(body.dag_id, DagPermission.EDIT)
    with web_state().sessions.begin() as s:
        row = schedule_store.create(
            s, body.name, body.dag_id, body.cron, _now(), timezone=body.timezone, conf=body.conf,
            start_date=body.start_date, end_date=body.end_date, enabled=body.enabled, priority=body.priority,
        )
        audit(s, "schedule.create", f"schedule:{body.name}", {"dag_id": body.dag_id, "cron": body.cron, "timezone": body.timezone})
        return _out(row)


@endpoint(
    "PATCH", "/schedules/{name}", summary="Update a schedule", tag="schedules", role=Role.OPERATOR, dag=DagPermission.EDIT,
    path_model=SchedulePath, authorize=_may_edit, body=SchedulePatch, body_required=True, response=ScheduleOut,
)
def update_schedule(path: SchedulePath, body: SchedulePatch) -> ScheduleOut:
    """Change the given fields (a null start_date or end_date removes it); the next run is computed again."""
    changes = {k: getattr(body, k) for k in body.model_fields_set}
    for key in ("cron", "timezone", "priority"):
        if key in changes and changes[key] is None:
            del changes[key]
    with web_state().sessions.begin() as s:
        row = schedule_store.update(s, path.name, _now(), **changes)
        audit(s, "schedule.update", f"schedule:{path.name}", {"fields": sorted(changes)})
        return _out(row)


@endpoint(
    "DELETE", "/schedules/{name}", summary="Delete a schedule", tag="schedules", role=Role.OPERATOR,
    dag=DagPermission.EDIT, path_model=SchedulePath, authorize=_may_edit, response=ScheduleDeleted,
)
def delete_schedule(path: SchedulePath) -> ScheduleDeleted:
    """Remove the schedule; the runs it queued stay."""
    with web_state().sessions.begin() as s:
        schedule_store.delete(s, path.name)
        audit(s, "schedule.delete", f"schedule:{path.name}")
    return ScheduleDeleted(name=path.name, deleted=True)


@endpoint(
    "POST", "/schedules/{name}/pause", summary="Pause a schedule", tag="schedules", role=Role.OPERATOR,
    dag=DagPermission.EDIT, path_model=SchedulePath, authorize=_may_edit, response=ScheduleOut,
)
def pause_schedule(path: SchedulePath) -> ScheduleOut:
    """Stop it queueing runs (idempotent)."""
    with web_state().sessions.begin() as s:
        row = schedule_store.pause(s, path.name, _now())
        audit(s, "schedule.pause", f"schedule:{path.name}")
        return _out(row)


@endpoint(
    "POST", "/schedules/{name}/resume", summary="Resume a schedule", tag="schedules", role=Role.OPERATOR,
    dag=DagPermission.EDIT, path_model=SchedulePath, authorize=_may_edit, response=ScheduleOut,
)
def resume_schedule(path: SchedulePath) -> ScheduleOut:
    """Queue runs again from the newest interval on; those missed while paused are skipped."""
    with web_state().sessions.begin() as s:
        row = schedule_store.resume(s, path.name, _now())
        audit(s, "schedule.resume", f"schedule:{path.name}")
        return _out(row)
