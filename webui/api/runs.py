"""/dags/{dag_id}/runs: trigger, list, read and cancel runs, and a run's event timeline.

Each run shows why it waits (`state_reason`), the run that triggered it (`parent`) and the runs
it triggered (`children`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError

from orchestrator.core.errors import ConflictError
from orchestrator.core.inputs import InvalidRunInputError
from orchestrator.store import queries, run_batches, run_creation
from orchestrator.store import runs as run_store
from orchestrator.store.permissions import DagPermission
from orchestrator.store.users import Role
from webui.api.convert import run_out
from webui.api.endpoint import actor_name, endpoint
from webui.api.schemas import DagPath, EventOut, Page, PageQuery, RunListQuery, RunOut, RunPath, TriggeredRuns, TriggerRun, TriggerRuns
from webui.auth import audit
from webui.errors import ApiError
from webui.state import publishing_session, web_state


@endpoint(
    "POST", "/dags/{dag_id}/runs", summary="Trigger a run", tag="runs", role=Role.OPERATOR, dag=DagPermission.TRIGGER, path_model=DagPath,
    body=TriggerRun, response=RunOut, status=201, conflicts=True,
)
def trigger_run(path: DagPath, body: TriggerRun) -> RunOut:
    """Queue a manual run of the DAG's current version; the scheduler starts it. 409 if the run_id is
    taken; 422 if the conf (over the DAG's params) does not match the DAG's input schema."""
    now = datetime.now(UTC)
    with web_state().sessions.begin() as s:
        try:
            row = run_creation.create_run(
                s, path.dag_id, run_id=body.run_id, run_type="manual", logical_date=body.logical_date or now,
                data_interval=None, conf=body.conf, now=now, actor=actor_name(), check_input=True, priority=body.priority,
                correlation_id=body.correlation_id,
            )
        except InvalidRunInputError as exc:
            details = [{"loc": ["body", "conf", p["path"]], "msg": p["message"], "type": "input_schema"} for p in exc.problems]
            raise ApiError(422, "invalid_input", str(exc), details) from None
        audit(s, "run.trigger", f"run:{path.dag_id}/{row.run_id}", {"conf": body.conf, **({"priority": body.priority} if body.priority else {})})
        return run_out(row)


@endpoint(
    "POST", "/dags/{dag_id}/runs/batch", summary="Trigger many runs", tag="runs", role=Role.OPERATOR, dag=DagPermission.TRIGGER,
    path_model=DagPath, body=TriggerRuns, body_required=True, response=TriggeredRuns, status=201, conflicts=True,
)
def trigger_runs(path: DagPath, body: TriggerRuns) -> TriggeredRuns:
    """Queue up to 1,000 manual runs of the DAG's current version in one transaction (one audit
    entry): all of them, or none. 409 names the run whose run_id is taken or given twice; 422 the
    run whose conf does not match the DAG's input schema. A run without run_id is named
    manual__<logical date>__<its position, from 1>."""
    now = datetime.now(UTC)
    requests = [run_batches.RunRequest(item.conf, item.run_id, item.logical_date, item.priority) for item in body.runs]
    with web_state().sessions.begin() as s:
        try:
            runs = run_batches.plan(s, path.dag_id, requests, now, label=lambda i: f"runs[{i}]")
            run_creation.queue_runs(s, runs, now, actor_name())
            s.flush()
        except run_batches.BatchTriggerError as exc:
            if exc.conflict:
                raise ConflictError(str(exc)) from None
            details = [{"loc": ["body", "runs", exc.item, "conf", p["path"]], "msg": p["message"], "type": "input_schema"} for p in exc.problems]
            raise ApiError(422, "invalid_input", str(exc), details) from None
        except IntegrityError:
            raise ConflictError("another request queued a run of this batch meanwhile; nothing was queued") from None
        run_ids = [r.run_id for r in runs]
        audit(s, "run.trigger_batch", f"dag:{path.dag_id}", {"count": len(run_ids), "run_ids": run_ids})
    return TriggeredRuns(dag_id=path.dag_id, run_ids=run_ids)


@endpoint(
    "GET", "/dags/{dag_id}/runs", summary="List runs of a DAG", tag="runs", role=Role.VIEWER, dag=DagPermission.READ, path_model=DagPath,
    query=RunListQuery, response=Page[RunOut],
)
def list_runs(path: DagPath, query: RunListQuery) -> Page[RunOut]:
    """Newest logical date first; filtered by state (any of), a logical date range and a correlation id."""
    with web_state().read_sessions() as s:
        queries.get_dag_row(s, path.dag_id)
        rows, total = queries.run_page(
            s, path.dag_id, states=[st.value for st in query.state], since=query.logical_date_gte,
            until=query.logical_date_lte, correlation_id=query.correlation_id, limit=query.limit, offset=query.offset,
        )
        children = queries.child_runs(s, path.dag_id, [r.run_id for r in rows])
        return Page[RunOut](items=[run_out(r, children[r.run_id]) for r in rows], total=total)


@endpoint(
    "GET", "/dags/{dag_id}/runs/{run_id}", summary="Get a run", tag="runs", role=Role.VIEWER, dag=DagPermission.READ,
    path_model=RunPath, response=RunOut,
)
def get_run(path: RunPath) -> RunOut:
    with web_state().read_sessions() as s:
        row = queries.get_run(s, path.dag_id, path.run_id)
        return run_out(row, queries.child_runs(s, path.dag_id, [row.run_id])[row.run_id])


@endpoint(
    "POST", "/dags/{dag_id}/runs/{run_id}/cancel", summary="Cancel a run", tag="runs", role=Role.OPERATOR, dag=DagPermission.TRIGGER,
    path_model=RunPath, response=RunOut, conflicts=True,
)
def cancel_run(path: RunPath) -> RunOut:
    """Cancel a queued or running run and its unfinished tasks. 409 if it already ended."""
    with publishing_session() as s:
        row = run_store.cancel_run(s, path.dag_id, path.run_id, datetime.now(UTC), actor_name())
        audit(s, "run.cancel", f"run:{path.dag_id}/{path.run_id}")
        return run_out(row, queries.child_runs(s, path.dag_id, [row.run_id])[row.run_id])


@endpoint(
    "GET", "/dags/{dag_id}/runs/{run_id}/events", summary="A run's timeline", tag="runs", role=Role.VIEWER, dag=DagPermission.READ,
    path_model=RunPath, query=PageQuery, response=Page[EventOut],
)
def run_events(path: RunPath, query: PageQuery) -> Page[EventOut]:
    """Every state change and user action of the run, oldest first."""
    with web_state().read_sessions() as s:
        queries.get_run(s, path.dag_id, path.run_id)
        rows, total = queries.event_page(s, path.dag_id, path.run_id, limit=query.limit, offset=query.offset)
        return Page[EventOut](items=[EventOut.model_validate(r) for r in rows], total=total)
