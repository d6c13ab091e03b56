"""Human approvals: the spec an ApprovalTask carries, and the pure rules of deciding and escalating.

Nothing here reads a clock or a database: the API, the CLI and the scheduler pass in what they
read (the request's approvers, the decisions so far, the time) and write what these functions say.

Approvers are usernames or `role:<role>`; roles are ranked (viewer < operator < admin), so
`role:operator` lets operators and admins decide (the caller says which roles a user's role
includes: this module imports nothing from the store, as DAG files import it). A user who delegates hands their say to another
user and cannot decide any more; the delegate may decide as if listed. Each user decides once.
The request is approved once `min_approvals` distinct users approved, rejected by the first
rejection, and sent back by the first request for changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from orchestrator.errors import ConflictError, OrchestratorError

ROLE_PREFIX = "role:"
EVENT_REQUESTED = "approval.requested"
EVENT_ESCALATED = "approval.escalated"
EVENT_DECIDED = "approval.decided"
"""Event-log kinds of a request's life; each decision is "approval.<decision>"."""
ROLES = ("viewer", "operator", "admin")
"""The roles of orchestrator.store.users.Role, lowest first."""
MAX_COMMENT = 10_000


class Decision(str, Enum):
    """What an approver can say."""

    APPROVE = "approve"
    REJECT = "reject"
    REQUEST_CHANGES = "request_changes"
    DELEGATE = "delegate"

    def __str__(self) -> str:
        return self.value


class Outcome(str, Enum):
    """How a request ended; the task's result names it under "decision"."""

    APPROVED = "approved"
    REJECTED = "rejected"
    CHANGES_REQUESTED = "changes_requested"
    TIMED_OUT = "timed_out"

    def __str__(self) -> str:
        return self.value


class Action(str, Enum):
    """What an escalation step does once it is due."""

    NOTIFY = "notify"
    REASSIGN = "reassign"
    APPROVE = "approve"
    REJECT = "reject"

    def __str__(self) -> str:
        return self.value


# -- errors: each maps to an HTTP status in the API (403, 422, 409) ---------------------------------
class ApprovalError(OrchestratorError):
    """A decision that the request's rules refuse."""


class NotAnApproverError(ApprovalError):
    """The user is not (or no longer) one of the request's approvers."""


class SelfApprovalError(NotAnApproverError):
    """The user who started the run may not approve its request (allow_self_approval is off)."""


class CommentRequiredError(ApprovalError):
    """The request wants a comment with every decision."""


class DelegationError(ApprovalError):
    """A delegation without a valid other user to hand the decision to."""


class ApprovalClosedError(ConflictError):
    """The request is decided (or its task no longer waits), or the user already decided."""


# -- the spec -------------------------------------------------------------------------------------------
def duration_seconds(value: Any, name: str) -> float:
    """A timedelta, a number of seconds or an ISO 8601 duration, as seconds (ValueError if not)."""
    from orchestrator.durations import parse_duration

    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, str):
        seconds = parse_duration(value)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise ValueError(f"{name} must be a timedelta, a number of seconds or an ISO 8601 duration such as 'PT4H', not {value!r}")
    if seconds < 0:
        raise ValueError(f"{name} must not be negative, got {value!r}")
    return seconds


def _check_approver(entry: Any) -> str:
    if not isinstance(entry, str) or not entry.strip() or len(entry) > 150 + len(ROLE_PREFIX):
        raise ValueError(f"an approver is a username or 'role:<viewer|operator|admin>', not {entry!r}")
    if entry.startswith(ROLE_PREFIX):
        role = entry[len(ROLE_PREFIX):]
        if role not in ROLES:
            raise ValueError(f"{entry!r} names no role: use role:viewer, role:operator or role:admin")
    return entry


