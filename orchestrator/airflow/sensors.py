"""Airflow's sensors as thin names over our `Sensor` (orchestrator/plugins/steps/sensor.py).

Each takes Airflow's arguments and says what its poke checks; `mode`, `poke_interval`, `timeout`,
`soft_fail`, `exponential_backoff`, `max_wait` and `deferrable` are our Sensor's own. Those that
can wait without a worker name a trigger (orchestrator.execution.async_triggers): FileSensor a file,
TimeDeltaSensor and DateTimeSensor a time, HttpSensor an HTTP answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from orchestrator.airflow.compat import task_kwargs
from orchestrator.core.errors import DagDefinitionError, OrchestratorError
from orchestrator.core.sensors import PokeReturnValue, TaskSkipped
from orchestrator.execution.async_triggers import matching_paths
from orchestrator.plugins.steps.http import HttpStatusError, request, target
from orchestrator.plugins.steps.sensor import Sensor
from orchestrator.plugins.steps.sql import run_statement

if TYPE_CHECKING:
    from orchestrator.execution.context import TaskContext

log = logging.getLogger("orchestrator.task")

SENSOR_ARGS = ("mode", "poke_interval", "timeout", "soft_fail", "exponential_backoff", "max_wait", "deferrable")


class ExternalTaskFailed(OrchestratorError):
    """The run (or task) an ExternalTaskSensor waits for ended in one of its failed_states."""


class BaseSensorOperator(Sensor):
    """Airflow's base class: subclass it and override `poke(context)`; Airflow's task arguments
    are taken (`owner`, `retries`, callbacks ...), those without meaning here kept aside."""

    def __init__(self, *, task_id: str, python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> None:
        sensing = {k: kwargs.pop(k) for k in SENSOR_ARGS if k in kwargs}
        ours, ignored = task_kwargs(kwargs, f"task {task_id!r}")
        if python_callable is not None:
            ours.setdefault("context_kwargs", True)
        super().__init__(task_id=task_id, python_callable=python_callable, **sensing, **ours)
        self.ignored_airflow_args = ignored


class PythonSensor(BaseSensorOperator):
    """Pokes `python_callable(*op_args, **op_kwargs)`: a truthy answer (or a done PokeReturnValue) ends the wait."""

    def __init__(self, *, task_id: str, python_callable: Callable[..., Any], **kwargs: Any) -> None:
        if not callable(python_callable):
            raise DagDefinitionError(f"task {task_id!r}: python_callable must be callable, got {python_callable!r}")
        super().__init__(task_id=task_id, python_callable=python_callable, **kwargs)


class FileSensor(BaseSensorOperator):
    """Waits until `filepath` (a glob works; `recursive` for `**`) names an existing file or
    directory; its result is the first path found."""

    template_fields = ("filepath",)

    def __init__(self, *, task_id: str, filepath: str, fs_conn_id: str = "fs_default", recursive: bool = False, **kwargs: Any) -> None:
        if not isinstance(filepath, str) or not filepath:
            raise DagDefinitionError(f"task {task_id!r}: filepath must be a path, not {filepath!r}")
        super().__init__(task_id=task_id, **kwargs)
        self.filepath = filepath
        self.recursive = bool(recursive)
        if fs_conn_id != "fs_default":
            self.ignored_airflow_args["fs_conn_id"] = fs_conn_id

    def poke(self, context: TaskContext) -> PokeReturnValue:
        found = matching_paths(self.filepath, self.recursive)
        context.log.info("poking for %s: %s", self.filepath, found[0] if found else "not there")
        return PokeReturnValue(bool(found), found[0] if found else None)

    def args_repr(self) -> str:
        return self.filepath

    def defer_trigger(self) -> tuple[str, dict[str, Any]]:
        return "file", {"path": self.filepath, "recursive": self.recursive, "poll_s": self.sensor.poke_interval_s}


class TimeDeltaSensor(BaseSensorOperator):
    """Waits until `delta` after the run's data interval end (its logical date for a manual run)."""

    def __init__(self, *, task_id: str, delta: timedelta, **kwargs: Any) -> None:
        if not isinstance(delta, timedelta):
            raise DagDefinitionError(f"task {task_id!r}: delta must be a timedelta, not {delta!r}")
        super().__init__(task_id=task_id, **kwargs)
        self.delta = delta

    def poke(self, context: TaskContext) -> PokeReturnValue:
        base = context.data_interval_end or context.logical_date or datetime.now(UTC)
        target = base + self.delta
        context.log.info("waiting until %s", target.isoformat())
        return PokeReturnValue(datetime.now(UTC) >= target, target.isoformat())

    def args_repr(self) -> str:
        return f"data interval end + {self.delta}"

    def defer_trigger(self) -> tuple[str, dict[str, Any]]:
        return "time", {"delta_s": self.delta.total_seconds()}


