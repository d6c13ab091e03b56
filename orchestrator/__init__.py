"""orchestrator: DAG files in a folder, run on Dask, every state kept in SQLite or PostgreSQL.

The public authoring API is what this module exports.
"""

from orchestrator.core.approvals import Escalate
from orchestrator.core.assets import AnyOf, Asset
from orchestrator.execution.context import TaskContext
from orchestrator.execution.current import get_context
from orchestrator.authoring.dag import DAG, chain, dag
from orchestrator.core.deadlines import Deadline
from orchestrator.core.dependencies import DagDependency
from orchestrator.authoring.loops import LoopGroup
from orchestrator.plugins.manager import get_step_type
from orchestrator.core.spec import DagSpec, TaskSpec
from orchestrator.authoring.state_machine import Action, State, StateMachine, Transition
from orchestrator.core.states import RunState, TaskState, TriggerRule
from orchestrator.authoring.linking import Label
from orchestrator.core.params import Param
from orchestrator.core.sensors import PokeReturnValue, TaskSkipped
from orchestrator.plugins.steps import (
    ApprovalTask, EmptyTask, HttpTask, NotifyTask, Sensor, ShellTask, SqlTask, SubDagTask, TriggerDagRunTask, WaitForEvent,
)
from orchestrator.authoring.task_group import TaskGroup
from orchestrator.authoring.tasks import BaseTask, XComArg
from orchestrator.authoring.python_tasks import BranchPythonTask, PythonTask, ShortCircuitPythonTask
from orchestrator.authoring.decorators import task
from orchestrator.core.triggers import EventTrigger
from orchestrator.execution.ambient import Variable

__all__ = [
    "DAG",
    "Action",
    "AnyOf",
    "ApprovalTask",
    "Asset",
    "BaseTask",
    "BranchPythonTask",
    "DagDependency",
    "DagSpec",
    "Deadline",
    "EmptyTask",
    "Escalate",
    "EventTrigger",
    "HttpTask",
    "Label",
    "LoopGroup",
    "NotifyTask",
    "Param",
    "PokeReturnValue",
    "PythonTask",
    "RunState",
    "Sensor",
    "State",
    "StateMachine",
    "ShortCircuitPythonTask",
    "ShellTask",
    "SqlTask",
    "SubDagTask",
    "TaskContext",
    "TaskGroup",
    "TaskSkipped",
    "TaskSpec",
    "TaskState",
    "Transition",
    "TriggerDagRunTask",
    "TriggerRule",
    "Variable",
    "WaitForEvent",
    "XComArg",
    "chain",
    "dag",
    "get_context",
    "get_step_type",
    "task",
]

__version__ = "0.1.0"
