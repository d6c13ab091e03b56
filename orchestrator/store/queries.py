"""Read-only queries for the CLI and the web UI: no writes here."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.core.errors import NotFoundError
from orchestrator.core.spec import DagSpec
from orchestrator.store import definitions as definition_store
from orchestrator.store.models import Dag, DagRun, ImportError_, TaskInstance, TaskTry
from orchestrator.store.runs import spec_for_version


def list_dags(session: Session, *, include_inactive: bool = False) -> Sequence[Dag]:
    stmt = select(Dag).order_by(Dag.dag_id)
    if not include_inactive:
        stmt = stmt.where(Dag.is_active.is_(True))
    return session.scalars(stmt).all()


def get_dag(session: Session, dag_id: str) -> Dag:
    row = session.get(Dag, dag_id)
    if row is None or not row.is_active:
        why = definition_store.refusal(session, row, dag_id)
        if why is not None:
            raise NotFoundError(f"no DAG {dag_id!r} is loaded: {why}")
        raise NotFoundError(f"no DAG with id {dag_id!r}: `orchestrator dags list` shows the known DAGs")
    return row


def dag_spec(session: Session, dag_id: str) -> DagSpec:
    return DagSpec.model_validate(get_dag(session, dag_id).spec)


def list_runs(session: Session, dag_id: str, *, limit: int | None = None, correlation_id: str | None = None) -> Sequence[DagRun]:
    """Runs of a DAG, newest logical date first; only those with `correlation_id`, if given."""
    stmt = select(DagRun).where(DagRun.dag_id == dag_id).order_by(DagRun.logical_date.desc(), DagRun.queued_at.desc())
    if correlation_id is not None:
        stmt = stmt.where(DagRun.correlation_id == correlation_id)
    if limit:
        stmt = stmt.limit(limit)
    return session.scalars(stmt).all()


def get_run(session: Session, dag_id: str, run_id: str) -> DagRun:
    row = session.get(DagRun, (dag_id, run_id))
    if row is None:
        raise NotFoundError(f"DAG {dag_id!r} has no run {run_id!r}: `orchestrator runs list {dag_id}` shows its runs")
    return row


def list_task_instances(session: Session, dag_id: str, run_id: str) -> Sequence[TaskInstance]:
    """Task instances of a run, in the DAG's task order; a mapped task's instances follow it by map_index."""
    run = get_run(session, dag_id, run_id)
    rows = session.scalars(select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)).all()
    order = {t.task_id: i for i, t in enumerate(spec_for_version(session, dag_id, run.version_hash).tasks)}
    return sorted(rows, key=lambda ti: (order.get(ti.task_id, len(order)), ti.task_id, ti.map_index))


def get_try(session: Session, dag_id: str, run_id: str, task_id: str, try_number: int | None, *, map_index: int = -1) -> TaskTry:
    """One try of a task, or of one instance of a mapped task (the latest when `try_number` is None)."""
    get_run(session, dag_id, run_id)
    stmt = select(TaskTry).where(
        TaskTry.dag_id == dag_id, TaskTry.run_id == run_id, TaskTry.task_id == task_id, TaskTry.map_index == map_index
    )
    if try_number is not None:
        stmt = stmt.where(TaskTry.try_number == try_number)
    row = session.scalars(stmt.order_by(TaskTry.try_number.desc()).limit(1)).first()
    if row is None:
        which = f"try {try_number}" if try_number is not None else "any try"
        raise NotFoundError(f"task {task_id!r} of run {run_id!r} has no {which} yet")
    return row


def list_import_errors(session: Session) -> Sequence[ImportError_]:
    return session.scalars(select(ImportError_).order_by(ImportError_.filename)).all()


# -- web UI pages: few, narrow queries (only the columns a page shows) ---------------------------
# (imported here rather than at the top so that appends by several authors do not collide)
from datetime import datetime  # noqa: E402
from typing import Any  # noqa: E402

from sqlalchemy import ColumnElement, Row, func  # noqa: E402

from orchestrator.core.states import TaskState  # noqa: E402
from orchestrator.store.event_feed import of_runs  # noqa: E402
from orchestrator.store.models import AuditLog, Event, SchedulerJob  # noqa: E402


def dag_overview(session: Session) -> list[Row[Any]]:
    """Every active DAG with what the DAG list shows; tags and description come out of the spec JSON."""
    stmt = select(
        Dag.dag_id,
        Dag.is_paused,
        Dag.schedule,
        Dag.timezone,
        Dag.next_run_at,
        Dag.spec["tags"].label("tags"),
        Dag.spec["description"].label("description"),
        Dag.spec["params"].label("params"),
        Dag.spec["asset_schedule"].label("asset_schedule"),
        Dag.spec["triggers"].label("triggers"),
    ).where(Dag.is_active.is_(True)).order_by(Dag.dag_id)
    return list(session.execute(stmt).all())


def latest_runs_per_dag(session: Session, dag_ids: Sequence[str], per_dag: int) -> dict[str, list[Row[Any]]]:
    """The newest `per_dag` runs of each DAG (run_id, state, run_type and times), newest first, in one query."""
    if not dag_ids:
        return {}
    rank = func.row_number().over(
        partition_by=DagRun.dag_id, order_by=(DagRun.logical_date.desc(), DagRun.queued_at.desc())
    ).label("rank")
    inner = (
        select(
            DagRun.dag_id, DagRun.run_id, DagRun.state, DagRun.run_type, DagRun.logical_date, DagRun.queued_at,
            DagRun.start_date, DagRun.end_date, rank,
        )
        .where(DagRun.dag_id.in_(list(dag_ids)))
        .subquery()
    )
    stmt = select(
        inner.c.dag_id, inner.c.run_id, inner.c.state, inner.c.run_type, inner.c.logical_date, inner.c.queued_at,
        inner.c.start_date, inner.c.end_date,
    ).where(inner.c.rank <= per_dag)
    out: dict[str, list[Row[Any]]] = {d: [] for d in dag_ids}
    for row in session.execute(stmt.order_by(inner.c.dag_id, inner.c.rank)):
        out[row.dag_id].append(row)
    return out


def runs_with_failed_tasks(session: Session, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of these (dag_id, run_id) have a failed or upstream-failed task (or mapped instance):
    a run that succeeded anyway (trigger rules, `on_failure="continue"`) is "success with failures"."""
    if not keys:
        return set()
    stmt = (
        select(TaskInstance.dag_id, TaskInstance.run_id)
        .where(of_runs(TaskInstance, keys), TaskInstance.state.in_([TaskState.FAILED.value, TaskState.UPSTREAM_FAILED.value]))
        .distinct()
    )
    return {(r.dag_id, r.run_id) for r in session.execute(stmt)}


