"""Escalating an approval nobody decided: the steps of its escalation and when the next one is due. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from orchestrator.core.approvals import Action, ApprovalSpec, Escalate, Outcome


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
