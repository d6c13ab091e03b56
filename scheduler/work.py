"""The work items the tracker hands to the executor, built from a run and a planner's Submit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orchestrator.core.connections import env_var_name
from orchestrator.core.error_routing import routed_error
from orchestrator.core.mapping import map_items
from orchestrator.core.planner import Submit
from orchestrator.execution.runtime import WorkItem
from scheduler.active_runs import ActiveRun

ResolveConnection = Callable[[str], dict[str, Any] | None]
"""conn_id -> the connection as a dict (None: unknown); shipped to the worker in the WorkItem."""


@dataclass(frozen=True)
class Dispatch:
    """Work to hand to the executor once the batch that queued it is committed."""

    work: WorkItem


def task_work(
    run: ActiveRun, command: Submit, key: str, try_number: int, max_tries: int, *, dags_root: str, max_result_bytes: int,
    resolve_connection: ResolveConnection | None,
) -> WorkItem:
    """The work item of try `try_number` of the task (or mapped instance) `command` submits."""
    tid = command.task_id
    task = run.spec.task_map[tid]
    index = command.map_index
    upstream_results = {up: run.tasks[up].result for up in task.upstream if up not in command.after}
    after_keys = tuple(run.tasks[up].key or "" for up in command.after)
    items: dict[str, Any] = {}
    if index >= 0:
        items = map_items(task.mapped, upstream_results, index)
        # each instance gets its item, not the whole list it came from
        for source in task.mapped:
            upstream_results.pop(source.task_id or "", None)
    return WorkItem(
        key=key,
        dag_id=run.key.dag_id,
        run_id=run.key.run_id,
        task_id=tid,
        try_number=try_number,
        map_index=index,
        map_items=items,
        fileloc=run.spec.fileloc,
        dags_root=dags_root,
        priority=run.priority,
        logical_date=run.logical_date,
        data_interval_start=run.data_interval_start,
        data_interval_end=run.data_interval_end,
        params=run.params,
        upstream_results=upstream_results,
        chained_upstreams=command.after,
        after=after_keys,
        execution_timeout_s=task.execution_timeout_s,
        max_result_bytes=max_result_bytes,
        max_tries=max_tries,
        routed_error=routed_error(run.spec, tid, run.tasks) if tid in run.spec.error_handlers else None,
        run_data=dict(run.run_data),
        **connection_fields(resolve_connection, task.conn_id),
    )


def connection_fields(resolve: ResolveConnection | None, conn_id: str | None) -> dict[str, Any]:
    """WorkItem fields for the task's connection; a lookup that fails makes the try fail
    with the reason (on the worker, like any failure), never the scheduler."""
    if conn_id is None or resolve is None:
        return {}  # without a resolver (unit tests), the task's get_connection says what is missing
    try:
        found = resolve(conn_id)
    except Exception as exc:  # noqa: BLE001 - a broken secrets backend fails the task, not the loop
        return {"connection_error": f"connection {conn_id!r} could not be looked up: {exc}"}
    if found is None:
        return {"connection_error": (
            f"unknown connection {conn_id!r}: neither ${env_var_name(conn_id)}, a secrets backend nor the database "
            f"defines it (add it with `orchestrator connections add {conn_id} --uri ...`)"
        )}
    return {"connections": {conn_id: found}}
