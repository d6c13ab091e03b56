"""Airflow's public authoring names, as thin names over this orchestrator's own model.

An Airflow 2/3 DAG file runs after one mechanical rewrite of its imports (`from airflow... import X`
to `from orchestrator.airflow import X`; `orchestrator dags check-airflow FILE` does it and says what
will not run). `DAG` takes Airflow's arguments, the operators are our step types, and TaskFlow
functions receive Airflow's context names (`ti`, `ds`, `**kwargs`). The README's migration guide
lists each name, ours beside it, and what differs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orchestrator.airflow import pendulum
from orchestrator.airflow.compat import DAG, dag
from orchestrator.airflow.decorators import UnsupportedAirflowFeature, setup, task, teardown
from orchestrator.airflow.sensors import (
    BaseSensorOperator, DateTimeSensor, ExternalTaskSensor, FileSensor, HttpSensor, PythonSensor, SqlSensor, TimeDeltaSensor,
)
from orchestrator.airflow.operators import (
    BashOperator, BranchPythonOperator, EmptyOperator, PythonOperator, ShortCircuitOperator, TriggerDagRunOperator,
)
from orchestrator.execution.context import TaskContext
from orchestrator.execution.current import get_context
from orchestrator.authoring.dag import chain
from orchestrator.authoring.linking import Label
from orchestrator.core.params import Param
from orchestrator.core.sensors import PokeReturnValue, SensorTimeout, TaskSkipped
from orchestrator.core.states import TriggerRule
from orchestrator.authoring.task_group import TaskGroup
from orchestrator.authoring.decorators import task_group
from orchestrator.authoring.tasks import BaseTask
from orchestrator.execution.ambient import Variable

BaseOperator = BaseTask
AirflowSkipException = TaskSkipped
AirflowSensorTimeout = SensorTimeout


def get_current_context() -> TaskContext:
    """The running task's context; `context["ti"]`, `context["ds"]`, ... as Airflow's."""
    return get_context()


def cross_downstream(from_tasks: Sequence[Any], to_tasks: Sequence[Any]) -> None:
    """Every task of `from_tasks` before every task of `to_tasks`."""
    for upstream in from_tasks:
        upstream >> list(to_tasks)


__all__ = [
    "DAG",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "BaseOperator",
    "BaseSensorOperator",
    "BashOperator",
    "BranchPythonOperator",
    "DateTimeSensor",
    "EmptyOperator",
    "ExternalTaskSensor",
    "FileSensor",
    "HttpSensor",
    "Label",
    "Param",
    "PokeReturnValue",
    "PythonOperator",
    "PythonSensor",
    "ShortCircuitOperator",
    "SqlSensor",
    "TaskGroup",
    "TimeDeltaSensor",
    "TriggerDagRunOperator",
    "TriggerRule",
    "UnsupportedAirflowFeature",
    "Variable",
    "chain",
    "cross_downstream",
    "dag",
    "get_current_context",
    "pendulum",
    "setup",
    "task",
    "task_group",
    "teardown",
]
