"""Dry runs and replays: POST /dags/{dag_id}/simulate walks a run without executing any task
(orchestrator.operations.simulation); GET /dags/{dag_id}/runs/{run_id}/replay rebuilds a run from its
events (orchestrator.core.replay), as it stands or as it stood after any past event."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from orchestrator.operations.simulation import Outcomes, SimulationInputError, parse_outcomes, simulate
from orchestrator.store import queries, run_history
from orchestrator.store.permissions import DagPermission
from orchestrator.store.users import Role
from webui.api.endpoint import endpoint
from webui.api.schemas import Conf, DagPath, Input, RunPath, UtcDatetime
from webui.errors import ApiError
from webui.state import web_state


class SimulateIn(Input):
    conf: Conf = Field(default_factory=dict, description="the run's conf, merged over the DAG's params")
    outcomes: Outcomes = Field(default_factory=Outcomes, description="how each task's tries end (default: success)")
    start: UtcDatetime | None = Field(default=None, description="when the simulated run starts (default: now)")


class SimulatedTry(BaseModel):
    task_id: str
    map_index: int
    try_number: int
    start: datetime
    end: datetime | None
    status: str | None = Field(description="success or failed; null: it never ended (a wait nobody settles)")


class SimulatedTask(BaseModel):
    state: str
    try_number: int
    result: Any = None
    instances: list[dict[str, Any]] = Field(default_factory=list, description="a mapped task's instances: state, try_number")


class SimulatedRetry(BaseModel):
    task_id: str
    map_index: int
    try_number: int = Field(description="the try that failed")
    failed_at: datetime
    retry_at: datetime
    error: str | None


class SimulatedEscalation(BaseModel):
    task_id: str
    try_number: int
    at: datetime
    step: int
    action: str
    to: list[str]
    describe: str


class SimulatedDeadline(BaseModel):
    task_id: str
    try_number: int
    kind: str = Field(description="execution_timeout, approval_timeout or event_timeout")
    at: datetime
    missed: bool


class SimulationOut(BaseModel):
    state: str = Field(description="the run's final state (running: the walk stalled)")
    started: datetime
    ended: datetime | None
    stalled: str | None = Field(description="why the walk stopped before the run ended, if it did")
    path: list[SimulatedTry]
    tasks: dict[str, SimulatedTask]
    retries: list[SimulatedRetry]
    escalations: list[SimulatedEscalation]
    deadlines: list[SimulatedDeadline]
    events: list[dict[str, Any]] = Field(description="the events the run would record, in order")


@endpoint(
    "POST", "/dags/{dag_id}/simulate", summary="Simulate a run", tag="dags", role=Role.VIEWER, dag=DagPermission.READ,
    path_model=DagPath, body=SimulateIn, response=SimulationOut,
)
def simulate_run(path: DagPath, body: SimulateIn) -> SimulationOut:
    """Walk a run of the DAG's current version on a virtual clock without executing any task, each
    try ending as `outcomes` says: the path, each task's state, retries with their times,
    escalations, deadlines and the final state. Nothing is stored. 422 names outcomes that are wrong."""
    with web_state().read_sessions() as s:
        spec = queries.dag_spec(s, path.dag_id)
    try:
        outcomes = parse_outcomes(body.outcomes.model_dump(exclude_unset=True), spec)
        walked = simulate(spec, outcomes, conf=body.conf, start=body.start or datetime.now(UTC))
    except SimulationInputError as exc:
        raise ApiError(422, "invalid_outcomes", str(exc)) from None
    return SimulationOut.model_validate(walked.as_dict())


class ReplayQuery(Input):
    until: int | None = Field(default=None, ge=0, le=2**62, description="stop after this event id: the run as it stood then")


class ReplayedTask(BaseModel):
    task_id: str
    map_index: int
    state: str
    try_number: int


class ReplayOut(BaseModel):
    run_state: str | None = Field(description="null: before the run's first event")
    event_id: int | None = Field(description="the last event folded")
    at: datetime | None
    events: int = Field(description="how many events were folded")
    event_ids: list[int] = Field(description="every event id of the run, oldest first")
    tasks: list[ReplayedTask]
    differences: list[str] = Field(description="what the stored rows hold that the whole history does not (empty: they match)")
    machine_state: str | None = Field(default=None, description="a state machine run's state then (null for a DAG run)")
    run_data: dict[str, Any] = Field(default_factory=dict, description="the run variables then")
    correlation_id: str | None = None


@endpoint(
    "GET", "/dags/{dag_id}/runs/{run_id}/replay", summary="Replay a run from its events", tag="runs", role=Role.VIEWER,
    dag=DagPermission.READ, path_model=RunPath, query=ReplayQuery, response=ReplayOut,
)
def replay_run(path: RunPath, query: ReplayQuery) -> ReplayOut:
    """The run rebuilt from its event rows alone, up to event `until` if given; without it, also
    what differs from the stored run and task instance rows."""
    with web_state().read_sessions() as s:
        replayed = run_history.replay_run(s, path.dag_id, path.run_id, until=query.until)
    image = replayed.image
    return ReplayOut(
        run_state=image.state, event_id=image.event_id, at=image.at, events=image.events, event_ids=replayed.event_ids,
        tasks=[ReplayedTask(task_id=tid, map_index=index, state=i.state, try_number=i.try_number) for (tid, index), i in sorted(image.tasks.items())],
        differences=replayed.differences, machine_state=image.machine_state, run_data=image.run_data,
        correlation_id=image.correlation_id,
    )
