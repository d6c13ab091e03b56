"""orchestrator: DAG files in a folder, run on Dask, every state kept in SQLite or PostgreSQL.

The public authoring API is what this module exports.
"""

from orchestrator.context import TaskContext, get_context
from orchestrator.dag import DAG, chain
from orchestrator.spec import DagSpec, TaskSpec
from orchestrator.states import RunState, TaskState, TriggerRule
from orchestrator.tasks import BaseTask, PythonTask, XComArg, task

__all__ = [
    "DAG",
    "BaseTask",
    "DagSpec",
    "PythonTask",
    "RunState",
    "TaskContext",
    "TaskSpec",
    "TaskState",
    "TriggerRule",
    "XComArg",
    "chain",
    "get_context",
    "task",
]

__version__ = "0.1.0"
