"""What a running task's templates and Airflow-style callables see: Airflow's context names.

`airflow_context(ctx)` gives ds, ds_nodash, ts, ts_nodash, logical_date, data_interval_start/end,
params, run_id, dag, task, ti / task_instance (xcom_pull, xcom_push), dag_run, map_index,
try_number, macros (ds_add, ds_format, datetime, timedelta, ...), var (var.value.KEY,
var.json.KEY) and conn (conn.ID). `render_task` renders a task's `template_fields` with them.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from orchestrator.core.connections import (
    Connection,
    ConnectionNotFoundError,
    current_masker,
    from_env,
    get_connection,
    note_secret,
)
from orchestrator.core.errors import OrchestratorError
from orchestrator.core.templating import MACROS, render_nested

if TYPE_CHECKING:
    from orchestrator.execution.context import TaskContext


# -- var and conn ------------------------------------------------------------------------------------
class _Variables:
    """`var.value.KEY` (text) or `var.json.KEY` (its JSON value); `.get(KEY, default)` too."""

    def __init__(self, as_json: bool) -> None:
        self._json = as_json

    def get(self, key: str, default_var: Any = None) -> Any:
        from orchestrator.execution.ambient import Variable

        return Variable.get(key, default_var=default_var, deserialize_json=self._json)

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        from orchestrator.execution.ambient import Variable

        return Variable.get(key, deserialize_json=self._json)


class _Connections:
    """`conn.ID`: the connection given to the task, else from ORCH_CONN_ID, else from the database."""

    def get(self, conn_id: str) -> Connection:
        return self.__getattr__(conn_id)

    def __getattr__(self, conn_id: str) -> Connection:
        if conn_id.startswith("_"):
            raise AttributeError(conn_id)
        try:
            conn = get_connection(conn_id)
        except ConnectionNotFoundError:
            conn = from_env(conn_id) or _stored_connection(conn_id)
        for secret in conn.secret_values():
            note_secret(secret)
        return conn


def _stored_connection(conn_id: str) -> Connection:
    from orchestrator.execution.ambient import open_store, store_session
    from orchestrator.store import connections as connection_store

    open_store()
    with store_session(f"conn.{conn_id}") as (session, f):
        found = connection_store.find(session, conn_id, f)
    if found is None:
        raise ConnectionNotFoundError(f"connection {conn_id!r} is not defined (environment ORCH_CONN_..., or `orchestrator connections add`)")
    return found


# -- ti and dag_run ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class DagRunInfo:
    """Airflow's `dag_run` as a task sees it. `conf` is the run's params: the DAG's params with the
    run's conf over them (Airflow's is the conf alone)."""

    dag_id: str
    run_id: str
    conf: dict[str, Any]
    logical_date: datetime | None
    data_interval_start: datetime | None
    data_interval_end: datetime | None

    @property
    def run_type(self) -> str:
        return self.run_id.split("__", 1)[0] if "__" in self.run_id else "manual"

    @property
    def execution_date(self) -> datetime | None:
        return self.logical_date


class XComError(OrchestratorError):
    """An xcom_pull or xcom_push that cannot be done as asked."""


class TaskInstanceInfo:
    """Airflow's `ti`: who the try is, and `xcom_pull` / `xcom_push`."""

    def __init__(self, ctx: TaskContext) -> None:
        self._ctx = ctx
        self.dag_id = ctx.dag_id
        self.task_id = ctx.task_id
        self.run_id = ctx.run_id
        self.map_index = ctx.map_index
        self.try_number = ctx.try_number
        self.task = ctx.task
        self.log = ctx.log
        self.dag_run = _dag_run(ctx)

    def xcom_pull(
        self, task_ids: str | list[str] | None = None, key: str = "return_value", *, dag_id: str | None = None,
        default: Any = None, map_indexes: Any = None, include_prior_dates: bool = False,
    ) -> Any:
        """The value `task_ids` returned (or pushed under `key`), in this run; a list of ids gives a list."""
        if task_ids is None:
            raise XComError("xcom_pull needs task_ids=: name the task whose value to read")
        if dag_id not in (None, self.dag_id):
            raise XComError(f"xcom_pull reads values of this run only, not of DAG {dag_id!r}")
        if isinstance(task_ids, (list, tuple)):
            return [self._pull_one(t, key, default) for t in task_ids]
        return self._pull_one(task_ids, key, default)

    def _pull_one(self, task_id: str, key: str, default: Any) -> Any:
        from orchestrator.execution.ambient import pulled_xcom

        if key == "return_value" and task_id in self._ctx.upstream_results:
            return self._ctx.upstream_results[task_id]
        found, value = pulled_xcom(self.dag_id, self.run_id, task_id, key)
        return value if found else default

    def xcom_push(self, key: str, value: Any) -> None:
        """Keep `value` under `key` for other tasks of this run (`xcom_pull(task_ids=..., key=...)`)."""
        from orchestrator.execution.ambient import push_xcom

        if key == "return_value":
            raise XComError("xcom_push(key='return_value') is the task's result: return the value instead")
        try:
            json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise XComError(f"xcom_push({key!r}): the value must be JSON ({exc})") from None
        push_xcom(self.dag_id, self.run_id, self.task_id, self.map_index, key, value)