class DateTimeSensor(BaseSensorOperator):
    """Waits until `target_time` (a datetime, or an ISO 8601 string that may be a template)."""

    template_fields = ("target_time",)

    def __init__(self, *, task_id: str, target_time: datetime | str, **kwargs: Any) -> None:
        if isinstance(target_time, datetime):
            target_time = (target_time if target_time.tzinfo else target_time.replace(tzinfo=UTC)).isoformat()
        if not isinstance(target_time, str):
            raise DagDefinitionError(f"task {task_id!r}: target_time must be a datetime or an ISO 8601 string, not {target_time!r}")
        super().__init__(task_id=task_id, **kwargs)
        self.target_time = target_time

    def poke(self, context: TaskContext) -> PokeReturnValue:
        target = datetime.fromisoformat(self.target_time)
        target = target if target.tzinfo else target.replace(tzinfo=UTC)
        context.log.info("waiting until %s", target.isoformat())
        return PokeReturnValue(datetime.now(UTC) >= target, target.isoformat())

    def args_repr(self) -> str:
        return self.target_time

    def defer_trigger(self) -> tuple[str, dict[str, Any]]:
        return "time", {"moment": self.target_time}


class ExternalTaskSensor(BaseSensorOperator):
    """Waits for another DAG's run at the same logical date (shifted by `execution_delta`, or given
    by `execution_date_fn(logical_date)`): its tasks `external_task_id(s)`, or the whole run, in
    `allowed_states` (default success). One in `failed_states` fails the sensor (skips it with soft_fail)."""

    def __init__(
        self, *, task_id: str, external_dag_id: str, external_task_id: str | None = None,
        external_task_ids: Sequence[str] | None = None, allowed_states: Sequence[str] | None = None,
        failed_states: Sequence[str] | None = None, execution_delta: timedelta | None = None,
        execution_date_fn: Callable[..., datetime] | None = None, check_existence: bool = False, **kwargs: Any,
    ) -> None:
        if external_task_id is not None and external_task_ids is not None:
            raise DagDefinitionError(f"task {task_id!r}: give external_task_id or external_task_ids, not both")
        if execution_delta is not None and execution_date_fn is not None:
            raise DagDefinitionError(f"task {task_id!r}: give execution_delta or execution_date_fn, not both")
        super().__init__(task_id=task_id, **kwargs)
        self.external_dag_id = external_dag_id
        self.external_task_ids = [external_task_id] if external_task_id is not None else list(external_task_ids or [])
        self.allowed_states = list(allowed_states or ["success"])
        self.failed_states = list(failed_states or [])
        self.execution_delta = execution_delta
        self.execution_date_fn = execution_date_fn
        if check_existence:
            self.ignored_airflow_args["check_existence"] = check_existence

    def poke(self, context: TaskContext) -> bool:
        from orchestrator.execution.ambient import external_states

        if context.logical_date is None:
            raise OrchestratorError(f"task {self.task_id!r}: the run has no logical date to match {self.external_dag_id}'s run by")
        when = context.logical_date - (self.execution_delta or timedelta())
        if self.execution_date_fn is not None:
            when = self.execution_date_fn(context.logical_date)
        run_state, task_states = external_states(self.external_dag_id, when, self.external_task_ids)
        states = [task_states.get(t) for t in self.external_task_ids] if self.external_task_ids else [run_state]
        what = f"{self.external_dag_id}" + (f".{','.join(self.external_task_ids)}" if self.external_task_ids else "")
        context.log.info("%s at %s: %s", what, when.isoformat(), ", ".join(str(s) for s in states))
        failed = [s for s in states if s in self.failed_states]
        if failed:
            error = f"{what} at {when.isoformat()} is {failed[0]}, one of failed_states {self.failed_states}"
            if self.sensor.soft_fail:
                raise TaskSkipped(error)
            raise ExternalTaskFailed(error)
        return all(s in self.allowed_states for s in states)

    def args_repr(self) -> str:
        return self.external_dag_id + (f".{','.join(self.external_task_ids)}" if self.external_task_ids else "")


