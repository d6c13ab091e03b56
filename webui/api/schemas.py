"""Pydantic models of the REST API: path, query and body inputs, and every response.

The same models validate requests and generate the OpenAPI document (openapi.py), so the
document cannot drift from what the handlers accept and return.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StringConstraints
from pydantic.json_schema import SkipJsonSchema

from orchestrator.core.mapping import MAX_MAP_LENGTH
from orchestrator.core.priority import MAX_PRIORITY, MIN_PRIORITY
from orchestrator.core.spec import DagSpec, TaskSpec
from orchestrator.core.states import RunState, TaskState

# -- scalar types --------------------------------------------------------------------------------
# ids as the authoring API allows them (orchestrator/authoring/dag.py, orchestrator/authoring/tasks.py)
DagId = Annotated[str, StringConstraints(min_length=1, max_length=250, pattern=r"^[A-Za-z0-9_.\-]+$")]
TaskId = Annotated[str, StringConstraints(min_length=1, max_length=250, pattern=r"^[\w.\-]+$")]
# run ids made elsewhere (CLI, cron) may hold ':' and '+'; a path segment cannot hold '/'
RunIdPath = Annotated[str, StringConstraints(min_length=1, max_length=250, pattern=r"^[^/\x00]+$")]
# a new run id must be safe in a URL path segment
NewRunId = Annotated[str, StringConstraints(min_length=1, max_length=250, pattern=r"^[A-Za-z0-9_.:+\-]+$")]
# free text in filters: bounded, and no NUL (PostgreSQL refuses it in text parameters)
Text = Annotated[str, StringConstraints(min_length=1, max_length=250, pattern=r"^[^\x00]*$")]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00]*$")]
MAX_OFFSET = 2_147_483_647  # beyond a 32-bit int, SQLite refuses the bound parameter
MAX_CONF_DEPTH = 32
MAX_CONF_BYTES = 1_000_000


def _bounded_conf(conf: dict[str, Any]) -> dict[str, Any]:
    """A conf is stored as JSON and echoed back: refuse the deep or huge ones."""

    def depth(value: Any, level: int) -> None:
        if level > MAX_CONF_DEPTH:
            raise ValueError(f"conf is nested deeper than {MAX_CONF_DEPTH} levels")
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        for child in children:
            depth(child, level + 1)

    depth(conf, 1)
    if len(json.dumps(conf)) > MAX_CONF_BYTES:
        raise ValueError(f"conf is larger than {MAX_CONF_BYTES} bytes as JSON")
    return conf


Conf = Annotated[dict[str, Any], AfterValidator(_bounded_conf)]


def _to_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the date is out of range once converted to UTC") from None


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _text_only(value: Any) -> Any:
    # the document says an ISO 8601 string; pydantic alone would read a number (or "0.5") as
    # Unix time: logical_date: 0 would queue a run of 1970
    if isinstance(value, datetime) or (isinstance(value, str) and _ISO_DATE.match(value)):
        return value
    raise ValueError("must be an ISO 8601 date-time string with an offset, such as 2026-01-01T00:00:00Z")


# with an offset (a naive time is ambiguous), held in UTC like the store
UtcDatetime = Annotated[AwareDatetime, BeforeValidator(_text_only), AfterValidator(_to_utc)]


class Input(BaseModel):
    """Inputs refuse unknown fields: a misspelt filter is an error, not a silent no-op."""

    model_config = ConfigDict(extra="forbid")


# -- path parameters -------------------------------------------------------------------------------
class DagPath(Input):
    dag_id: DagId


class RunPath(DagPath):
    run_id: RunIdPath


class TaskPath(RunPath):
    task_id: TaskId


class TryPath(TaskPath):
    try_number: int = Field(ge=1, le=100_000)


# -- query strings ----------------------------------------------------------------------------------
class PageQuery(Input):
    limit: int = Field(default=100, ge=1, le=1000, description="at most this many items")
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET, description="skip this many items")


class DagListQuery(PageQuery):
    tag: list[Tag] = Field(default_factory=list, max_length=20, description="DAGs having any of these tags")
    paused: bool | SkipJsonSchema[None] = Field(default=None, description="only paused (true) or unpaused (false) DAGs")
    search: Text | SkipJsonSchema[None] = Field(default=None, description="part of the dag_id, any case")


class RunListQuery(PageQuery):
    state: list[RunState] = Field(default_factory=list, max_length=10, description="runs in any of these states")
    logical_date_gte: UtcDatetime | SkipJsonSchema[None] = Field(default=None, description="logical date at or after")
    logical_date_lte: UtcDatetime | SkipJsonSchema[None] = Field(default=None, description="logical date at or before")
    correlation_id: Text | SkipJsonSchema[None] = Field(default=None, description="only runs with this correlation id")


class TaskListQuery(PageQuery):
    state: list[TaskState] = Field(default_factory=list, max_length=20, description="tasks in any of these states")


MapIndex = Annotated[int, Field(ge=-1, le=MAX_MAP_LENGTH - 1)]


class TaskQuery(Input):
    map_index: MapIndex = Field(default=-1, description="one instance of a mapped task (0..n-1); -1: the task itself")


class AuditQuery(PageQuery):
    actor: Text | SkipJsonSchema[None] = Field(default=None, description="entries of this user")
    action: Text | SkipJsonSchema[None] = Field(default=None, description="entries of this action, e.g. run.trigger")


class LogQuery(Input):
    map_index: MapIndex = Field(default=-1, description="a try of one instance of a mapped task (0..n-1); -1: of the task itself")
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET, description="first character to return (for tailing)")
    limit: int = Field(default=1_000_000, ge=1, le=1_000_000, description="at most this many characters")


# -- request bodies --------------------------------------------------------------------------------
class DagPatch(Input):
    is_paused: StrictBool


Priority = Annotated[int, Field(ge=MIN_PRIORITY, le=MAX_PRIORITY, description="ready tasks of higher-priority runs are submitted first")]


class TriggerRun(Input):
    conf: Conf = Field(default_factory=dict, description="merged over the DAG's params")
    correlation_id: Text | None = Field(default=None, description="a business identifier for the run (filter runs by it)")
    priority: Priority = 0
    run_id: NewRunId | None = Field(default=None, description="default: manual__<logical date>")
    logical_date: UtcDatetime | None = Field(default=None, description="default: now")


class TriggerRuns(Input):
    runs: list[TriggerRun] = Field(
        min_length=1, max_length=1000, description="the runs to queue, in one transaction: all of them, or none if one is wrong"
    )


class TriggeredRuns(BaseModel):
    dag_id: str
    run_ids: list[str] = Field(description="the queued runs' ids, in the order of the request")


class Mark(Input):
    state: Literal["success", "failed"] = Field(description="the state to mark the task or run with")


class LateQuery(PageQuery):
    dag_id: DagId | SkipJsonSchema[None] = Field(default=None, description="only this DAG's misses")


class ClearTask(Input):
    downstream: StrictBool = Field(default=False, description="also clear every task after this one")


# -- responses -----------------------------------------------------------------------------------
T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list: `total` counts every item matching the filters."""

    items: list[T]
    total: int


