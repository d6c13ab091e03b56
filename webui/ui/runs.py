"""The run page (a state machine's current state and history of states, why it waits, the runs it triggered or was triggered by, task table, Gantt chart,
event timeline) and the task try page (log, result, params)."""

from __future__ import annotations

from typing import Any

from flask import jsonify, render_template, request

from orchestrator.core.errors import NotFoundError
from orchestrator.core.states import RUN_ACTIVE, TASK_TERMINAL, TaskState
from orchestrator.store import machines as machine_store
from orchestrator.store import queries
from orchestrator.store.models import Event
from orchestrator.store.runs import spec_for_version
from orchestrator.store.users import Role
from webui.access import may
from webui.api.plugins import log_stores
from webui.auth import requires
from webui.state import web_state
from webui.ui import ui_blueprint
from webui.ui.present import iso, now, preview, run_dict, seconds_between

_ACTIVE = {s.value for s in RUN_ACTIVE}
_TERMINAL = {s.value for s in TASK_TERMINAL}
LISTED_INSTANCES = 1000
"""The run page lists this many instances of a mapped task (the API has them all)."""


def _event_dict(e: Event) -> dict[str, Any]:
    return {
        "id": e.id, "at": iso(e.at), "kind": e.kind, "task_id": e.task_id, "map_index": e.map_index, "try_number": e.try_number,
        "from_state": e.from_state, "to_state": e.to_state, "actor": e.actor, "reason": e.reason,
    }


def _instance_dict(r: Any) -> dict[str, Any]:
    return {
        "map_index": r.map_index, "state": r.state, "try_number": r.try_number, "max_tries": r.max_tries,
        "start_date": iso(r.start_date), "end_date": iso(r.end_date), "next_retry_at": iso(r.next_retry_at),
        "duration_s": seconds_between(r.start_date, r.end_date), "worker": r.worker,
    }


def _machine_dict(s: Any, dag_id: str, run_id: str) -> dict[str, Any]:
    """A state-machine run's current state, the states it went through and its run data."""
    view = machine_store.machine_view(s, dag_id, run_id)
    return {
        "state": view.state, "finished": view.finished, "awaiting": list(view.awaiting), "sla_missed": view.sla_missed,
        "history": [{**h, "at": iso(h["at"])} for h in view.history], "data": view.data,
    }


def run_data(s: Any, dag_id: str, run_id: str, after_id: int) -> dict[str, Any]:
    """The run, its tasks in DAG order and its events after `after_id`: what the run page draws."""
    run = queries.get_run(s, dag_id, run_id)
    spec = spec_for_version(s, dag_id, run.version_hash)
    rows: dict[str, Any] = {}
    instances: dict[str, list[Any]] = {}
    for r in queries.run_task_rows(s, dag_id, run_id):
        if r.map_index < 0:
            rows[r.task_id] = r
        else:
            instances.setdefault(r.task_id, []).append(r)
    order = [t.task_id for t in spec.tasks if t.task_id in rows] + sorted(set(rows) - set(spec.task_map))
    tasks = []
    for tid in order:
        r = rows[tid]
        mapped = sorted(instances.get(tid, []), key=lambda i: i.map_index)
        tasks.append({
            **_instance_dict(r), "task_id": tid, "clearable": r.state in _TERMINAL, "has_downstream": bool(spec.downstream.get(tid)),
            # a mapped task's instances, listed under it
            "instances": [_instance_dict(i) for i in mapped[:LISTED_INSTANCES]], "instance_count": len(mapped),
        })
    parent = None
    if run.parent_dag_id is not None:
        parent = {"dag_id": run.parent_dag_id, "run_id": run.parent_run_id, "task_id": run.parent_task_id}
    children = [
        {"dag_id": c.dag_id, "run_id": c.run_id, "task_id": c.parent_task_id, "state": c.state}
        for c in queries.child_runs(s, dag_id, [run_id])[run_id]
    ]
    machine = _machine_dict(s, dag_id, run_id) if spec.machine is not None else None
    failed = {TaskState.FAILED.value, TaskState.UPSTREAM_FAILED.value}
    with_failures = any(t["state"] in failed or any(i["state"] in failed for i in t["instances"]) for t in tasks)
    return {
        "dag_id": dag_id,
        "run": {
            **run_dict(run, with_failures=with_failures), "conf": run.conf, "state_reason": run.state_reason, "waiting_since": iso(run.waiting_since),
            "parent": parent, "children": children, "priority": run.priority,
        },
        "tasks": tasks,
        "machine": machine,
        "events": [_event_dict(e) for e in queries.run_events(s, dag_id, run_id, after_id=after_id)],
        "active": run.state in _ACTIVE,
        "now": iso(now()),
    }


def _can(dag_id: str) -> dict[str, bool]:
    """Which of the page's buttons the user's role and DAG roles allow: trigger (cancel, clear,
    pause and resume a run) and edit (mark success or failed)."""
    return {"trigger": may("trigger", dag_id), "edit": may("edit", dag_id)}


