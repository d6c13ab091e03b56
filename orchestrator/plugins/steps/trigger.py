"""TriggerDagRunTask: start a run of another DAG, and with `wait` end as that run ends.

The scheduler runs this step itself (scheduler/child_runs.py), never a Dask worker: a task that
waits hours for its child run holds no worker slot. The child run is of type "triggered" and links
back to the task that started it; its run_id is derived from the parent run, task and try, so a
scheduler restart never starts a second child for the same try.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from orchestrator.authoring.tasks import BaseTask
from orchestrator.core.dependencies import TriggerSpec
from orchestrator.core.errors import DagDefinitionError, OrchestratorError
from orchestrator.core.spec import TaskSpec
from orchestrator.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from orchestrator.execution.context import TaskContext


class TriggerDagRunTask(BaseTask):
    """Start a run of `dag_id` with `conf`. Without `wait` the task succeeds once the run is created;
    with `wait` it succeeds or fails with that run. Its result is {"dag_id", "run_id"} of the child.

    An unknown (or deleted) `dag_id` fails the task; a paused one gets a run that starts when it
    is unpaused. Clearing the task starts a new child run.
    """

    step_type = "trigger_dag_run"

    def __init__(self, *, task_id: str, dag_id: str, conf: dict[str, Any] | None = None, wait: bool = False, **kwargs: Any) -> None:
        super().__init__(task_id=task_id, **kwargs)
        owner = self.dag.dag_id if self.dag is not None else "?"
        where = f"DAG {owner!r}, task {task_id!r}"
        if not isinstance(dag_id, str) or not dag_id:
            raise DagDefinitionError(f"{where}: dag_id must name the DAG to trigger, not {dag_id!r}")
        if conf is not None and not isinstance(conf, dict):
            raise DagDefinitionError(f"{where}: conf must be a dict, not {type(conf).__name__}")
        try:
            json.dumps(conf or {})
        except (TypeError, ValueError) as exc:
            raise DagDefinitionError(f"{where}: conf must be JSON (strings, numbers, lists, dicts): {exc}") from None
        if not isinstance(wait, bool):
            raise DagDefinitionError(f"{where}: wait must be True or False, not {wait!r}")
        self.trigger = TriggerSpec(dag_id=dag_id, conf=dict(conf or {}), wait=wait)

    def execute(self, context: TaskContext, upstream_results: dict[str, Any]) -> Any:
        raise OrchestratorError(f"task {self.task_id!r}: a TriggerDagRunTask is run by the scheduler, not on a worker")

    def args_repr(self) -> str:
        return repr(self.trigger.model_dump())[:2000]

    def to_spec(self) -> TaskSpec:
        return super().to_spec().model_copy(update={"trigger": self.trigger})


@hookimpl
def orchestrator_step_types() -> list[type[BaseTask]]:
    return [TriggerDagRunTask]
