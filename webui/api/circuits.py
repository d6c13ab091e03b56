"""/circuits and /dead-letters: circuit breakers (list, reset) and tasks failed after their last try (list, retry)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.json_schema import SkipJsonSchema

from orchestrator.store import circuits as circuit_store
from orchestrator.store import deadletters
from orchestrator.store.permissions import DagPermission
from orchestrator.store.users import Role
from webui.access import readable_dag_ids
from webui.api.endpoint import actor_name, endpoint
from webui.api.schemas import ClearResult, DagId, Input, Page, PageQuery, TaskPath
from webui.auth import audit
from webui.state import web_state

BreakerKey = Annotated[str, StringConstraints(min_length=1, max_length=250, pattern=r"^[^/\x00]+$")]


class CircuitOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    key: str = Field(description="a connection id, or step:<step type> for tasks without one")
    state: str = Field(description="closed, open or half_open")
    consecutive_failures: int
    opened_at: datetime | None
    probe: str | None = Field(description="the task let through while half-open (dag/run/task)")
    updated_at: datetime


class CircuitPath(Input):
    key: BreakerKey


class DeadLetterOut(BaseModel):
    dag_id: str
    run_id: str
    task_id: str
    try_number: int
    end_date: datetime | None
    error: str | None


class DeadLetterQuery(PageQuery):
    dag_id: DagId | SkipJsonSchema[None] = Field(default=None, description="only this DAG's")


@endpoint("GET", "/circuits", summary="List circuit breakers", tag="circuits", role=Role.VIEWER, response=Page[CircuitOut])
def list_circuits() -> Page[CircuitOut]:
    """Every breaker the schedulers have recorded, by key."""
    with web_state().read_sessions() as s:
        rows = [CircuitOut.model_validate(r) for r in circuit_store.list_rows(s)]
    return Page[CircuitOut](items=rows, total=len(rows))


@endpoint(
    "POST", "/circuits/{key}/reset", summary="Reset a circuit breaker", tag="circuits", role=Role.OPERATOR,
    path_model=CircuitPath, response=CircuitOut,
)
def reset_circuit(path: CircuitPath) -> CircuitOut:
    """Close the breaker by hand; its waiting tasks run at the schedulers' next poll."""
    with web_state().sessions.begin() as s:
        circuit_store.reset_breaker(s, path.key, datetime.now(UTC), actor_name())
        audit(s, "circuit.reset", f"circuit:{path.key}")
        row = next(r for r in circuit_store.list_rows(s) if r.key == path.key)
        return CircuitOut.model_validate(row)


@endpoint(
    "GET", "/dead-letters", summary="List dead-lettered tasks", tag="tasks", role=Role.VIEWER,
    query=DeadLetterQuery, response=Page[DeadLetterOut],
)
def list_dead_letters(query: DeadLetterQuery) -> Page[DeadLetterOut]:
    """Tasks that failed after their last try, newest first, with the last try's error."""
    with web_state().read_sessions() as s:
        items, total = deadletters.list_dead_letters(s, query.dag_id, limit=query.limit, offset=query.offset, among=readable_dag_ids(s))
    return Page[DeadLetterOut](items=[DeadLetterOut(**vars(d)) for d in items], total=total)


@endpoint(
    "POST", "/dead-letters/{dag_id}/{run_id}/{task_id}/retry", summary="Retry a dead-lettered task", tag="tasks",
    role=Role.OPERATOR, dag=DagPermission.TRIGGER, path_model=TaskPath, response=ClearResult, conflicts=True,
)
def retry_dead_letter(path: TaskPath) -> ClearResult:
    """Run the task again with fresh retries (its downstream too). 409 unless it has finished."""
    with web_state().sessions.begin() as s:
        cleared = deadletters.retry_dead_letter(s, path.dag_id, path.run_id, path.task_id, now=datetime.now(UTC), actor=actor_name())
        audit(s, "task.retry", f"task:{path.dag_id}/{path.run_id}/{path.task_id}", {"cleared": cleared})
        return ClearResult(cleared=cleared)
