"""Human approvals: the spec an ApprovalTask carries, and the pure rules of deciding and escalating.

Nothing here reads a clock or a database: the API, the CLI and the scheduler pass in what they
read (the request's approvers, the decisions so far, the time) and write what these functions say.

Approvers are usernames or `role:<role>`; roles are ranked (viewer < operator < admin), so
`role:operator` lets operators and admins decide (the caller says which roles a user's role
includes: this module imports nothing from the store, as DAG files import it). A user who delegates hands their say to another
user and cannot decide any more; the delegate may decide as if listed. Each user decides once.

Every decision carries votes: the decider's own (1, or their weight under the weighted
strategy; 0 for a delegate who is not an approver in their own right) plus the votes delegated to
them. So delegating to a co-approver never strands a quorum: the delegate's approval counts both.
A delegation that could never be cast (to a user who already decided, or to the run's starter
when self-approval is off) is refused instead.

The strategy says when approvals approve: `count` (the default) once they carry `min_approvals`
votes, `unanimous` once every named approver approved (themselves or through a delegate),
`weighted` once their weights reach `threshold`. Under every strategy the first rejection
rejects and the first request for changes sends the request back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from orchestrator.core.durations import duration_seconds
from orchestrator.core.errors import ConflictError, OrchestratorError

ROLE_PREFIX = "role:"
EVENT_REQUESTED = "approval.requested"
EVENT_ESCALATED = "approval.escalated"
EVENT_DECIDED = "approval.decided"
EVENT_CLOSED = "approval.closed"
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


class Strategy(str, Enum):
    """When approvals approve a request (see the module's docstring)."""

    COUNT = "count"
    UNANIMOUS = "unanimous"
    WEIGHTED = "weighted"

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
    strategy: Strategy = Field(default=Strategy.COUNT, description="count: min_approvals votes; unanimous: every named approver; weighted: weights reach threshold")
    weights: dict[str, float] = Field(default_factory=dict, description="weighted: an approver entry's weight (entries not named weigh 1)")
    threshold: float | None = Field(default=None, gt=0, description="weighted: the sum of approving weights that approves")

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
        self._check_strategy()
        return self

    def _check_strategy(self) -> None:
        weighted = self.strategy is Strategy.WEIGHTED
        if (self.weights or self.threshold is not None) and not weighted:
            raise ValueError("weights and threshold go with strategy 'weighted'")
        if weighted:
            if self.threshold is None:
                raise ValueError("strategy 'weighted' needs a threshold: the sum of approving weights that approves")
            for entry, weight in self.weights.items():
                if entry not in self.approvers:
                    raise ValueError(f"weights name {entry!r}, who is not one of the approvers ({', '.join(self.approvers)})")
                if not weight > 0:
                    raise ValueError(f"the weight of {entry!r} must be positive, not {weight!r}")
            if not any(a.startswith(ROLE_PREFIX) for a in self.approvers):
                total = sum(self.weights.get(a, 1.0) for a in self.approvers)
                if total < self.threshold:
                    raise ValueError(f"the threshold {self.threshold:g} is unreachable: all approvers together weigh {total:g}")
        if self.strategy is Strategy.UNANIMOUS:
            roles = [a for a in self.approvers if a.startswith(ROLE_PREFIX)]
            if roles:
                raise ValueError(f"strategy 'unanimous' needs named approvers: {roles[0]!r} names no fixed set of users")

    def needed(self) -> float:
        """The votes (or weight) that approve: what `outcome_of` counts up to."""
        if self.strategy is Strategy.WEIGHTED:
            assert self.threshold is not None
            return self.threshold
        if self.strategy is Strategy.UNANIMOUS:
            return float(max(self.min_approvals, len(set(self.approvers))))
        return float(self.min_approvals)


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
    votes: float | None = None
    """The votes it carries (own plus delegated); None on decisions recorded before votes were: 1."""

    @property
    def weight(self) -> float:
        return 1.0 if self.votes is None else self.votes

    def note(self) -> str | None:
        """What a delegation does with the delegator's votes, said to the users."""
        if self.decision is not Decision.DELEGATE:
            return None
        return f"{self.by}'s vote ({self.weight:g}) counts through {self.delegate_to}: their decision carries it"

    def as_dict(self) -> dict[str, Any]:
        return {"by": self.by, "decision": self.decision.value, "comment": self.comment, "delegate_to": self.delegate_to,
                "votes": self.weight, "note": self.note(), "at": self.at.isoformat()}


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
        # refused, not counted: these delegations hand the vote to someone who can never cast it
        if any(c.by == delegate_to for c in decisions):
            raise DelegationError(
                f"{delegate_to} already decided on this request, so your vote could never be cast through them: "
                "decide yourself or delegate to someone who has not decided"
            )
        if delegate_to == requested_by and not spec.allow_self_approval:
            raise DelegationError(
                f"{delegate_to} started this run and may not approve it, so your vote could never approve through them: "
                "delegate to someone else"
            )
    elif delegate_to:
        raise DelegationError(f"delegate_to goes with the delegate decision, not with {decision.value}")


def own_votes(spec: ApprovalSpec, approvers: Sequence[str], decider: Decider) -> float:
    """The votes the user holds in their own right: 0 unless listed; under the weighted strategy
    the largest weight among the entries that list them."""
    matching = [entry for entry in approvers if listed((entry,), decider)]
    if not matching:
        return 0.0
    if spec.strategy is Strategy.WEIGHTED:
        return max(spec.weights.get(entry, 1.0) for entry in matching)
    return 1.0


def delegated_votes(decisions: Sequence[Cast], username: str) -> float:
    """The votes handed to the user by delegations."""
    return sum(c.weight for c in decisions if c.decision is Decision.DELEGATE and c.delegate_to == username)


def votes_of(spec: ApprovalSpec, approvers: Sequence[str], decisions: Sequence[Cast], decider: Decider) -> float:
    """What the user's decision carries now: their own votes plus those delegated to them."""
    return own_votes(spec, approvers, decider) + delegated_votes(decisions, decider.username)


def represented(decisions: Sequence[Cast], username: str) -> set[str]:
    """The user and everyone whose say reached them through delegations (followed back)."""
    found, todo = {username}, [username]
    while todo:
        to = todo.pop()
        for c in decisions:
            if c.decision is Decision.DELEGATE and c.delegate_to == to and c.by not in found:
                found.add(c.by)
                todo.append(c.by)
    return found


def tally(decisions: Sequence[Cast]) -> float:
    """The votes the approvals so far carry."""
    return sum(c.weight for c in decisions if c.decision is Decision.APPROVE)


def outcome_of(spec: ApprovalSpec, approvers: Sequence[str], decisions: Sequence[Cast]) -> tuple[Outcome, str] | None:
    """How the decisions so far end the request under its strategy, with why; None while it stays open."""
    approved: list[Cast] = []
    for cast in decisions:
        said = f": {cast.comment.strip()}" if cast.comment and cast.comment.strip() else ""
        if cast.decision is Decision.REJECT:
            return Outcome.REJECTED, f"rejected by {cast.by}{said}"
        if cast.decision is Decision.REQUEST_CHANGES:
            return Outcome.CHANGES_REQUESTED, f"changes requested by {cast.by}{said}"
        if cast.decision is Decision.APPROVE:
            approved.append(cast)
            if _approves(spec, approvers, decisions, approved):
                return Outcome.APPROVED, _approved_by(spec, decisions, approved)
    return None


def _approves(spec: ApprovalSpec, approvers: Sequence[str], decisions: Sequence[Cast], approved: Sequence[Cast]) -> bool:
    if spec.strategy is Strategy.UNANIMOUS:
        voices = set().union(*(represented(decisions, c.by) for c in approved))
        return set(approvers) <= voices and tally(approved) >= spec.min_approvals
    return tally(approved) >= spec.needed()


def _approved_by(spec: ApprovalSpec, decisions: Sequence[Cast], approved: Sequence[Cast]) -> str:
    names = []
    for c in approved:
        through = sorted(represented(decisions, c.by) - {c.by})
        names.append(f"{c.by} (with {', '.join(through)}'s vote)" if through else c.by)
    why = f"approved by {', '.join(names)}"
    if spec.strategy is Strategy.WEIGHTED:
        return f"{why}: weight {tally(approved):g} of {spec.needed():g}"
    if spec.strategy is Strategy.UNANIMOUS:
        return f"{why}: unanimous"
    return why


ERROR_TYPES = {Outcome.REJECTED: "ApprovalRejected", Outcome.CHANGES_REQUESTED: "ChangesRequested", Outcome.TIMED_OUT: "ApprovalTimeout"}
"""The error type of a task that fails with the outcome, for `on_failure={"ApprovalRejected": ...}`."""


def failure(spec: ApprovalSpec, outcome: Outcome) -> str | None:
    """The error type the task fails with, or None when it succeeds with this outcome."""
    if outcome is Outcome.APPROVED or (outcome is not Outcome.TIMED_OUT and not spec.fail_on_reject):
        return None
    return ERROR_TYPES[outcome]


def result(outcome: Outcome, reason: str, decisions: Sequence[Cast], request_id: int) -> dict[str, Any]:
    """The task's result once its request is decided."""
    return {"decision": outcome.value, "reason": reason, "request_id": request_id, "decisions": [c.as_dict() for c in decisions]}
