"""The context a task sees while it runs: `get_context()` or a `context` parameter."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

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
        names = self.airflow_names()
        if key in names:
            return names[key]
        if key == "logger":
            return self.log
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None

    def keys(self) -> list[str]:
        return list(self.airflow_names())

    def airflow_names(self) -> dict[str, Any]:
        """Airflow's context names for this try (`ds`, `ti`, `params`, ...), as a templated field sees them."""
        from orchestrator.execution.template_context import airflow_context

        return airflow_context(self)


