"""The built-in step types, each module a plugin registered like any outside one.
They import `core`, `authoring` and `store` (the plugin layer's reach), never `execution`.

`orchestrator.plugins.manager.BUILTIN_MODULES` lists the modules; each implements
`orchestrator_step_types` (and the notify module `orchestrator_notifiers`).
"""

from __future__ import annotations

from orchestrator.plugins.steps.approval import ApprovalTask
from orchestrator.plugins.steps.empty import EmptyTask
from orchestrator.plugins.steps.http import HttpTask
from orchestrator.plugins.steps.notify import NotifyTask
from orchestrator.plugins.steps.sensor import Sensor
from orchestrator.plugins.steps.shell import ShellTask
from orchestrator.plugins.steps.sql import SqlTask
from orchestrator.plugins.steps.subdag import SubDagTask
from orchestrator.plugins.steps.trigger import TriggerDagRunTask
from orchestrator.plugins.steps.wait_event import WaitForEvent

__all__ = ["ApprovalTask", "EmptyTask", "HttpTask", "NotifyTask", "Sensor", "ShellTask", "SqlTask", "SubDagTask", "TriggerDagRunTask", "WaitForEvent"]
