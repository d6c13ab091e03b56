"""orchestrator: DAG files in a folder, run on Dask, every state kept in SQLite or PostgreSQL.

The public authoring API is what this module exports.
"""

from orchestrator.assets import AnyOf, Asset
from orchestrator.context import TaskContext, get_context
from orchestrator.dag import DAG, chain
from orchestrator.dependencies import DagDependency
from orchestrator.plugins import get_step_type
from orchestrator.spec import DagSpec, TaskSpec
from orchestrator.states import RunState, TaskState, TriggerRule
from orchestrator.steps import HttpTask, NotifyTask, ShellTask, SqlTask, TriggerDagRunTask
from orchestrator.tasks import BaseTask, PythonTask, XComArg, task
from orchestrator.triggers import EventTrigger

__all__ = [
    "DAG",
    "AnyOf",
    "Asset",
    "BaseTask",
    "DagDependency",
    "DagSpec",
    "EventTrigger",
    "HttpTask",
    "NotifyTask",
    "PythonTask",
    "RunState",
    "ShellTask",
    "SqlTask",
    "TaskContext",
    "TaskSpec",
    "TaskState",
    "TriggerDagRunTask",
    "TriggerRule",
    "XComArg",
    "chain",
    "get_context",
    "get_step_type",
    "task",
]

__version__ = "0.1.0"
