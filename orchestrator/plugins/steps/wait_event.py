"""WaitForEvent: a step that waits (no worker slot) for an outside event posted through the events API."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from pydantic import ValidationError

from orchestrator.authoring.tasks import BaseTask
from orchestrator.core.event_waits import EventWaitSpec
from orchestrator.plugins.hookspecs import hookimpl
from orchestrator.plugins.steps.approval import SchedulerRunTask, definition_error


class WaitForEvent(SchedulerRunTask):
    """Wait for an event of `type` (a glob such as "invoice.*" works too) posted through
    `POST /api/v1/events` after the task began to wait, and for which `match` (JMESPath over
    {"type", "payload", "id", "params"}, e.g. "payload.invoice_id == params.invoice_id") is true.

    The result is the event's payload. `timeout` (a timedelta, seconds or ISO 8601) fails the
    task when no such event came in time. The task id defaults to "wait_for_<type>".
    """

    step_type = "wait_for_event"

    def __init__(
        self, type: str, *, task_id: str | None = None, match: str | None = None, timeout: timedelta | float | str | None = None, **kwargs: Any
    ) -> None:
        try:
            self.spec = EventWaitSpec(type=type, match=match, timeout=timeout)
        except ValidationError as exc:
            raise definition_error(f"WaitForEvent({type!r})", exc) from None
        if task_id is None:
            from orchestrator.authoring.dag import current_dag

            base = "wait_for_" + re.sub(r"[^\w.\-]", "_", type)
            dag = kwargs.get("dag") or current_dag()
            task_id = dag.unique_task_id(base) if dag is not None else base
        super().__init__(task_id=task_id, **kwargs)

    def wait_spec(self) -> EventWaitSpec:
        return self.spec

    def args_repr(self) -> str:
        return self.spec.type + (f" where {self.spec.match}" if self.spec.match else "")


@hookimpl
def orchestrator_step_types() -> list[type[BaseTask]]:
    return [WaitForEvent]