class HttpSensor(BaseSensorOperator):
    """Waits until `method` on `endpoint` (on the connection `http_conn_id`) answers 2xx and
    `response_check(response)` (if given) is true; a 404 means not yet, other errors fail the poke.
    Deferrable without a response_check (a 2xx ends the wait)."""

    template_fields = ("endpoint", "request_params", "headers")

    def __init__(
        self, *, task_id: str, endpoint: str, http_conn_id: str | None = "http_default", method: str = "GET",
        request_params: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None,
        response_check: Callable[..., Any] | None = None, extra_options: Mapping[str, Any] | None = None, **kwargs: Any,
    ) -> None:
        if http_conn_id is None and not endpoint.startswith(("http://", "https://")):
            raise DagDefinitionError(f"task {task_id!r}: without http_conn_id, endpoint must be a full http(s):// URL, not {endpoint!r}")
        if response_check is not None and kwargs.get("deferrable"):
            raise DagDefinitionError(
                f"task {task_id!r}: a deferrable HttpSensor cannot run a response_check (the scheduler waits for a 2xx answer "
                "without running DAG code); drop response_check, or use mode='reschedule'"
            )
        super().__init__(task_id=task_id, conn_id=http_conn_id, **kwargs)
        self.endpoint = endpoint
        self.method = method.upper()
        self.request_params = dict(request_params or {})
        self.headers = dict(headers or {})
        self.response_check = response_check
        if extra_options:
            self.ignored_airflow_args["extra_options"] = dict(extra_options)

    def poke(self, context: TaskContext) -> PokeReturnValue:
        url, conn_headers = target(self.conn_id, self.endpoint)
        response = request(self.method, url, headers={**conn_headers, **self.headers}, params=self.request_params, timeout_s=30.0)
        context.log.info("%s %s -> %d", self.method, url, response.status)
        if response.status == 404:
            return PokeReturnValue(False)
        if not 200 <= response.status < 300:
            raise HttpStatusError(self.method, url, response.status, response.text[:2000])
        if self.response_check is not None:
            return PokeReturnValue(bool(self.response_check(response)), response.value())
        return PokeReturnValue(True, response.value())

    def args_repr(self) -> str:
        return f"{self.method} {self.endpoint}"

    def defer_trigger(self) -> tuple[str, dict[str, Any]]:
        return "http", {
            "conn_id": self.conn_id, "endpoint": self.endpoint, "method": self.method, "params": self.request_params,
            "headers": self.headers, "poll_s": self.sensor.poke_interval_s,
        }


class SqlSensor(BaseSensorOperator):
    """Runs `sql` on `conn_id` until the first cell of its first row passes `success` (default:
    truthy); `failure(cell)` true fails the sensor, and so does no row with `fail_on_empty`."""

    template_fields = ("sql", "parameters")

    def __init__(
        self, *, task_id: str, conn_id: str, sql: str, parameters: Mapping[str, Any] | None = None,
        success: Callable[[Any], Any] | None = None, failure: Callable[[Any], Any] | None = None, fail_on_empty: bool = False,
        **kwargs: Any,
    ) -> None:
        if not isinstance(sql, str) or not sql.strip():
            raise DagDefinitionError(f"task {task_id!r}: sql must be a non-empty statement")
        super().__init__(task_id=task_id, conn_id=conn_id, **kwargs)
        self.sql = sql
        self.parameters = dict(parameters or {})
        self.success, self.failure, self.fail_on_empty = success, failure, fail_on_empty

    def poke(self, context: TaskContext) -> PokeReturnValue:
        assert self.conn_id is not None
        rows = run_statement(self.conn_id, self.sql, self.parameters, 1)
        if not isinstance(rows, list) or not rows:
            if self.fail_on_empty:
                raise OrchestratorError(f"task {self.task_id!r}: the query returned no row (fail_on_empty=True)")
            return PokeReturnValue(False)
        first = next(iter(rows[0].values()), None)
        if self.failure is not None and self.failure(first):
            raise OrchestratorError(f"task {self.task_id!r}: failure({first!r}) is true")
        done = bool(self.success(first)) if self.success is not None else bool(first)
        return PokeReturnValue(done, first)

    def args_repr(self) -> str:
        return self.sql[:2000]