def count_import_errors(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(ImportError_)) or 0)


def grid_runs(session: Session, dag_id: str, limit: int) -> list[Row[Any]]:
    """The newest `limit` runs of a DAG, newest first, without their conf."""
    stmt = (
        select(
            DagRun.run_id, DagRun.state, DagRun.run_type, DagRun.logical_date, DagRun.queued_at,
            DagRun.start_date, DagRun.end_date, DagRun.version_hash, DagRun.correlation_id, DagRun.machine,
        )
        .where(DagRun.dag_id == dag_id)
        .order_by(DagRun.logical_date.desc(), DagRun.queued_at.desc())
        .limit(limit)
    )
    return list(session.execute(stmt).all())


def grid_cells(session: Session, dag_id: str, run_ids: Sequence[str]) -> list[Row[Any]]:
    """(run_id, task_id, state, try_number) of the task instances of these runs (a mapped task's own, not its instances')."""
    if not run_ids:
        return []
    stmt = select(TaskInstance.run_id, TaskInstance.task_id, TaskInstance.state, TaskInstance.try_number).where(
        TaskInstance.dag_id == dag_id, TaskInstance.run_id.in_(list(run_ids)), TaskInstance.map_index == -1
    )
    return list(session.execute(stmt).all())


def mapped_state_counts(session: Session, dag_id: str, run_ids: Sequence[str]) -> list[Row[Any]]:
    """(run_id, task_id, state, n): how many instances of each mapped task of these runs are in each state."""
    if not run_ids:
        return []
    stmt = (
        select(TaskInstance.run_id, TaskInstance.task_id, TaskInstance.state, func.count())
        .where(TaskInstance.dag_id == dag_id, TaskInstance.run_id.in_(list(run_ids)), TaskInstance.map_index >= 0)
        .group_by(TaskInstance.run_id, TaskInstance.task_id, TaskInstance.state)
    )
    return list(session.execute(stmt).all())


