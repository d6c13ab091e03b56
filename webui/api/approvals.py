"""/approvals: the requests ApprovalTasks wait for, each user's inbox, and their decisions.

Any user may list requests and decide; the request's rules say who may decide what
(orchestrator/core/approvals.py): not an approver (or the run's starter approving) is 403, a missing
comment or a bad delegation 422, a request already decided (or decided by this user) 409.
Every decision is an event of the run and is audited.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints
from pydantic.json_schema import SkipJsonSchema
from sqlalchemy.orm import Session

from orchestrator.core.approval_escalation import next_due
from orchestrator.core.approvals import MAX_COMMENT, CommentRequiredError, Decider, Decision, DelegationError, NotAnApproverError, may_approve, refusal, tally
from orchestrator.store import approvals as approval_store
from orchestrator.store.approvals import RequestView
from orchestrator.store.models import User
from orchestrator.store.permissions import DagPermission
from orchestrator.store.users import Role
from webui.access import readable_dag_ids, require_dag
from webui.api.endpoint import endpoint
from webui.api.schemas import DagId, Input, Page, PageQuery
from webui.auth import audit, current_identity
from webui.errors import ApiError
from webui.state import publishing_session, web_state

MAX_ID = 2**63 - 1
Username = Annotated[str, StringConstraints(min_length=1, max_length=150, pattern=r"^[^\x00]+$")]
Comment = Annotated[str, StringConstraints(max_length=MAX_COMMENT, pattern=r"^[^\x00]*$")]


class ApprovalQuery(PageQuery):
    mine: bool = Field(default=False, description="only the open requests that the caller may approve now (their inbox)")
    state: Literal["open", "decided", "closed", "all"] = Field(
        default="open", description="open: their tasks still wait; decided: about to be settled; closed: settled"
    )
    dag_id: DagId | SkipJsonSchema[None] = Field(default=None, description="only requests of this DAG")


class ApprovalPath(Input):
    id: int = Field(ge=1, le=MAX_ID)


class DecisionIn(Input):
    decision: Decision = Field(description="approve, reject, request_changes, or delegate (to delegate_to)")
    comment: Comment | None = Field(default=None, description="why; required when the task asks for comments")
    delegate_to: Username | None = Field(default=None, description="with delegate: the user who decides instead")


class DecisionOut(BaseModel):
    by: str
    decision: str
    comment: str | None
    delegate_to: str | None
    votes: float = Field(description="the votes the decision carries: the decider's own plus those delegated to them")
    note: str | None = Field(description="a delegation: that the delegator's vote counts through the delegate")
    at: datetime


class ApprovalOut(BaseModel):
    id: int
    dag_id: str
    run_id: str
    task_id: str
    try_number: int
    approvers: list[str] = Field(description="usernames and role:<role> who decide now (escalation may have reassigned)")
    min_approvals: int
    approvals: int = Field(description="distinct approvals so far")
    strategy: str = Field(description="count, unanimous or weighted: when approvals approve")
    votes: float = Field(description="the votes (weighted: the weight) the approvals so far carry, delegated votes included")
    votes_needed: float = Field(description="the votes that approve: min_approvals, the number of named approvers, or the threshold")
    allow_self_approval: bool
    require_comment: bool
    requested_by: str | None = Field(description="who started the run (may not approve it unless self-approval is allowed)")
    requested_at: datetime
    state: str = Field(description="open, decided or closed")
    waiting: bool = Field(description="whether its task still waits for it")
    outcome: str | None = Field(description="approved, rejected, changes_requested or timed_out once decided")
    outcome_reason: str | None
    decided_at: datetime | None
    escalations_applied: int
    next_escalation_at: datetime | None = Field(description="when the next escalation step or the timeout falls due, while open")
    can_approve: bool = Field(description="whether the caller may approve it now")
    decisions: list[DecisionOut]


def _now() -> datetime:
    return datetime.now(UTC)


def _caller(s: Session) -> User:
    ident = current_identity()
    user = s.get(User, ident.user_id) if ident is not None else None
    if user is None:
        raise ApiError(401, "unauthorized", "log in or send 'Authorization: Bearer <token>'")
    return user


def _out(view: RequestView, me: Decider) -> ApprovalOut:
    row, spec = view.row, approval_store.spec_of(view.row)
    is_open = row.state == approval_store.OPEN and view.waiting
    return ApprovalOut(
        id=row.id, dag_id=row.dag_id, run_id=row.run_id, task_id=row.task_id, try_number=row.try_number, approvers=list(row.approvers),
        min_approvals=spec.min_approvals, approvals=sum(c.decision is Decision.APPROVE for c in view.decisions),
        strategy=spec.strategy.value, votes=tally(view.decisions), votes_needed=spec.needed(),
        allow_self_approval=spec.allow_self_approval, require_comment=spec.require_comment, requested_by=row.requested_by,
        requested_at=row.requested_at, state=row.state, waiting=view.waiting, outcome=row.outcome, outcome_reason=row.outcome_reason,
        decided_at=row.decided_at, escalations_applied=row.escalations_applied,
        next_escalation_at=next_due(spec, row.requested_at, row.escalations_applied) if is_open else None,
        can_approve=is_open and may_approve(spec, row.approvers, row.requested_by, view.decisions, me),
        decisions=[
            DecisionOut(by=c.by, decision=c.decision.value, comment=c.comment, delegate_to=c.delegate_to, votes=c.weight, note=c.note(), at=c.at)
            for c in view.decisions
        ],
    )


def _may_decide(path: ApprovalPath) -> None:
    """403 before the decision is even read: the caller may not read the request's DAG, or is not
    one of its approvers (404 when there is no such request)."""
    with web_state().read_sessions() as s:
        view = approval_store.get(s, path.id)
        require_dag(view.row.dag_id, DagPermission.READ)
        refused = refusal(view.row.approvers, view.decisions, approval_store.decider(_caller(s)))
    if isinstance(refused, NotAnApproverError):
        raise ApiError(403, "forbidden", str(refused))


@endpoint("GET", "/approvals", summary="List approval requests", tag="approvals", role=Role.VIEWER, query=ApprovalQuery, response=Page[ApprovalOut])
def list_approvals(query: ApprovalQuery) -> Page[ApprovalOut]:
    """Approval requests, oldest first: open ones by default; `mine=true` is the caller's inbox."""
    with web_state().read_sessions() as s:
        me = approval_store.decider(_caller(s))
        views, total = approval_store.page(
            s, state=None if query.state == "all" else query.state, dag_id=query.dag_id, mine=me if query.mine else None,
            limit=query.limit, offset=query.offset, among=readable_dag_ids(s),
        )
        return Page[ApprovalOut](items=[_out(v, me) for v in views], total=total)


