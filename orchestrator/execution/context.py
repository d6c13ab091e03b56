"""The context a task sees while it runs: `get_context()` or a `context` parameter."""

from __future__ import annotations

import contextvars
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from orchestrator.core.errors import OrchestratorError
from orchestrator.core.run_data import RunData


@dataclass(frozen=True)
class TaskContext:
    """What a running task knows about itself and its run."""

    dag_id: str
    task_id: str
    run_id: str
    try_number: int
    logical_date: datetime | None
    data_interval_start: datetime | None
    data_interval_end: datetime | None
    params: dict[str, Any] = field(default_factory=dict)
    map_index: int = -1
    """For one instance of a mapped task: its index (0..n-1). -1 elsewhere."""
    exception: BaseException | None = None
    """In an on_failure / on_retry callback: what the try raised. None elsewhere."""
    routed_error: dict[str, Any] | None = None
    """In an error handler (another task's on_failure routed here): {"task_id", "error", "error_type"}
    of the failure it handles. None elsewhere."""
    run_state: str | None = None
    """In a DAG's run callback: how the run ended ("success" or "failed"). None elsewhere."""
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("orchestrator.task"))
    task: Any = field(default=None, repr=False)
    """The task object that runs (Airflow's context["task"]); None in a DAG callback."""
    upstream_results: dict[str, Any] = field(default_factory=dict, repr=False)
    """The results of the task's direct upstreams, by task_id (what `ti.xcom_pull` reads first)."""
    run_data: RunData = field(default_factory=RunData, repr=False)
    """The run's named variables: `get(key)` and `set(key, value)` (orchestrator.core.run_data)."""

    def __getitem__(self, key: str) -> Any:
        """Airflow-style `context["ds"]`, `context["ti"]`: the names of `airflow_context`, then the fields."""
        from orchestrator.execution.template_context import airflow_context

        names = airflow_context(self)
        if key in names:
            return names[key]
        if key == "logger":
            return self.log
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None

    def keys(self) -> list[str]:
        from orchestrator.execution.template_context import airflow_context

        return list(airflow_context(self))


_current: contextvars.ContextVar[TaskContext | None] = contextvars.ContextVar("orchestrator_task_context", default=None)


class NoTaskContextError(OrchestratorError):
    """get_context() was called outside a running task."""


def get_context() -> TaskContext:
    """The context of the task that is running in this thread; raises outside a task."""
    ctx = _current.get()
    if ctx is None:
        raise NoTaskContextError("get_context() works only inside a running task")
    return ctx


def current_context() -> TaskContext | None:
    """The running task's context, or None outside a task."""
    return _current.get()


def set_context(ctx: TaskContext | None) -> contextvars.Token[TaskContext | None]:
    """Make `ctx` the current task context (used by the runtime); returns a token to reset."""
    return _current.set(ctx)


def reset_context(token: contextvars.Token[TaskContext | None]) -> None:
    _current.reset(token)