def run_task_rows(session: Session, dag_id: str, run_id: str) -> list[Row[Any]]:
    """The task instances of a run for its task table and Gantt chart (no results: they can be large)."""
    stmt = select(
        TaskInstance.task_id, TaskInstance.map_index, TaskInstance.state, TaskInstance.try_number, TaskInstance.max_tries,
        TaskInstance.start_date, TaskInstance.end_date, TaskInstance.next_retry_at, TaskInstance.worker,
    ).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
    return list(session.execute(stmt).all())


def run_events(session: Session, dag_id: str, run_id: str, *, after_id: int = 0, limit: int = 2000) -> list[Event]:
    """The run's events with an id above `after_id`, oldest first (the run's timeline)."""
    stmt = (
        select(Event)
        .where(Event.dag_id == dag_id, Event.run_id == run_id, Event.id > after_id)
        .order_by(Event.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def task_try_summaries(session: Session, dag_id: str, run_id: str, task_id: str, *, map_index: int = -1) -> list[Row[Any]]:
    """Every try of a task (or of one mapped instance) without its log: try_number, state, start, end, worker, error."""
    stmt = (
        select(TaskTry.try_number, TaskTry.state, TaskTry.start_date, TaskTry.end_date, TaskTry.worker, TaskTry.error)
        .where(TaskTry.dag_id == dag_id, TaskTry.run_id == run_id, TaskTry.task_id == task_id, TaskTry.map_index == map_index)
        .order_by(TaskTry.try_number)
    )
    return list(session.execute(stmt).all())


def get_task_instance(session: Session, dag_id: str, run_id: str, task_id: str, *, map_index: int = -1) -> TaskInstance:
    """A task instance: the task's own, or instance `map_index` of a mapped task."""
    row = session.get(TaskInstance, (dag_id, run_id, task_id, map_index))
    if row is None:
        which = f"task {task_id!r}" if map_index < 0 else f"mapped instance {map_index} of task {task_id!r}"
        raise NotFoundError(f"run {run_id!r} of DAG {dag_id!r} has no {which}")
    return row


def mapped_instances(session: Session, dag_id: str, run_id: str, task_id: str) -> list[Row[Any]]:
    """The instances of a mapped task in map_index order, without their results (as `run_task_rows`)."""
    stmt = (
        select(
            TaskInstance.task_id, TaskInstance.map_index, TaskInstance.state, TaskInstance.try_number, TaskInstance.max_tries,
            TaskInstance.start_date, TaskInstance.end_date, TaskInstance.next_retry_at, TaskInstance.worker,
        )
        .where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id, TaskInstance.task_id == task_id, TaskInstance.map_index >= 0)
        .order_by(TaskInstance.map_index)
    )
    return list(session.execute(stmt).all())


def audit_entries(
    session: Session, *, actor: str | None = None, action: str | None = None, before_id: int | None = None, limit: int = 100
) -> list[AuditLog]:
    """Audit log entries, newest first; `before_id` pages back."""
    stmt = select(AuditLog)
    if actor:
        stmt = stmt.where(AuditLog.actor == actor)
    if action:
        stmt = stmt.where(AuditLog.action.startswith(action))
    if before_id is not None:
        stmt = stmt.where(AuditLog.id < before_id)
    return list(session.scalars(stmt.order_by(AuditLog.id.desc()).limit(limit)))


def recent_scheduler_jobs(session: Session, *, since: datetime | None = None, limit: int = 10) -> list[SchedulerJob]:
    """Scheduler jobs, latest heartbeat first (those that heartbeated after `since`, when given)."""
    stmt = select(SchedulerJob)
    if since is not None:
        stmt = stmt.where(SchedulerJob.last_heartbeat >= since)
    return list(session.scalars(stmt.order_by(SchedulerJob.last_heartbeat.desc()).limit(limit)))


# -- REST API: pages of lists (items, total), logs in slices, figures for /metrics -----------------


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _page(session: Session, stmt: Any, limit: int, offset: int) -> tuple[list[Any], int]:
    """The rows of `stmt` from `offset` (at most `limit`) and how many it has in all."""
    total = int(session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0)
    return list(session.scalars(stmt.limit(limit).offset(offset))), total


def dag_page(
    session: Session, *, tags: Sequence[str] = (), paused: bool | None = None, search: str | None = None, limit: int, offset: int,
    among: Collection[str] | None = None,
) -> tuple[list[Dag], int]:
    """Active DAGs by dag_id: those with any of `tags`, paused or not, whose dag_id contains `search`
    (and, given `among`, only those)."""
    where: list[ColumnElement[bool]] = [Dag.is_active.is_(True)]
    if among is not None:
        where.append(Dag.dag_id.in_(list(among)))
    if paused is not None:
        where.append(Dag.is_paused.is_(paused))
    if search:
        where.append(Dag.dag_id.ilike(_like_pattern(search), escape="\\"))
    if tags:
        # tags live in the spec JSON, whose operators differ between SQLite and PostgreSQL: match here
        wanted = set(tags)
        ids = [d for d, t in session.execute(select(Dag.dag_id, Dag.spec["tags"]).where(*where)) if wanted.intersection(t or ())]
        where.append(Dag.dag_id.in_(ids))
    return _page(session, select(Dag).where(*where).order_by(Dag.dag_id), limit, offset)


def get_dag_row(session: Session, dag_id: str) -> Dag:
    """The DAG row, active or not: runs of a DAG whose file went away stay readable."""
    row = session.get(Dag, dag_id)
    if row is None:
        raise NotFoundError(f"no DAG with id {dag_id!r}")
    return row


def run_page(
    session: Session,
    dag_id: str,
    *,
    states: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    correlation_id: str | None = None,
    limit: int,
    offset: int,
) -> tuple[list[DagRun], int]:
    """Runs of a DAG, newest logical date first, in any of `states`, with a logical date in [since, until]
    and, if given, that correlation id."""
    stmt = select(DagRun).where(DagRun.dag_id == dag_id).order_by(DagRun.logical_date.desc(), DagRun.queued_at.desc())
    if states:
        stmt = stmt.where(DagRun.state.in_(list(states)))
    if since is not None:
        stmt = stmt.where(DagRun.logical_date >= since)
    if until is not None:
        stmt = stmt.where(DagRun.logical_date <= until)
    if correlation_id is not None:
        stmt = stmt.where(DagRun.correlation_id == correlation_id)
    return _page(session, stmt, limit, offset)


def event_page(session: Session, dag_id: str, run_id: str, *, limit: int, offset: int) -> tuple[list[Event], int]:
    """A run's events, oldest first."""
    stmt = select(Event).where(Event.dag_id == dag_id, Event.run_id == run_id).order_by(Event.id)
    return _page(session, stmt, limit, offset)


def import_error_page(session: Session, *, limit: int, offset: int) -> tuple[list[ImportError_], int]:
    return _page(session, select(ImportError_).order_by(ImportError_.filename), limit, offset)


def audit_page(
    session: Session, *, actor: str | None = None, action: str | None = None, limit: int, offset: int
) -> tuple[list[AuditLog], int]:
    """Audit entries, newest first; `action` matches a prefix ("run." for every run action)."""
    stmt = select(AuditLog).order_by(AuditLog.id.desc())
    if actor:
        stmt = stmt.where(AuditLog.actor == actor)
    if action:
        stmt = stmt.where(AuditLog.action.startswith(action, autoescape=True))
    return _page(session, stmt, limit, offset)


def try_log_slice(
    session: Session, dag_id: str, run_id: str, task_id: str, try_number: int, *, offset: int, limit: int, map_index: int = -1,
    read_ref: Callable[[str], str] | None = None,
) -> tuple[str, int, str]:
    """(characters [offset, offset+limit) of a try's log, the log's length, the try's state).

    Sliced in SQL, so following a long log reads only what is new. A log moved to the log store
    is read whole through `read_ref` (only finished tries' logs are moved); without it, its head.
    """
    row = session.execute(
        select(func.substr(TaskTry.log, offset + 1, limit), func.length(TaskTry.log), TaskTry.state, TaskTry.log_ref).where(
            TaskTry.dag_id == dag_id, TaskTry.run_id == run_id, TaskTry.task_id == task_id, TaskTry.try_number == try_number,
            TaskTry.map_index == map_index,
        )
    ).first()
    if row is None:
        raise NotFoundError(f"task {task_id!r} of run {run_id!r} of DAG {dag_id!r} has no try {try_number}")
    if row[3] is not None and read_ref is not None:
        whole = read_ref(row[3])
        return whole[offset : offset + limit], len(whole), row[2]
    return row[0] or "", int(row[1] or 0), row[2]


def active_dag_ids(session: Session) -> list[str]:
    """The ids of the DAGs in the folder, sorted (nothing else of them)."""
    return list(session.scalars(select(Dag.dag_id).where(Dag.is_active.is_(True)).order_by(Dag.dag_id)))


def count_in_states(session: Session, model: type[DagRun] | type[TaskInstance], states: Collection[str]) -> list[Row[Any]]:
    """(dag_id, state, n): how many runs (or task instances) of each DAG are in each of `states`.
    For the unfinished states: the state index keeps this to the live rows, whatever the history."""
    stmt = select(model.dag_id, model.state, func.count()).where(model.state.in_(list(states))).group_by(model.dag_id, model.state)
    return list(session.execute(stmt).all())


def try_log_lengths(session: Session, dag_id: str, run_id: str, task_id: str, *, map_index: int = -1) -> dict[int, int]:
    """try_number -> how many characters its log has, without reading the logs."""
    stmt = select(TaskTry.try_number, func.coalesce(TaskTry.log_size, func.length(TaskTry.log))).where(
        TaskTry.dag_id == dag_id, TaskTry.run_id == run_id, TaskTry.task_id == task_id, TaskTry.map_index == map_index
    )
    return {int(n): int(length or 0) for n, length in session.execute(stmt)}


def child_runs(session: Session, dag_id: str, run_ids: Sequence[str]) -> dict[str, list[DagRun]]:
    """run_id -> the runs that the run's TriggerDagRunTasks started, oldest first (for the runs of `dag_id` named)."""
    out: dict[str, list[DagRun]] = {run_id: [] for run_id in run_ids}
    if not run_ids:
        return out
    stmt = select(DagRun).where(DagRun.parent_dag_id == dag_id, DagRun.parent_run_id.in_(list(run_ids)))
    for row in session.scalars(stmt.order_by(DagRun.queued_at, DagRun.dag_id, DagRun.run_id)):
        out[row.parent_run_id].append(row)
    return out