class Escalate(BaseModel):
    """One escalation step: `after` the request was made (a timedelta, seconds or ISO 8601), if it
    is still open, `action` happens: "notify" (tell `to`, or the approvers, through the listener
    hook `orchestrator_on_approval` and, with `channel`, a notifier), "reassign" (the approvers
    become `to`), "approve" or "reject" (the request is decided so). Steps apply in order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    after: float = Field(description="seconds after the request was made")
    action: Action
    to: tuple[str, ...] = Field(default=(), description="notify: who to tell; reassign: the new approvers")
    channel: str | None = Field(default=None, description="notify: a notifier channel (webhook, email, a plugin's) to send through")
    conn_id: str | None = Field(default=None, description="notify: the notifier's connection")
    url: str | None = Field(default=None, description="notify with the webhook channel: where to POST")

    @field_validator("after", mode="before")
    @classmethod
    def _seconds(cls, value: Any) -> float:
        return duration_seconds(value, "after")

    @field_validator("to", mode="before")
    @classmethod
    def _listed(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _fits_action(self) -> Escalate:
        if self.action is Action.REASSIGN:
            if not self.to:
                raise ValueError("a reassign step needs `to`: the usernames or roles who decide from then on")
            for entry in self.to:
                _check_approver(entry)
        if self.action in (Action.APPROVE, Action.REJECT) and (self.to or self.channel):
            raise ValueError(f"an {self.action.value} step decides the request itself: it takes no `to` or `channel`")
        if self.channel is not None and self.action is not Action.NOTIFY:
            raise ValueError("only a notify step sends through a `channel`")
        return self


class ApprovalSpec(BaseModel):
    """What an ApprovalTask asks for (kept in its TaskSpec as `wait`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["approval"] = "approval"
    approvers: tuple[str, ...] = Field(min_length=1, description="usernames, or role:<role> for every user with at least that role")
    min_approvals: int = Field(default=1, ge=1, description="distinct approvals that approve the request")
    timeout: float | None = Field(default=None, description="seconds without a decision after which the task fails")
    escalation: tuple[Escalate, ...] = ()
    allow_self_approval: bool = Field(default=False, description="whether the user who started the run may approve it")
    require_comment: bool = Field(default=False, description="whether every decision needs a comment")
    fail_on_reject: bool = Field(default=True, description="False: a rejection or change request ends the task successfully, for a branch to follow")

    @field_validator("approvers", mode="before")
    @classmethod
    def _listed(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @field_validator("approvers")
    @classmethod
    def _valid(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            _check_approver(entry)
        return value

    @field_validator("timeout", mode="before")
    @classmethod
    def _seconds(cls, value: Any) -> float | None:
        return None if value is None else duration_seconds(value, "timeout")

    @model_validator(mode="after")
    def _steps_in_order(self) -> ApprovalSpec:
        afters = [step.after for step in self.escalation]
        if afters != sorted(afters):
            raise ValueError("escalation steps apply in order: list them by `after`, earliest first")
        if self.timeout is not None and afters and afters[-1] > self.timeout:
            raise ValueError(f"an escalation step after {afters[-1]:g} s would come after the timeout ({self.timeout:g} s)")
        return self


# -- deciding -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Decider:
    """Who is deciding: a user of the store, and the roles their role includes (admin: all three)."""

    username: str
    roles: frozenset[str]


@dataclass(frozen=True)
class Cast:
    """One decision made on a request."""

    by: str
    decision: Decision
    at: datetime
    comment: str | None = None
    delegate_to: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"by": self.by, "decision": self.decision.value, "comment": self.comment, "delegate_to": self.delegate_to, "at": self.at.isoformat()}


def listed(approvers: Sequence[str], decider: Decider) -> bool:
    """Whether the approvers name the user, or a role the user's role includes."""
    for entry in approvers:
        if entry.startswith(ROLE_PREFIX):
            if entry[len(ROLE_PREFIX):] in decider.roles:
                return True
        elif entry == decider.username:
            return True
    return False


def refusal(approvers: Sequence[str], decisions: Sequence[Cast], decider: Decider) -> OrchestratorError | None:
    """The error that keeps the user from deciding on the request at all, or None if they may."""
    if any(c.by == decider.username for c in decisions):
        return ApprovalClosedError(f"{decider.username} already decided on this request")
    delegated_to = {c.delegate_to for c in decisions if c.decision is Decision.DELEGATE}
    if listed(approvers, decider) or decider.username in delegated_to:
        return None
    return NotAnApproverError(f"{decider.username} is not one of the approvers ({', '.join(approvers)})")


def may_approve(
    spec: ApprovalSpec, approvers: Sequence[str], requested_by: str | None, decisions: Sequence[Cast], decider: Decider
) -> bool:
    """Whether the request belongs in the user's inbox: they may decide, approval included."""
    if refusal(approvers, decisions, decider) is not None:
        return False
    return spec.allow_self_approval or decider.username != requested_by


def check_decision(
    spec: ApprovalSpec,
    approvers: Sequence[str],
    requested_by: str | None,
    decisions: Sequence[Cast],
    decider: Decider,
    decision: Decision,
    comment: str | None,
    delegate_to: str | None,
) -> None:
    """Raise the error that refuses this decision, if a rule does; the caller checks that a
    delegate is a user that exists."""
    refused = refusal(approvers, decisions, decider)
    if refused is not None:
        raise refused
    if decision is Decision.APPROVE and not spec.allow_self_approval and decider.username == requested_by:
        raise SelfApprovalError(f"{decider.username} started this run and may not approve it (the task does not allow self-approval)")
    if spec.require_comment and not (comment or "").strip():
        raise CommentRequiredError("this approval needs a comment with every decision")
    if decision is Decision.DELEGATE:
        if not delegate_to:
            raise DelegationError("a delegation needs delegate_to: the user who decides instead")
        if delegate_to == decider.username:
            raise DelegationError("delegate to another user, not to yourself")
    elif delegate_to:
        raise DelegationError(f"delegate_to goes with the delegate decision, not with {decision.value}")


def outcome_of(min_approvals: int, decisions: Sequence[Cast]) -> tuple[Outcome, str] | None:
    """How the decisions so far end the request, with why; None while it stays open."""
    approved: list[str] = []
    for cast in decisions:
        said = f": {cast.comment.strip()}" if cast.comment and cast.comment.strip() else ""
        if cast.decision is Decision.REJECT:
            return Outcome.REJECTED, f"rejected by {cast.by}{said}"
        if cast.decision is Decision.REQUEST_CHANGES:
            return Outcome.CHANGES_REQUESTED, f"changes requested by {cast.by}{said}"
        if cast.decision is Decision.APPROVE:
            approved.append(cast.by)
            if len(approved) >= min_approvals:
                return Outcome.APPROVED, f"approved by {', '.join(approved)}"
    return None


ERROR_TYPES = {Outcome.REJECTED: "ApprovalRejected", Outcome.CHANGES_REQUESTED: "ChangesRequested", Outcome.TIMED_OUT: "ApprovalTimeout"}
"""The error type of a task that fails with the outcome, for `on_failure={"ApprovalRejected": ...}`."""


def failure(spec: ApprovalSpec, outcome: Outcome) -> str | None:
    """The error type the task fails with, or None when it succeeds with this outcome."""
    if outcome is Outcome.APPROVED or (outcome is not Outcome.TIMED_OUT and not spec.fail_on_reject):
        return None
    return ERROR_TYPES[outcome]


# -- escalating -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    """An escalation step applied now: its position (1-based), what it says, and whom it addresses
    (notify: its `to`, or the approvers of that moment; reassign: the new approvers)."""

    number: int
    escalate: Escalate
    to: tuple[str, ...] = ()

    def describe(self) -> str:
        action = self.escalate.action
        what = {Action.NOTIFY: f"notify {', '.join(self.to)}", Action.REASSIGN: f"reassigned to {', '.join(self.to)}"}.get(action, action.value)
        return f"escalation step {self.number}: {what}"


@dataclass(frozen=True)
class Escalation:
    """What is due on an open request at some moment, in order."""

    steps: tuple[Step, ...]
    applied: int
    approvers: tuple[str, ...]
    outcome: tuple[Outcome, str] | None


def _span(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds)))


def escalate(spec: ApprovalSpec, approvers: Sequence[str], requested_at: datetime, applied: int, now: datetime) -> Escalation:
    """Apply the escalation steps due by `now` (those after the first `applied`), then the timeout.

    An approve or reject step decides the request, and nothing after it applies.
    """
    steps: list[Step] = []
    current = tuple(approvers)
    for number, step in enumerate(spec.escalation[applied:], start=applied + 1):
        if requested_at + timedelta(seconds=step.after) > now:
            break
        steps.append(Step(number, step, step.to or current if step.action in (Action.NOTIFY, Action.REASSIGN) else ()))
        if step.action is Action.REASSIGN:
            current = step.to
        elif step.action in (Action.APPROVE, Action.REJECT):
            outcome = Outcome.APPROVED if step.action is Action.APPROVE else Outcome.REJECTED
            verb = "approved" if outcome is Outcome.APPROVED else "rejected"
            why = f"{verb} by escalation step {number}: no decision within {_span(step.after)}"
            return Escalation(tuple(steps), number, current, (outcome, why))
    done = applied + len(steps)
    if spec.timeout is not None and requested_at + timedelta(seconds=spec.timeout) <= now:
        return Escalation(tuple(steps), done, current, (Outcome.TIMED_OUT, f"no decision within {_span(spec.timeout)} (the timeout)"))
    return Escalation(tuple(steps), done, current, None)


def next_due(spec: ApprovalSpec, requested_at: datetime, applied: int) -> datetime | None:
    """When the next escalation step or the timeout falls due, if ever."""
    if applied < len(spec.escalation):
        return requested_at + timedelta(seconds=spec.escalation[applied].after)
    if spec.timeout is not None:
        return requested_at + timedelta(seconds=spec.timeout)
    return None


def result(outcome: Outcome, reason: str, decisions: Sequence[Cast], request_id: int) -> dict[str, Any]:
    """The task's result once its request is decided."""
    return {"decision": outcome.value, "reason": reason, "request_id": request_id, "decisions": [c.as_dict() for c in decisions]}