RUNS_LISTED = 200
"""The runs list shows this many runs (the API pages through all of them)."""


@ui_blueprint.get("/dags/<dag_id>/runs")
@requires(Role.VIEWER)
def runs_list(dag_id: str) -> Any:
    """A DAG's runs, newest first, filtered by correlation id (?correlation_id=)."""
    correlation_id = request.args.get("correlation_id", "").strip()[:250] or None
    with web_state().read_sessions() as s:
        queries.get_dag_row(s, dag_id)
        rows, total = queries.run_page(s, dag_id, correlation_id=correlation_id, limit=RUNS_LISTED, offset=0)
    return render_template("runs.html", dag_id=dag_id, rows=rows, total=total, correlation_id=correlation_id)


@ui_blueprint.get("/dags/<dag_id>/runs/<run_id>")
@requires(Role.VIEWER)
def run(dag_id: str, run_id: str) -> Any:
    with web_state().read_sessions() as s:
        data = run_data(s, dag_id, run_id, 0)
    return render_template("run.html", data=data, run=data["run"], dag_id=dag_id, can=_can(dag_id))


@ui_blueprint.get("/data/dags/<dag_id>/runs/<run_id>")
@requires(Role.VIEWER)
def run_json(dag_id: str, run_id: str) -> Any:
    with web_state().read_sessions() as s:
        return jsonify(run_data(s, dag_id, run_id, request.args.get("after", 0, type=int) or 0))


def try_data(s: Any, dag_id: str, run_id: str, task_id: str, try_number: int | None, map_index: int = -1) -> dict[str, Any]:
    """One try of a task or of one instance of a mapped task (the latest by default): state, times,
    error; the result once the task succeeded; a mapped task's instances."""
    ti = queries.get_task_instance(s, dag_id, run_id, task_id, map_index=map_index)
    tries = queries.task_try_summaries(s, dag_id, run_id, task_id, map_index=map_index)
    number = ti.try_number if try_number is None else try_number
    row = next((t for t in tries if t.try_number == number), None)
    if row is None and try_number is not None:
        raise NotFoundError(f"task {task_id!r} of run {run_id!r} has no try {try_number}")
    latest = number == ti.try_number
    return {
        "task_state": ti.state,
        "task_try_number": ti.try_number,
        "max_tries": ti.max_tries,
        "try_number": number,
        "state": row.state if row else None,
        "start_date": iso(row.start_date) if row else None,
        "end_date": iso(row.end_date) if row else None,
        "duration_s": seconds_between(row.start_date, row.end_date) if row else None,
        "worker": row.worker if row else None,
        "error": row.error if row else None,
        # only the latest try's result is kept (on the task instance)
        "result": preview(ti.result) if latest and ti.state == "success" and ti.result is not None else None,
        # an older try is over; the latest is over once its task is
        "finished": ti.state in _TERMINAL if latest else True,
        "clearable": ti.state in _TERMINAL,
        "tries": [{"try_number": t.try_number, "state": t.state} for t in tries],
        "map_index": map_index,
        "instances": [
            {"map_index": i.map_index, "state": i.state}
            for i in (queries.mapped_instances(s, dag_id, run_id, task_id)[:LISTED_INSTANCES] if map_index < 0 else [])
        ],
    }


@ui_blueprint.get("/dags/<dag_id>/runs/<run_id>/tasks/<task_id>")
@requires(Role.VIEWER)
def task_try(dag_id: str, run_id: str, task_id: str) -> Any:
    with web_state().read_sessions() as s:
        run = queries.get_run(s, dag_id, run_id)
        spec = spec_for_version(s, dag_id, run.version_hash)
        map_index = request.args.get("map_index", -1, type=int)
        data = try_data(s, dag_id, run_id, task_id, request.args.get("try", type=int), map_index)
        row = queries.get_try(s, dag_id, run_id, task_id, data["try_number"], map_index=map_index) if data["state"] else None
        log = log_stores().text(row) if row is not None else ""
    return render_template(
        "task_try.html", dag_id=dag_id, run=run, task_id=task_id, can=_can(dag_id), task=spec.task_map.get(task_id), fileloc=spec.fileloc, data=data,
        rendered=row.rendered if row is not None else None,
        log=log, dag_params=spec.params, conf=run.conf or {}, params={**spec.params, **(run.conf or {})},
    )


@ui_blueprint.get("/data/dags/<dag_id>/runs/<run_id>/tasks/<task_id>")
@requires(Role.VIEWER)
def task_try_json(dag_id: str, run_id: str, task_id: str) -> Any:
    with web_state().read_sessions() as s:
        return jsonify(try_data(s, dag_id, run_id, task_id, request.args.get("try", type=int), request.args.get("map_index", -1, type=int)))
