"""orchestrator: DAG files in a folder, run on Dask, every state kept in SQLite or PostgreSQL.

The public authoring API is what this module exports.
"""

from orchestrator.approvals import Escalate
from orchestrator.assets import AnyOf, Asset
from orchestrator.context import TaskContext, get_context
from orchestrator.dag import DAG, chain, dag
from orchestrator.deadlines import Deadline
from orchestrator.dependencies import DagDependency
from orchestrator.loops import LoopGroup
from orchestrator.plugins import get_step_type
from orchestrator.spec import DagSpec, TaskSpec
from orchestrator.state_machine import Action, State, StateMachine, Transition
from orchestrator.states import RunState, TaskState, TriggerRule
from orchestrator.linking import Label
from orchestrator.params import Param
from orchestrator.sensors import PokeReturnValue, TaskSkipped
from orchestrator.steps import (
    ApprovalTask, EmptyTask, HttpTask, NotifyTask, Sensor, ShellTask, SqlTask, SubDagTask, TriggerDagRunTask, WaitForEvent,
)
from orchestrator.task_group import TaskGroup
from orchestrator.tasks import BaseTask, BranchPythonTask, PythonTask, ShortCircuitPythonTask, XComArg, task
from orchestrator.triggers import EventTrigger
from orchestrator.variables import Variable

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
