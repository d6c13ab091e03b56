"""The built-in step types, each module a plugin registered like any outside one.

`orchestrator.plugins.BUILTIN_MODULES` lists the modules; each implements
`orchestrator_step_types` (and the notify module `orchestrator_notifiers`).
"""

from __future__ import annotations

from orchestrator.steps.approval import ApprovalTask
from orchestrator.steps.empty import EmptyTask
from orchestrator.steps.http import HttpTask
from orchestrator.steps.notify import NotifyTask
from orchestrator.steps.sensor import Sensor
from orchestrator.steps.shell import ShellTask
from orchestrator.steps.sql import SqlTask
from orchestrator.steps.subdag import SubDagTask
from orchestrator.steps.trigger import TriggerDagRunTask
from orchestrator.steps.wait_event import WaitForEvent

__all__ = ["ApprovalTask", "EmptyTask", "HttpTask", "NotifyTask", "Sensor", "ShellTask", "SqlTask", "SubDagTask", "TriggerDagRunTask", "WaitForEvent"]
