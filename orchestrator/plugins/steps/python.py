"""The core step type, PythonTask, registered through the same hook as every other step type."""

from __future__ import annotations

from orchestrator.plugins.hookspecs import hookimpl
from orchestrator.authoring.tasks import BaseTask, PythonTask


@hookimpl
def orchestrator_step_types() -> list[type[BaseTask]]:
    return [PythonTask]