def _dag_run(ctx: TaskContext) -> DagRunInfo:
    return DagRunInfo(ctx.dag_id, ctx.run_id, dict(ctx.params), ctx.logical_date, ctx.data_interval_start, ctx.data_interval_end)


def airflow_context(ctx: TaskContext) -> dict[str, Any]:
    """Airflow's context names for the running try."""
    when = ctx.logical_date
    ti = TaskInstanceInfo(ctx)
    task = ctx.task
    return {
        "ds": when.strftime("%Y-%m-%d") if when else None,
        "ds_nodash": when.strftime("%Y%m%d") if when else None,
        "ts": when.isoformat() if when else None,
        "ts_nodash": when.strftime("%Y%m%dT%H%M%S") if when else None,
        "logical_date": when,
        "execution_date": when,
        "data_interval_start": ctx.data_interval_start,
        "data_interval_end": ctx.data_interval_end,
        "params": dict(ctx.params),
        "run_id": ctx.run_id,
        "dag_id": ctx.dag_id,
        "task_id": ctx.task_id,
        "map_index": ctx.map_index,
        "try_number": ctx.try_number,
        "dag": getattr(task, "dag", None),
        "task": task,
        "ti": ti,
        "task_instance": ti,
        "dag_run": ti.dag_run,
        "macros": MACROS,
        "var": SimpleNamespace(value=_Variables(False), json=_Variables(True)),
        "conn": _Connections(),
        "test_mode": False,
    }


# -- rendering a task's templated fields ------------------------------------------------------------
def _shown(value: Any) -> Any:
    """A rendered value as the UI shows it: JSON, with what JSON cannot hold as text, secrets masked."""
    masker = current_masker()
    # the common values of tiny tasks' fields go without a JSON round trip
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return masker.mask(value) if masker else value
    if isinstance(value, (list, tuple, dict)) and not value:
        return {} if isinstance(value, dict) else []
    text = json.dumps(value, default=repr)
    return json.loads(masker.mask(text) if masker else text)


def _templated(value: Any) -> bool:
    """Whether a string inside `value` may hold a template (what `render_nested` would render)."""
    if isinstance(value, str):
        return "{" in value
    if isinstance(value, (list, tuple)):
        return any(_templated(v) for v in value)
    if isinstance(value, dict):
        return any(_templated(v) for v in value.values())
    return False


def render_task(task: Any, ctx: TaskContext) -> tuple[Any, dict[str, Any]]:
    """A copy of the task with its `template_fields` rendered, and the rendered values by field."""
    fields = tuple(getattr(task, "template_fields", ()))
    if not fields:
        return task, {}
    values = {name: getattr(task, name, None) for name in fields}
    if not any(_templated(v) for v in values.values()):
        return task, {name: _shown(v) for name, v in values.items()}  # nothing to render: no context is built
    scope = airflow_context(ctx)
    rendered_task = copy.copy(task)
    shown: dict[str, Any] = {}
    for name in fields:
        value = render_nested(values[name], scope)
        setattr(rendered_task, name, value)
        shown[name] = _shown(value)
    return rendered_task, shown
