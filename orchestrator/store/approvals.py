"""The approval tables: approval_request (what one ApprovalTask try waits for) and approval_decision.

Every write goes through here: the scheduler opens, escalates and closes requests; users decide
through `decide` (API and CLI), which checks the rules (orchestrator.core.approvals) with the request's
row locked, so two decisions at once cannot both miss the approval that completes it. A decision
that ends the request marks it decided; the scheduler then settles the task.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from orchestrator.core.approval_escalation import Escalation, escalate
from orchestrator.core.approvals import (
    EVENT_CLOSED,
    EVENT_DECIDED,
    EVENT_ESCALATED,
    EVENT_REQUESTED,
    ApprovalClosedError,
    ApprovalSpec,
    Cast,
    Decider,
    Decision,
    DelegationError,
    Outcome,
    check_decision,
    may_approve,
    outcome_of,
    votes_of,
)
from orchestrator.core.errors import NotFoundError
from orchestrator.core.states import TaskState
from orchestrator.store import changes as change_store
from orchestrator.store import events
from orchestrator.store.event_waits import chunks
from orchestrator.store.models import ApprovalDecision, ApprovalRequest, DagRun, Event, ExternalEvent, TaskInstance, User
from orchestrator.store.users import Role

OPEN = "open"
DECIDED = "decided"
CLOSED = "closed"
STATES = (OPEN, DECIDED, CLOSED)
MAX_PARENT_DEPTH = 10  # how far up triggered runs are followed to the user who started the first


def decider(user: User) -> Decider:
    """The user as the approval rules see them: their name and every role their role includes."""
    role = Role(user.role)
    return Decider(user.username, frozenset(r.value for r in Role if role.allows(r)))


# -- opened by the scheduler ------------------------------------------------------------------------------
@dataclass(frozen=True)
class NewRequest:
    """A try of an ApprovalTask that begins to wait."""

    dag_id: str
    run_id: str
    task_id: str
    try_number: int
    spec: ApprovalSpec


def requester(session: Session, dag_id: str, run_id: str) -> str | None:
    """Who started the run: the actor that queued it, the poster of the outside event that did,
    or (for a run triggered by another run's task) whoever started that run."""
    for _ in range(MAX_PARENT_DEPTH):
        run = session.get(DagRun, (dag_id, run_id))
        if run is None:
            return None
        if run.parent_dag_id is not None and run.parent_run_id is not None:
            dag_id, run_id = run.parent_dag_id, run.parent_run_id
            continue
        actor = session.scalar(
            select(Event.actor).where(Event.dag_id == dag_id, Event.run_id == run_id, Event.kind == "run.queued").order_by(Event.id).limit(1)
        )
        if actor is not None and actor.startswith("event:") and actor[len("event:"):].isdigit():
            posted = session.get(ExternalEvent, int(actor[len("event:"):]))
            return posted.actor if posted is not None else None
        return actor
    return None


def open_requests(session: Session, new: Sequence[NewRequest], now: datetime) -> list[ApprovalRequest]:
    """Record the requests (one per try); the caller appends their `requested_event`s."""
    if not new:
        return []
    starters: dict[tuple[str, str], str | None] = {}
    rows = []
    for n in new:
        if (n.dag_id, n.run_id) not in starters:
            starters[(n.dag_id, n.run_id)] = requester(session, n.dag_id, n.run_id)
        rows.append(ApprovalRequest(
            dag_id=n.dag_id, run_id=n.run_id, task_id=n.task_id, map_index=-1, try_number=n.try_number,
            spec=n.spec.model_dump(mode="json"), approvers=list(n.spec.approvers), requested_by=starters[(n.dag_id, n.run_id)],
            requested_at=now, state=OPEN, escalations_applied=0,
        ))
    session.add_all(rows)
    session.flush()
    return rows


def spec_of(row: ApprovalRequest) -> ApprovalSpec:
    return ApprovalSpec.model_validate(row.spec)


def _event(kind: str, row: ApprovalRequest, at: datetime, actor: str, **fields: Any) -> dict[str, Any]:
    return events.event(kind, at, dag_id=row.dag_id, run_id=row.run_id, task_id=row.task_id, map_index=row.map_index,
                        try_number=row.try_number, actor=actor, **fields)


def requested_event(row: ApprovalRequest) -> dict[str, Any]:
    spec = spec_of(row)
    return _event(EVENT_REQUESTED, row, row.requested_at, "scheduler", to_state=OPEN, payload={
        "request_id": row.id, "approvers": list(row.approvers), "min_approvals": spec.min_approvals, "requested_by": row.requested_by,
    })


def _decided(row: ApprovalRequest, outcome: tuple[Outcome, str], now: datetime, actor: str) -> dict[str, Any]:
    row.state, row.outcome, row.outcome_reason, row.decided_at = DECIDED, outcome[0].value, outcome[1], now
    return _event(EVENT_DECIDED, row, now, actor, from_state=OPEN, to_state=outcome[0].value, reason=outcome[1],
                  payload={"request_id": row.id})


def _locked(session: Session, request_id: int) -> ApprovalRequest:
    row = session.scalar(select(ApprovalRequest).where(ApprovalRequest.id == request_id).with_for_update())
    if row is None:
        raise NotFoundError(f"no approval request with id {request_id}: `orchestrator approvals list` shows the open ones")
    return row


# -- decided by users ------------------------------------------------------------------------------------
def decide(
    session: Session, request_id: int, user: User, decision: Decision, comment: str | None, delegate_to: str | None, now: datetime
) -> ApprovalRequest:
    """Record `user`'s decision on an open request whose task still waits (the rules refuse the
    others with their error), with its event; the request is decided once the decisions settle it."""
    row = _locked(session, request_id)
    if row.state != OPEN:
        raise ApprovalClosedError(f"approval request {request_id} is already {row.outcome or row.state}: {row.outcome_reason or 'nothing to decide'}")
    task = session.get(TaskInstance, (row.dag_id, row.run_id, row.task_id, row.map_index))
    if task is None or task.state != TaskState.WAITING.value or task.try_number != row.try_number:
        raise ApprovalClosedError(f"approval request {request_id} is no longer waited for: its task is {task.state if task else 'gone'}")
    spec = spec_of(row)
    casts = decisions_of(session, [row.id])[row.id]
    comment = (comment or "").strip() or None
    check_decision(spec, row.approvers, row.requested_by, casts, decider(user), decision, comment, delegate_to)
    if decision is Decision.DELEGATE:
        delegate = session.scalar(select(User).where(User.username == delegate_to, User.is_active.is_(True)))
        if delegate is None:
            raise DelegationError(f"there is no active user named {delegate_to!r} to delegate to")
    votes = votes_of(spec, row.approvers, casts, decider(user))
    cast = Cast(user.username, decision, now, comment, delegate_to if decision is Decision.DELEGATE else None, votes)
    try:
        with session.begin_nested():
            session.add(ApprovalDecision(request_id=row.id, at=now, username=cast.by, decision=decision.value, comment=comment,
                                         delegate_to=cast.delegate_to, votes=votes))
            session.flush()
    except IntegrityError:
        raise ApprovalClosedError(f"{user.username} already decided on approval request {request_id}") from None
    appended = [_event(f"approval.{decision.value}", row, now, user.username, reason=comment,
                       payload={"request_id": row.id, "comment": comment, "delegate_to": cast.delegate_to, "votes": votes,
                                "note": cast.note()})]
    ended = outcome_of(spec, row.approvers, [*casts, cast])
    if ended is not None:
        appended.append(_decided(row, ended, now, user.username))
        change_store.touch(session)  # the scheduler settles the task at its next check, not its next full poll
    events.append(session, appended)
    session.flush()
    return row


# -- escalated and settled by the scheduler ------------------------------------------------------------
def escalate_request(session: Session, request_id: int, now: datetime) -> tuple[ApprovalRequest, Escalation, list[dict[str, Any]]] | None:
    """Apply the escalation steps (and timeout) due by `now` to an open request; None if it is
    not open. Returns the row, what applied, and the events to append."""
    row = _locked(session, request_id)
    if row.state != OPEN:
        return None
    done = escalate(spec_of(row), tuple(row.approvers), row.requested_at, row.escalations_applied, now)
    appended = [
        _event(EVENT_ESCALATED, row, now, "scheduler", reason=step.describe(), payload={
            "request_id": row.id, "step": step.number, "action": step.escalate.action.value, "to": list(step.to),
            "channel": step.escalate.channel, "conn_id": step.escalate.conn_id, "url": step.escalate.url,
        })
        for step in done.steps
    ]
    row.escalations_applied = done.applied
    row.approvers = list(done.approvers)
    if done.outcome is not None:
        appended.append(_decided(row, done.outcome, now, "scheduler"))
    session.flush()
    return row, done, appended


@dataclass(frozen=True)
class Settled:
    """A decided request, its decisions, and whether its task still waits for it."""

    row: ApprovalRequest
    decisions: list[Cast]
    task_waits: bool


def decided(session: Session) -> list[Settled]:
    """The decided requests whose tasks are not settled yet."""
    rows = session.execute(
        select(ApprovalRequest, TaskInstance.state, TaskInstance.try_number)
        .outerjoin(TaskInstance, _same_task())
        .where(ApprovalRequest.state == DECIDED)
        .order_by(ApprovalRequest.id)
    ).all()
    casts = decisions_of(session, [r.id for r, _, _ in rows])
    return [Settled(r, casts[r.id], state == TaskState.WAITING.value and try_number == r.try_number) for r, state, try_number in rows]


def _same_task() -> Any:
    return (
        (TaskInstance.dag_id == ApprovalRequest.dag_id) & (TaskInstance.run_id == ApprovalRequest.run_id)
        & (TaskInstance.task_id == ApprovalRequest.task_id) & (TaskInstance.map_index == ApprovalRequest.map_index)
    )


def close(session: Session, request_ids: Iterable[int]) -> None:
    """The requests' tasks are settled (or no longer wait): nothing more can be decided."""
    for part in chunks(sorted(set(request_ids))):
        session.execute(update(ApprovalRequest).where(ApprovalRequest.id.in_(part)).values(state=CLOSED))


def close_with_runs(session: Session, runs: Collection[tuple[str, str]], ended: dict[tuple[str, str], str], now: datetime) -> list[dict[str, Any]]:
    """Close the open or decided requests of runs that ended (any terminal state): nobody can
    decide them any more. Returns their `approval.closed` events for the caller to append."""
    if not runs:
        return []
    wanted = set(runs)
    found: list[ApprovalRequest] = []
    for part in chunks(sorted({run_id for _, run_id in wanted})):
        stmt = select(ApprovalRequest).where(
            ApprovalRequest.dag_id.in_(sorted({d for d, _ in wanted})), ApprovalRequest.run_id.in_(part),
            ApprovalRequest.state.in_((OPEN, DECIDED)),
        )
        found.extend(r for r in session.scalars(stmt) if (r.dag_id, r.run_id) in wanted)
    closing = []
    for row in found:
        state = ended[(row.dag_id, row.run_id)]
        closing.append(_event(EVENT_CLOSED, row, now, "scheduler", from_state=row.state, to_state=CLOSED,
                              reason=f"the run ended {state}", payload={"request_id": row.id, "run_state": state}))
        row.state = CLOSED
    session.flush()
    return closing


def of_tasks(session: Session, tasks: Iterable[tuple[str, str, str, int]]) -> list[ApprovalRequest]:
    """The open or decided requests of these (dag_id, run_id, task_id, try_number)."""
    wanted = set(tasks)
    dag_ids = sorted({dag_id for dag_id, _, _, _ in wanted})
    rows: list[ApprovalRequest] = []
    for part in chunks(sorted({run_id for _, run_id, _, _ in wanted})):
        stmt = select(ApprovalRequest).where(
            ApprovalRequest.dag_id.in_(dag_ids), ApprovalRequest.run_id.in_(part), ApprovalRequest.state.in_((OPEN, DECIDED))
        )
        rows.extend(r for r in session.scalars(stmt) if (r.dag_id, r.run_id, r.task_id, r.try_number) in wanted)
    return rows


# -- read by the API, the CLI and the UI ------------------------------------------------------------------
def decisions_of(session: Session, request_ids: Sequence[int]) -> dict[int, list[Cast]]:
    """Each request's decisions, in the order they were made."""
    out: dict[int, list[Cast]] = {rid: [] for rid in request_ids}
    for part in chunks(list(request_ids)):
        stmt = select(ApprovalDecision).where(ApprovalDecision.request_id.in_(part)).order_by(ApprovalDecision.id)
        for d in session.scalars(stmt):
            out[d.request_id].append(Cast(d.username, Decision(d.decision), d.at, d.comment, d.delegate_to, d.votes))
    return out


@dataclass(frozen=True)
class RequestView:
    """A request as listed: its row, its decisions, and whether its task still waits for it."""

    row: ApprovalRequest
    decisions: list[Cast]
    waiting: bool


def get(session: Session, request_id: int) -> RequestView:
    row = session.get(ApprovalRequest, request_id)
    if row is None:
        raise NotFoundError(f"no approval request with id {request_id}: `orchestrator approvals list` shows the open ones")
    task = session.get(TaskInstance, (row.dag_id, row.run_id, row.task_id, row.map_index))
    waiting = task is not None and task.state == TaskState.WAITING.value and task.try_number == row.try_number
    return RequestView(row, decisions_of(session, [row.id])[row.id], waiting)


def page(
    session: Session, *, state: str | None, dag_id: str | None = None, mine: Decider | None = None, limit: int, offset: int,
    newest_first: bool = False, among: Collection[str] | None = None,
) -> tuple[list[RequestView], int]:
    """Requests, oldest first (or newest): `state` open (their tasks still wait), decided, closed,
    or None for all; `mine`: only the open ones that this user may approve now (their inbox);
    `among`: only those of these DAGs."""
    if mine is not None:
        state = OPEN
    stmt = select(ApprovalRequest, TaskInstance.state, TaskInstance.try_number).outerjoin(TaskInstance, _same_task())
    if state is not None:
        stmt = stmt.where(ApprovalRequest.state == state)
    if state == OPEN:
        stmt = stmt.where(TaskInstance.state == TaskState.WAITING.value, TaskInstance.try_number == ApprovalRequest.try_number)
    if dag_id is not None:
        stmt = stmt.where(ApprovalRequest.dag_id == dag_id)
    if among is not None:
        stmt = stmt.where(ApprovalRequest.dag_id.in_(list(among)))
    order = (ApprovalRequest.requested_at.desc(), ApprovalRequest.id.desc()) if newest_first else (ApprovalRequest.requested_at, ApprovalRequest.id)
    stmt = stmt.order_by(*order)
    if mine is None:
        total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        found = session.execute(stmt.limit(limit).offset(offset)).all()
        casts = decisions_of(session, [r.id for r, _, _ in found])
        return [RequestView(r, casts[r.id], ti_state == TaskState.WAITING.value and t == r.try_number) for r, ti_state, t in found], total
    # whom a request asks depends on roles, delegations and who started the run: decided here
    found = session.execute(stmt).all()
    casts = decisions_of(session, [r.id for r, _, _ in found])
    inbox = [RequestView(r, casts[r.id], True) for r, _, _ in found if may_approve(spec_of(r), r.approvers, r.requested_by, casts[r.id], mine)]
    return inbox[offset : offset + limit], len(inbox)
