"""The core step type, PythonTask, registered through the same hook as every other step type."""

from __future__ import annotations

from orchestrator.hookspecs import hookimpl
from orchestrator.tasks import BaseTask, PythonTask


@hookimpl
def orchestrator_step_types() -> list[type[BaseTask]]:
    return [PythonTask]
