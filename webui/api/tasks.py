"""/dags/{dag_id}/runs/{run_id}/tasks: a run's tasks, one task with its tries, clearing, logs."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Response
from sqlalchemy.orm import Session

from orchestrator.core.errors import ConflictError, NotFoundError
from orchestrator.core.spec import TaskSpec
from orchestrator.store import clearing as clearing_store
from orchestrator.store import queries
from orchestrator.store import runs as run_store
from orchestrator.store.models import TaskInstance
from orchestrator.store.permissions import DagPermission
from orchestrator.store.users import Role
from webui.api.convert import task_detail, task_out, try_out
from webui.api.endpoint import actor_name, endpoint
from webui.api.plugins import log_stores
from webui.api.schemas import (
    ClearResult,
    ClearTask,
    LogQuery,
    Page,
    RunPath,
    TaskDetail,
    TaskInstanceOut,
    TaskListQuery,
    TaskPath,
    TaskQuery,
    TryPath,
)
from webui.auth import audit
from webui.state import publishing_session, web_state

NEXT_OFFSET = "X-Next-Offset"
TRY_STATE = "X-Try-State"


@endpoint(
    "GET", "/dags/{dag_id}/runs/{run_id}/tasks", summary="List a run's tasks", tag="tasks", role=Role.VIEWER, dag=DagPermission.READ,
    path_model=RunPath, query=TaskListQuery, response=Page[TaskInstanceOut],
)
def list_tasks(path: RunPath, query: TaskListQuery) -> Page[TaskInstanceOut]:
    """The run's task instances in the DAG's order (none until the scheduler starts the run); a mapped
    task's instances follow its own row, by map_index."""
    wanted = {st.value for st in query.state}
    with web_state().read_sessions() as s:
        run = queries.get_run(s, path.dag_id, path.run_id)
        order = run_store.spec_for_version(s, path.dag_id, run.version_hash).topo_index
        # run_task_rows leaves out the results, which may be large
        rows = sorted(
            (ti for ti in queries.run_task_rows(s, path.dag_id, path.run_id) if not wanted or ti.state in wanted),
            key=lambda ti: (order.get(ti.task_id, len(order)), ti.task_id, ti.map_index),
        )
    page = rows[query.offset : query.offset + query.limit]
    return Page[TaskInstanceOut](items=[task_out(r) for r in page], total=len(rows))


def _task_spec(s: Session, path: TaskPath) -> TaskSpec:
    """The spec of the task in the DAG version the run is pinned to; 404 if the run has no such task."""
    run = queries.get_run(s, path.dag_id, path.run_id)
    spec = run_store.spec_for_version(s, path.dag_id, run.version_hash).task_map.get(path.task_id)
    if spec is None:
        raise NotFoundError(f"run {path.run_id!r} of DAG {path.dag_id!r} has no task {path.task_id!r}")
    return spec


def _instance(s: Session, path: TaskPath) -> TaskInstance | None:
    """The task instance, or None while the run has not created its task instances."""
    try:
        return queries.get_task_instance(s, path.dag_id, path.run_id, path.task_id)
    except NotFoundError:
        return None


@endpoint(
    "GET", "/dags/{dag_id}/runs/{run_id}/tasks/{task_id}", summary="Get a task of a run", tag="tasks",
    role=Role.VIEWER, dag=DagPermission.READ, path_model=TaskPath, query=TaskQuery, response=TaskDetail,
)
def get_task(path: TaskPath, query: TaskQuery) -> TaskDetail:
    """The task's state, its spec, every try (without logs) and a preview of its result; a mapped
    task also lists its instances, and `?map_index=` gives one instance with its own tries."""
    index = query.map_index
    with web_state().read_sessions() as s:
        spec = _task_spec(s, path)
        if index >= 0:
            instance: TaskInstance | None = queries.get_task_instance(s, path.dag_id, path.run_id, path.task_id, map_index=index)
        else:
            instance = _instance(s, path)
        lengths = queries.try_log_lengths(s, path.dag_id, path.run_id, path.task_id, map_index=index)
        summaries = queries.task_try_summaries(s, path.dag_id, path.run_id, path.task_id, map_index=index)
        tries = [try_out(t, lengths.get(t.try_number, 0)) for t in summaries]
        mapped = queries.mapped_instances(s, path.dag_id, path.run_id, path.task_id) if spec.mapped and index < 0 else []
        return task_detail(spec, instance, tries, [task_out(r) for r in mapped])


@endpoint(
    "POST", "/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/clear", summary="Clear a task", tag="tasks",
    role=Role.OPERATOR, dag=DagPermission.TRIGGER, path_model=TaskPath, body=ClearTask, response=ClearResult, conflicts=True,
)
def clear_task(path: TaskPath, body: ClearTask) -> ClearResult:
    """Run a finished task again (with `downstream`, also every task after it). 409 unless it finished."""
    with publishing_session() as s:
        _task_spec(s, path)
        if _instance(s, path) is None:
            raise ConflictError(f"run {path.run_id!r} has not started yet: task {path.task_id!r} has nothing to clear")
        cleared = clearing_store.clear_task(
            s, path.dag_id, path.run_id, path.task_id, downstream=body.downstream, now=datetime.now(UTC), actor=actor_name()
        )
        audit(s, "task.clear", f"task:{path.dag_id}/{path.run_id}/{path.task_id}", {"downstream": body.downstream, "cleared": cleared})
        return ClearResult(cleared=cleared)


@endpoint(
    "GET", "/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/logs/{try_number}", summary="Read a try's log", tag="tasks",
    role=Role.VIEWER, dag=DagPermission.READ, path_model=TryPath, query=LogQuery, text=True,
    headers={
        NEXT_OFFSET: "the offset to ask for next when following the log",
        TRY_STATE: "the try's state: while it is running, more log may come",
    },
)
def get_log(path: TryPath, query: LogQuery) -> Response:
    """Plain text from character `offset` on; follow a running try by asking again from X-Next-Offset."""
    with web_state().read_sessions() as s:
        chunk, _, state = queries.try_log_slice(
            s, path.dag_id, path.run_id, path.task_id, path.try_number, offset=query.offset, limit=query.limit,
            map_index=query.map_index, read_ref=log_stores().read,
        )
    response = Response(chunk, mimetype="text/plain")
    response.headers[NEXT_OFFSET] = str(query.offset + len(chunk))
    response.headers[TRY_STATE] = state
    return response