@endpoint("GET", "/approvals/{id}", summary="Get an approval request", tag="approvals", role=Role.VIEWER, path_model=ApprovalPath, response=ApprovalOut)
def get_approval(path: ApprovalPath) -> ApprovalOut:
    """One request with its decisions."""
    with web_state().read_sessions() as s:
        view = approval_store.get(s, path.id)
        require_dag(view.row.dag_id, DagPermission.READ)
        return _out(view, approval_store.decider(_caller(s)))


@endpoint(
    "POST", "/approvals/{id}/decisions", summary="Decide on an approval request", tag="approvals", role=Role.VIEWER,
    path_model=ApprovalPath, authorize=_may_decide, body=DecisionIn, body_required=True, response=ApprovalOut, status=201,
    conflicts=True,
)
def decide(path: ApprovalPath, body: DecisionIn) -> ApprovalOut:
    """Approve, reject, request changes or delegate, as the caller. The scheduler settles the task
    once the decisions decide the request (min_approvals approvals, or one rejection or change request)."""
    try:
        with publishing_session() as s:
            user = _caller(s)
            row = approval_store.decide(s, path.id, user, body.decision, body.comment, body.delegate_to, _now())
            audit(s, "approval.decide", f"approval:{row.id}", {
                "decision": body.decision.value, "delegate_to": body.delegate_to, "dag_id": row.dag_id, "run_id": row.run_id, "task_id": row.task_id,
            })
            return _out(approval_store.get(s, row.id), approval_store.decider(user))
    except NotAnApproverError as exc:
        raise ApiError(403, "forbidden", str(exc)) from None
    except (CommentRequiredError, DelegationError) as exc:
        field = "comment" if isinstance(exc, CommentRequiredError) else "delegate_to"
        raise ApiError(422, "validation_error", str(exc), [{"loc": ["body", field], "msg": str(exc), "type": "value_error"}]) from None