class DagSummary(BaseModel):
    dag_id: str
    description: str | None
    tags: list[str]
    fileloc: str
    is_paused: bool
    is_active: bool
    schedule: str | None
    timezone: str
    next_run_at: datetime | None
    version_hash: str
    last_parsed_at: datetime | None
    task_count: int


class DagDetail(DagSummary):
    spec: DagSpec


class ParentRun(BaseModel):
    """The run whose TriggerDagRunTask `task_id` started this one."""

    dag_id: str
    run_id: str
    task_id: str


class ChildRun(ParentRun):
    """A run that this run's TriggerDagRunTask `task_id` started, and its state."""

    state: RunState


class RunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    dag_id: str
    run_id: str
    state: RunState
    run_type: str
    version_hash: str
    logical_date: datetime
    data_interval_start: datetime | None
    data_interval_end: datetime | None
    conf: dict[str, Any]
    queued_at: datetime
    start_date: datetime | None
    end_date: datetime | None
    duration_s: float | None
    paused: bool = Field(description="paused on its own: no new work is dispatched until it is resumed")
    priority: int = Field(description="set at trigger time: ready tasks of higher-priority runs are submitted first")
    state_reason: str | None = Field(description="why the run waits (depends_on), or why it failed without a task failing")
    waiting_since: datetime | None = Field(description="when the run began waiting on its depends_on")
    parent: ParentRun | None = Field(description="the run that triggered this one (TriggerDagRunTask), if any")
    children: list[ChildRun] = Field(description="the runs this run triggered, oldest first")
    correlation_id: str | None = Field(default=None, description="the run's business correlation id, if it has one")


class TaskInstanceOut(BaseModel):
    task_id: str
    map_index: int = Field(description="-1 for a task, 0..n-1 for the instances of a mapped task (whose own row has -1)")
    state: TaskState | None = Field(description="null while the run has not created its tasks yet")
    try_number: int
    max_tries: int
    start_date: datetime | None
    end_date: datetime | None
    duration_s: float | None
    next_retry_at: datetime | None
    worker: str | None


class TryOut(BaseModel):
    try_number: int
    state: str
    start_date: datetime | None
    end_date: datetime | None
    duration_s: float | None
    worker: str | None
    error: str | None
    log_chars: int


