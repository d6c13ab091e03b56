"""/events: events posted by outside systems, and the runs each started through the DAGs' triggers.

Operators post events (audited); posting an id already posted answers the stored event with 200
and changes nothing. Viewers list events and read one, with its runs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from flask import Response
from pydantic import BaseModel, Field, StringConstraints
from pydantic.json_schema import SkipJsonSchema

from orchestrator.store import external_events as event_store
from orchestrator.store.external_events import StartedRun, TriggerFailure
from orchestrator.store.models import ExternalEvent
from orchestrator.store.users import Role
from webui.api.endpoint import actor_name, endpoint
from webui.api.schemas import Conf, Input, Page, PageQuery
from webui.auth import audit
from webui.errors import ApiError
from webui.state import web_state

# printable ASCII without spaces, as in "order.created"; the triggers match it with globs
EventType = Annotated[str, StringConstraints(min_length=1, max_length=250, pattern=r"^[!-~]+$")]
SenderId = Annotated[str, StringConstraints(min_length=1, max_length=250, pattern=r"^[^\x00]+$")]
MAX_ID = 2**63 - 1


class EventPost(Input):
    type: EventType = Field(description="what happened, e.g. order.created")
    payload: Conf = Field(default_factory=dict, description="the event's data; a run's conf is taken from it")
    id: SenderId | None = Field(default=None, description="the sender's id of the event: posting it again changes nothing")


class EventBatchPost(Input):
    events: list[EventPost] = Field(min_length=1, max_length=10_000, description="stored in order, 500 per transaction")


class PostedEventOut(BaseModel):
    id: int = Field(description="the stored event's number")
    created: bool = Field(description="false when its `id` was posted before (or earlier in this batch): nothing changed")


class EventBatchOut(BaseModel):
    items: list[PostedEventOut] = Field(description="one per posted event, in order")


class EventQuery(PageQuery):
    type: EventType | SkipJsonSchema[None] = Field(default=None, description="only events of this type")


class EventPath(Input):
    id: int = Field(ge=1, le=MAX_ID)


class EventRunOut(BaseModel):
    dag_id: str
    run_id: str
    state: str | None = Field(description="null if the run was deleted")


class TriggerFailureOut(BaseModel):
    dag_id: str
    reason: str
    at: datetime


class ExternalEventOut(BaseModel):
    id: int = Field(description="the stored event's number (GET /events/{id})")
    event_id: str | None = Field(description="the sender's id, if it gave one")
    type: str
    payload: dict[str, Any]
    received_at: datetime
    actor: str
    processed_at: datetime | None = Field(description="when the scheduler matched it against the triggers; null until then")
    runs: list[EventRunOut] = Field(description="the runs it started")
    trigger_failures: list[TriggerFailureOut] = Field(description="DAGs whose trigger failed on it, and why")


def _out(row: ExternalEvent, runs: list[StartedRun], failures: list[TriggerFailure]) -> ExternalEventOut:
    return ExternalEventOut(
        id=row.id, event_id=row.event_id, type=row.type, payload=row.payload, received_at=row.received_at, actor=row.actor,
        processed_at=row.processed_at, runs=[EventRunOut(dag_id=r.dag_id, run_id=r.run_id, state=r.state) for r in runs],
        trigger_failures=[TriggerFailureOut(dag_id=f.dag_id, reason=f.reason, at=f.at) for f in failures],
    )


@endpoint(
    "POST", "/events", summary="Post an outside event", tag="events", role=Role.OPERATOR, body=EventPost, body_required=True,
    response=ExternalEventOut, status=201, other_responses={200: ExternalEventOut},
    links={"GetEvent": {"operationId": "get_event", "parameters": {"id": "$response.body#/id"}}},
)
def post_event(body: EventPost) -> Any:
    """Store the event (201); the scheduler starts a run of each DAG whose trigger matches it. An `id`
    posted before answers the stored event (200) and changes nothing."""
    with web_state().sessions.begin() as s:
        row, created = event_store.post(s, body.type, body.payload, body.id, datetime.now(UTC), actor_name())
        if created:
            audit(s, "event.post", f"event:{row.id}", {"type": body.type, "id": body.id})
        runs, failures = event_store.outcomes(s, [row.id])
        out = _out(row, runs[row.id], failures[row.id])
    if created:
        return out
    return Response(out.model_dump_json(), status=200, mimetype="application/json")


@endpoint(
    "POST", "/events/batch", summary="Post many outside events", tag="events", role=Role.OPERATOR, body=EventBatchPost,
    body_required=True, response=EventBatchOut, status=201,
)
def post_events(body: EventBatchPost) -> EventBatchOut:
    """Store up to 10,000 events, 500 per transaction (each audited), so that the schedulers are
    never held up for long; they start runs as with single posts. Events whose `id` was posted
    before change nothing (`created: false`). If storing fails part-way, the answer is 503 and the
    events before the failed transaction stay stored: posting the batch again is safe with ids."""
    actor = actor_name()

    def audited(s: Any, pks: list[int]) -> None:
        audit(s, "event.post_batch", f"event:{pks[0]}..{pks[-1]}", {"count": len(pks)})

    items = [event_store.NewEvent(e.type, e.payload, e.id) for e in body.events]
    try:
        posted = event_store.post_many(web_state().sessions, items, datetime.now(UTC), actor, on_chunk=audited)
    except event_store.EventBatchError as exc:
        raise ApiError(503, "partly_stored", str(exc)) from None
    return EventBatchOut(items=[PostedEventOut(id=pk, created=created) for pk, created in posted])


@endpoint("GET", "/events", summary="List outside events", tag="events", role=Role.VIEWER, query=EventQuery, response=Page[ExternalEventOut])
def list_events(query: EventQuery) -> Page[ExternalEventOut]:
    """Events, newest first, each with the runs it started."""
    with web_state().read_sessions() as s:
        rows, total = event_store.page(s, type=query.type, limit=query.limit, offset=query.offset)
        runs, failures = event_store.outcomes(s, [r.id for r in rows])
        return Page[ExternalEventOut](items=[_out(r, runs[r.id], failures[r.id]) for r in rows], total=total)


@endpoint("GET", "/events/{id}", summary="Get an outside event", tag="events", role=Role.VIEWER, path_model=EventPath, response=ExternalEventOut)
def get_event(path: EventPath) -> ExternalEventOut:
    """One event, with the runs it started and the triggers that failed on it."""
    with web_state().read_sessions() as s:
        row = event_store.get(s, path.id)
        runs, failures = event_store.outcomes(s, [row.id])
        return _out(row, runs[row.id], failures[row.id])
