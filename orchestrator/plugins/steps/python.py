"""The core step type, PythonTask, registered through the same hook as every other step type."""

from __future__ import annotations

from orchestrator.authoring.python_tasks import PythonTask
from orchestrator.authoring.tasks import BaseTask
from orchestrator.plugins.hookspecs import hookimpl


@hookimpl
def orchestrator_step_types() -> list[type[BaseTask]]:
    return [PythonTask]
