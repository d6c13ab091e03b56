"""EmptyTask: a step that does nothing, for joins and structure (Airflow's EmptyOperator)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator.authoring.tasks import BaseTask
from orchestrator.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from orchestrator.execution.context import TaskContext


class EmptyTask(BaseTask):
    """Succeeds at once with no result; with a trigger rule it is a join (`none_failed_min_one_success`
    after a branch)."""

    step_type = "empty"

    def execute(self, context: TaskContext, upstream_results: dict[str, Any]) -> None:
        return None


@hookimpl
def orchestrator_step_types() -> list[type[BaseTask]]:
    return [EmptyTask]
