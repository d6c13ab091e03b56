"""Run controls and the Late list: mark a task or run success or failed, pause and resume one run,
and the runs and tasks that missed their deadline. Every action is audited with its actor.

Marking needs edit permission on the DAG (it overrides what happened); pausing and resuming a
run need trigger permission (as cancelling does).
"""

from __future__ import annotations

from datetime import UTC, datetime

from orchestrator.core.run_controls import markable_state
from orchestrator.core.states import RunState
from orchestrator.store import late as late_store
from orchestrator.store import queries, run_controls
from orchestrator.store.permissions import DagPermission
from orchestrator.store.users import Role
from webui.access import readable_dag_ids
from webui.api.convert import run_out
from webui.api.endpoint import actor_name, endpoint
from webui.api.schemas import LateOut, LateQuery, Mark, MarkedTask, MarkResult, Page, RunOut, RunPath, TaskPath
from webui.auth import audit
from webui.state import publishing_session, web_state


@endpoint(
    "POST", "/dags/{dag_id}/runs/{run_id}/mark", summary="Mark a run success or failed", tag="runs", role=Role.OPERATOR,
    dag=DagPermission.EDIT, path_model=RunPath, body=Mark, body_required=True, response=RunOut, conflicts=True,
)
def mark_run(path: RunPath, body: Mark) -> RunOut:
    """Set the run and its unfinished tasks: all success; or, for failed, started tasks failed and
    the others skipped. The scheduler stops its work in flight. 409 if it is in that state already."""
    with publishing_session() as s:
        marks = run_controls.mark_run(s, path.dag_id, path.run_id, RunState(body.state), now=datetime.now(UTC), actor=actor_name())
        audit(s, f"run.mark_{body.state}", f"run:{path.dag_id}/{path.run_id}", {"tasks": len(marks)})
        row = queries.get_run(s, path.dag_id, path.run_id)
        return run_out(row, queries.child_runs(s, path.dag_id, [row.run_id])[row.run_id])


@endpoint(
    "POST", "/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/mark", summary="Mark a task success or failed", tag="tasks",
    role=Role.OPERATOR, dag=DagPermission.EDIT, path_model=TaskPath, body=Mark, body_required=True, response=MarkResult, conflicts=True,
)
def mark_task(path: TaskPath, body: Mark) -> MarkResult:
    """Set the task (and a mapped task's unfinished instances); its downstream then follow their
    trigger rules. In a finished run the run is queued again to decide them. 409 if the run has
    not started or the task is in that state already."""
    with publishing_session() as s:
        marks = run_controls.mark_task(
            s, path.dag_id, path.run_id, path.task_id, markable_state(body.state), now=datetime.now(UTC), actor=actor_name()
        )
        audit(s, f"task.mark_{body.state}", f"task:{path.dag_id}/{path.run_id}/{path.task_id}")
        return MarkResult(marked=[MarkedTask(task_id=m.task_id, map_index=m.map_index, state=m.to) for m in marks])


def _set_paused(path: RunPath, paused: bool) -> RunOut:
    with publishing_session() as s:
        row = run_controls.set_run_paused(s, path.dag_id, path.run_id, paused, now=datetime.now(UTC), actor=actor_name())
        audit(s, "run.pause" if paused else "run.resume", f"run:{path.dag_id}/{path.run_id}")
        return run_out(row, queries.child_runs(s, path.dag_id, [row.run_id])[row.run_id])


@endpoint(
    "POST", "/dags/{dag_id}/runs/{run_id}/pause", summary="Pause one run", tag="runs", role=Role.OPERATOR,
    dag=DagPermission.TRIGGER, path_model=RunPath, response=RunOut, conflicts=True,
)
def pause_run(path: RunPath) -> RunOut:
    """No new work is dispatched for the run until it is resumed; work in flight finishes. 409 if
    it ended or is paused already."""
    return _set_paused(path, True)


@endpoint(
    "POST", "/dags/{dag_id}/runs/{run_id}/resume", summary="Resume a paused run", tag="runs", role=Role.OPERATOR,
    dag=DagPermission.TRIGGER, path_model=RunPath, response=RunOut, conflicts=True,
)
def resume_run(path: RunPath) -> RunOut:
    """The run goes on where it stopped. 409 if it ended or is not paused."""
    return _set_paused(path, False)


@endpoint("GET", "/late", summary="Runs and tasks that missed their deadline", tag="runs", role=Role.VIEWER, query=LateQuery, response=Page[LateOut])
def list_late(query: LateQuery) -> Page[LateOut]:
    """Newest miss first, with the run's and the task's state now; only the DAGs the caller may read."""
    with web_state().read_sessions() as s:
        rows, total = late_store.late_page(s, dag_id=query.dag_id, among=readable_dag_ids(s), limit=query.limit, offset=query.offset)
    return Page[LateOut](items=[late_out(r) for r in rows], total=total)


def late_out(row: object) -> LateOut:
    """A row of orchestrator.store.late.late_page."""
    payload = getattr(row, "payload") or {}
    return LateOut(
        id=row.id, dag_id=row.dag_id, run_id=row.run_id, task_id=row.task_id,  # type: ignore[attr-defined]
        deadline=payload.get("deadline"), missed_at=row.at, reason=row.reason,  # type: ignore[attr-defined]
        run_state=row.run_state, task_state=row.task_state,  # type: ignore[attr-defined]
    )
