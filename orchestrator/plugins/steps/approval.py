"""ApprovalTask: a human decision as a step, and the notifications of its escalation steps.

The scheduler runs this step itself (scheduler/waits.py), never a Dask worker: the task waits
(state `waiting`, no worker slot) until its request is decided through the API, the CLI or the
Approvals page, or until an escalation step or the timeout decides it. orchestrator/core/approvals.py
holds the rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from orchestrator.authoring.tasks import BaseTask
from orchestrator.core.approvals import EVENT_ESCALATED, ApprovalSpec, Escalate
from orchestrator.core.errors import DagDefinitionError, OrchestratorError
from orchestrator.core.spec import TaskSpec
from orchestrator.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from orchestrator.execution.context import TaskContext
    from orchestrator.plugins.manager import StateEvent


def definition_error(where: str, exc: ValidationError) -> DagDefinitionError:
    """A spec's validation errors as one definition error naming each bad argument."""
    problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in exc.errors())
    return DagDefinitionError(f"{where}: {problems}")


class SchedulerRunTask(BaseTask):
    """A step the scheduler settles itself: it has no code to run, and a retry would only ask again
    (a rejection or a timeout is final; clear the task to ask again)."""

    def __init__(self, *, task_id: str, **kwargs: Any) -> None:
        if kwargs.get("retries"):
            raise DagDefinitionError(f"task {task_id!r}: a {type(self).__name__} is not retried; clear it to wait again")
        super().__init__(task_id=task_id, **kwargs)

    def execute(self, context: TaskContext, upstream_results: dict[str, Any]) -> Any:
        raise OrchestratorError(f"task {self.task_id!r}: a {type(self).__name__} is settled by the scheduler, not run on a worker")

    def wait_spec(self) -> Any:
        raise NotImplementedError

    def to_spec(self) -> TaskSpec:
        # the DAG's default_args may ask for retries: these steps have none
        return super().to_spec().model_copy(update={"wait": self.wait_spec(), "retries": 0})


class ApprovalTask(SchedulerRunTask):
    """Wait until people approve, reject or request changes (or an escalation step decides).

    `approvers`: usernames or "role:operator"-style roles; `min_approvals` distinct approvals
    approve. One rejection or change request ends the request: the task fails with it, unless
    `fail_on_reject=False`, when it succeeds and a branch downstream can follow the decision.
    The result is {"decision", "reason", "request_id", "decisions": [...]}. `timeout` (a
    timedelta, seconds or ISO 8601) fails the task when nobody decided in time; `escalation`
    steps (`Escalate`) notify, reassign, approve or reject before that. The user who started
    the run may not approve it unless `allow_self_approval`.

    `strategy`: "count" (min_approvals votes), "unanimous" (every named approver) or "weighted"
    (`weights` per approver entry, default 1, approve once they reach `threshold`). A delegation
    hands the delegator's votes to the delegate, whose decision carries both.
    """

    step_type = "approval"

    def __init__(
        self,
        *,
        task_id: str,
        approvers: str | Sequence[str],
        min_approvals: int = 1,
        timeout: timedelta | float | str | None = None,
        escalation: Sequence[Escalate | dict[str, Any]] = (),
        allow_self_approval: bool = False,
        require_comment: bool = False,
        fail_on_reject: bool = True,
        strategy: str = "count",
        weights: Mapping[str, float] | None = None,
        threshold: float | None = None,
        **kwargs: Any,
    ) -> None:
        try:
            self.spec = ApprovalSpec(
                approvers=approvers, min_approvals=min_approvals, timeout=timeout, escalation=tuple(escalation),
                allow_self_approval=allow_self_approval, require_comment=require_comment, fail_on_reject=fail_on_reject,
                strategy=strategy, weights=dict(weights or {}), threshold=threshold,
            )
        except ValidationError as exc:
            raise definition_error(f"ApprovalTask {task_id!r}", exc) from None
        super().__init__(task_id=task_id, **kwargs)

    def wait_spec(self) -> ApprovalSpec:
        return self.spec

    def args_repr(self) -> str:
        if self.spec.strategy.value == "count":
            return f"{self.spec.min_approvals} of {', '.join(self.spec.approvers)}"
        return f"{self.spec.strategy.value} of {', '.join(self.spec.approvers)}"


@hookimpl
def orchestrator_step_types() -> list[type[BaseTask]]:
    return [ApprovalTask]


@hookimpl
def orchestrator_on_approval(event: StateEvent) -> None:
    """Send the notification of an escalation step that names a channel (on the listener thread)."""
    payload = event.payload or {}
    if event.kind != EVENT_ESCALATED or payload.get("action") != "notify" or not payload.get("channel"):
        return
    from orchestrator.plugins.manager import get_notifier
    from orchestrator.plugins.steps.notify import Notification

    message = (
        f"Approval request {payload.get('request_id')} for {event.dag_id}/{event.run_id}/{event.task_id} "
        f"is still waiting: {event.reason or 'escalated'}"
    )
    get_notifier(str(payload["channel"])).send(Notification(
        message=message, subject=f"[orchestrator] approval waiting: {event.dag_id}/{event.task_id}", to=tuple(payload.get("to") or ()),
        conn_id=payload.get("conn_id"), url=payload.get("url"), data={"request_id": payload.get("request_id")},
        dag_id=event.dag_id, run_id=event.run_id, task_id=event.task_id,
    ))