class TaskDetail(TaskInstanceOut):
    spec: TaskSpec
    tries: list[TryOut]
    result_preview: str | None = Field(description="the result as JSON, cut to a few thousand characters")
    result_truncated: bool
    instances: list[TaskInstanceOut] = Field(
        default_factory=list, description="a mapped task's instances by map_index (ask ?map_index= for one with its tries)"
    )


class ClearResult(BaseModel):
    cleared: list[str]


class MarkedTask(BaseModel):
    task_id: str
    map_index: int = Field(description="-1 for a task, else the mapped instance")
    state: TaskState


class MarkResult(BaseModel):
    marked: list[MarkedTask] = Field(description="every state the mark set; the scheduler decides the downstream tasks")


class LateOut(BaseModel):
    """A run (task_id null) or task that missed its deadline, and its state now."""

    id: int = Field(description="the deadline.missed event's id")
    dag_id: str
    run_id: str
    task_id: str | None
    deadline: datetime | None = Field(description="when it should have finished")
    missed_at: datetime = Field(description="when the scheduler saw it unfinished")
    reason: str | None
    run_state: RunState | None = Field(description="null when the run was purged")
    task_state: TaskState | None


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    kind: str
    task_id: str | None
    map_index: int | None = Field(default=None, description="the mapped instance the event is about (0..n-1); -1 or null: the task")
    try_number: int | None
    from_state: str | None
    to_state: str | None
    actor: str
    reason: str | None
    payload: dict[str, Any] | None


class ImportErrorOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    filename: str
    message: str
    traceback: str
    timestamp: datetime


class AuditEntry(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str
    action: str
    target: str | None
    source_ip: str | None
    details: dict[str, Any] | None


Status = Literal["healthy", "unhealthy"]


class DatabaseHealth(BaseModel):
    status: Status
    message: str | None


class DaskWorker(BaseModel):
    """One Dask worker as the scheduler last saw it."""

    address: str
    nthreads: int
    executing: int
    memory_bytes: int


class SchedulerStats(BaseModel):
    """What the scheduler writes into scheduler_job.stats with each heartbeat."""

    dask_workers: list[DaskWorker] = Field(default_factory=list)
    loop_ms: float | None = None
    queue_depth: int | None = None
    active_runs: int | None = None


class SchedulerHealth(BaseModel):
    status: Status
    last_heartbeat: datetime | None
    heartbeat_age_s: float | None
    hostname: str | None
    pid: int | None
    loop_ms: float | None
    queue_depth: int | None
    active_runs: int | None


class Health(BaseModel):
    status: Status
    database: DatabaseHealth
    scheduler: SchedulerHealth
    dask_workers: list[DaskWorker]


class ErrorDetail(BaseModel):
    code: str = Field(description="machine-readable, e.g. not_found, validation_error")
    message: str
    details: Any = Field(description="for validation errors: a list of {loc, msg, type}")


class ErrorResponse(BaseModel):
    """The body of every error answer."""

    error: ErrorDetail


# -- state machines (issue 14) -------------------------------------------------------------------
EventName = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:\-]+$")]


class MachineEventIn(Input):
    event: EventName = Field(description="the event's name: the transitions from the run's state on it are tried")
    payload: Conf = Field(default_factory=dict, description="the event's payload: guards read it as `event`")


class MachineEventAccepted(BaseModel):
    dag_id: str
    run_id: str
    event: str
    state: str | None = Field(description="the state the run was in when the event was checked")
    target: str | None = Field(description="the state the core predicts the event moves the run to")
    reason: str = Field(description="which transition accepts the event")


class MachineStateOut(BaseModel):
    state: str = Field(description="the state entered")
    source: str | None = Field(description="the state left (null at the start)")
    via: str | None = Field(description="the event name, `action:outcome`, or start")
    guard: str | None
    at: datetime
    actor: str
    reason: str | None


class RunDataChangeOut(BaseModel):
    key: str
    value: Any
    task_id: str | None
    at: datetime


class RejectedEventOut(BaseModel):
    event: str | None
    reason: str | None
    at: datetime


class MachineOut(BaseModel):
    dag_id: str
    run_id: str
    state: str | None = Field(description="the current state (null before the run started)")
    finished: bool
    awaiting: list[str] = Field(description="the actions running whose end may move the run")
    sla_missed: bool = Field(description="the current state missed its SLA")
    entered_at: datetime | None
    history: list[MachineStateOut] = Field(description="the states the run went through, oldest first")
    data: dict[str, Any] = Field(description="the run's variables (run data)")
    data_changes: list[RunDataChangeOut] = Field(description="each change of the run data, oldest first")
    rejected: list[RejectedEventOut] = Field(description="sent events the run had moved past by the time they were taken")
