"""orchestrator: DAG files in a folder, run on Dask, every state kept in SQLite or PostgreSQL.

The public authoring API is what this module exports.
"""

from orchestrator.context import TaskContext, get_context
from orchestrator.dag import DAG, chain
from orchestrator.plugins import get_step_type
from orchestrator.spec import DagSpec, TaskSpec
from orchestrator.states import RunState, TaskState, TriggerRule
from orchestrator.steps import HttpTask, NotifyTask, ShellTask, SqlTask
from orchestrator.tasks import BaseTask, PythonTask, XComArg, task

__all__ = [
    "DAG",
    "BaseTask",
    "DagSpec",
    "HttpTask",
    "NotifyTask",
    "PythonTask",
    "RunState",
    "ShellTask",
    "SqlTask",
    "TaskContext",
    "TaskSpec",
    "TaskState",
    "TriggerRule",
    "XComArg",
    "chain",
    "get_context",
    "get_step_type",
    "task",
]

__version__ = "0.1.0"
