"""Writes to the DAG tables: dag, dag_version, dag_file and import_error."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from orchestrator.core.assets import schedule_label
from orchestrator.core.errors import NotFoundError
from orchestrator.core.parsing import FileResult, FileStat
from orchestrator.core.schedule import DataInterval, upcoming_interval
from orchestrator.core.spec import DagSpec
from orchestrator.core.states import RUN_ACTIVE
from orchestrator.store import changes as change_store
from orchestrator.store import events
from orchestrator.store.models import Dag, DagFile, DagRun, DagVersion, ImportError_

DAG_ID_CLASH = "DuplicateDagIdError"
"""How the import error of a file whose dag_id another file already defines begins."""
DEPENDENCY_CYCLE = "DependencyCycleError"
"""How the import error of a file whose DAG is on a cycle of depends_on begins."""


def _scheduled_by_own_cron(dag_ids: Iterable[str]) -> Any:
    # the DAG's own cron runs and backfills; named schedules keep their own intervals
    return (
        DagRun.dag_id.in_(list(dag_ids)),
        or_(DagRun.run_type == "backfill", DagRun.run_id.startswith("scheduled__", autoescape=True)),
    )


def last_scheduled_intervals(session: Session, dag_ids: Iterable[str]) -> dict[str, DataInterval]:
    """The data interval of the newest scheduled (cron) run of each DAG that has one (one query)."""
    ids = list(dag_ids)
    if not ids:
        return {}
    newest = (
        select(DagRun.dag_id, func.max(DagRun.data_interval_end).label("end"))
        .where(*_scheduled_by_own_cron(ids))
        .group_by(DagRun.dag_id)
        .subquery()
    )
    rows = session.execute(
        select(DagRun.dag_id, DagRun.data_interval_start, DagRun.data_interval_end)
        .join(newest, and_(DagRun.dag_id == newest.c.dag_id, DagRun.data_interval_end == newest.c.end))
        .where(*_scheduled_by_own_cron(ids))
    ).all()
    return {r.dag_id: DataInterval(r.data_interval_start, r.data_interval_end) for r in rows if r.data_interval_start is not None}


def active_run_counts(session: Session, dag_ids: Iterable[str]) -> dict[str, int]:
    """How many queued or running runs each DAG has (one query; DAGs without any are left out)."""
    rows = session.execute(
        select(DagRun.dag_id, func.count())
        .where(DagRun.dag_id.in_(list(dag_ids)), DagRun.state.in_([s.value for s in RUN_ACTIVE]))
        .group_by(DagRun.dag_id)
    ).all()
    return {dag_id: count for dag_id, count in rows}


def next_run_at(spec: DagSpec, last: DataInterval | None, now: datetime) -> datetime | None:
    """When the next scheduled run of `spec` is due after the interval `last`; None if unscheduled."""
    if spec.schedule is None:
        return None
    nxt = upcoming_interval(spec.schedule, spec.timezone, spec.start_date, last, now, catchup=spec.catchup)
    return None if nxt is None else nxt.end


def compute_next_run_at(session: Session, spec: DagSpec, now: datetime) -> datetime | None:
    """When the next scheduled run of `spec` is due, reading its newest scheduled run from the store."""
    return next_run_at(spec, last_scheduled_intervals(session, [spec.dag_id]).get(spec.dag_id), now)


def record_file_result(
    session: Session, result: FileResult, stat: FileStat, content_hash: str, now: datetime, *, paused_default: bool
) -> FileResult:
    """Store what parsing one file gave; returns the result, turned into an error on a dag_id clash."""
    previous = session.get(DagFile, result.path)
    previous_ids = set(previous.dag_ids) if previous else set()
    if result.error is None:
        clash = _dag_id_clash(session, result)
        if clash:
            result = FileResult(result.path, error=clash, duration_s=result.duration_s)
    session.merge(
        DagFile(
            path=result.path,
            mtime=stat.mtime,
            size=stat.size,
            content_hash=content_hash,
            dag_ids=sorted(s.dag_id for s in result.specs) if result.error is None else sorted(previous_ids),
            last_parsed_at=now,
        )
    )
    if result.error is not None:
        session.merge(ImportError_(filename=result.path, message=result.error, traceback=result.traceback, timestamp=now))
        return result
    session.execute(delete(ImportError_).where(ImportError_.filename == result.path))
    for spec in result.specs:
        upsert_dag(session, spec, now, paused_default=paused_default)
    gone = previous_ids - {s.dag_id for s in result.specs}
    if gone:
        session.execute(update(Dag).where(Dag.dag_id.in_(gone)).values(is_active=False))
    return result


def _dag_id_clash(session: Session, result: FileResult) -> str | None:
    ids = [s.dag_id for s in result.specs]
    if not ids:
        return None
    rows = session.execute(
        select(Dag.dag_id, Dag.fileloc).where(Dag.dag_id.in_(ids), Dag.is_active.is_(True), Dag.fileloc != result.path)
    ).all()
    if not rows:
        return None
    dag_id, other = rows[0]
    return f"{DAG_ID_CLASH}: dag_id {dag_id!r} is already defined in {other}; rename one of them"


def refused_files(session: Session) -> set[str]:
    """Files refused because another file holds their dag_id, or because their DAG is on a cycle of
    depends_on: a change elsewhere may free the dag_id or break the cycle."""
    refused = or_(*(ImportError_.message.startswith(f"{prefix}:") for prefix in (DAG_ID_CLASH, DEPENDENCY_CYCLE)))
    return set(session.scalars(select(ImportError_.filename).where(refused)))


def dependency_graph(session: Session) -> dict[str, list[str]]:
    """Every active DAG -> the dag_ids its depends_on name."""
    rows = session.execute(select(Dag.dag_id, Dag.spec["depends_on"].label("depends_on")).where(Dag.is_active.is_(True)))
    return {r.dag_id: [dep["dag_id"] for dep in r.depends_on or ()] for r in rows}


def refuse_dags(session: Session, messages: dict[str, str], now: datetime) -> dict[str, str]:
    """Stop scheduling DAGs whose files loaded but which must not run (dag_id -> why): each becomes
    inactive and its file gets the import error. Returns file path -> its import error."""
    by_file: dict[str, list[str]] = {}
    for dag_id, fileloc in session.execute(select(Dag.dag_id, Dag.fileloc).where(Dag.dag_id.in_(list(messages)))):
        by_file.setdefault(fileloc, []).append(messages[dag_id])
    session.execute(update(Dag).where(Dag.dag_id.in_(list(messages))).values(is_active=False, next_run_at=None))
    errors = {path: "; ".join(sorted(texts)) for path, texts in by_file.items()}
    for path, message in errors.items():
        session.merge(ImportError_(filename=path, message=message, traceback="", timestamp=now))
    return errors


def upsert_dag(session: Session, spec: DagSpec, now: datetime, *, paused_default: bool) -> None:
    """Insert or update the dag row and remember the spec version (numbered when first seen; a spec
    that returns to an earlier version's hash is that version again)."""
    payload = spec.model_dump(mode="json")
    if session.get(DagVersion, (spec.dag_id, spec.version_hash)) is None:
        newest = session.scalar(select(func.max(DagVersion.version_number)).where(DagVersion.dag_id == spec.dag_id))
        session.add(DagVersion(
            dag_id=spec.dag_id, version_hash=spec.version_hash, spec=payload, created_at=now, version_number=(newest or 0) + 1,
        ))
    row = session.get(Dag, spec.dag_id)
    if row is None:
        row = Dag(dag_id=spec.dag_id, is_paused=paused_default)
        session.add(row)
    row.fileloc = spec.fileloc
    row.is_active = True
    row.schedule = schedule_label(spec)  # what lists show: the cron, or the assets / events it waits for
    row.timezone = spec.timezone
    row.version_hash = spec.version_hash
    row.spec = payload
    row.last_parsed_at = now
    session.flush()
    row.next_run_at = compute_next_run_at(session, spec, now)


def touch_file(session: Session, stat: FileStat) -> None:
    """The file's mtime changed but not its content: remember the new mtime only."""
    session.execute(update(DagFile).where(DagFile.path == stat.path).values(mtime=stat.mtime, size=stat.size))


def forget_files(session: Session, paths: Iterable[str]) -> None:
    """Files deleted from the DAG folder: their DAGs become inactive, their errors go."""
    paths = list(paths)
    if not paths:
        return
    session.execute(update(Dag).where(Dag.fileloc.in_(paths)).values(is_active=False, next_run_at=None))
    session.execute(delete(ImportError_).where(ImportError_.filename.in_(paths)))
    session.execute(delete(DagFile).where(DagFile.path.in_(paths)))


def set_paused(session: Session, dag_id: str, paused: bool, now: datetime, actor: str = "cli") -> bool:
    """Pause or unpause a DAG; returns the previous value. Raises NotFoundError for an unknown DAG."""
    row = session.get(Dag, dag_id)
    if row is None:
        raise NotFoundError(f"no DAG with id {dag_id!r}: `orchestrator dags list` shows the known DAGs")
    before = row.is_paused
    row.is_paused = paused
    if before != paused:
        events.append(session, [events.event("dag.paused" if paused else "dag.unpaused", now, dag_id=dag_id, actor=actor)])
        change_store.touch(session)  # an unpaused DAG's queued runs start at the schedulers' next check
    return before


# -- versions (read) ---------------------------------------------------------------------------
def version_summaries(session: Session, dag_id: str, *, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    """The DAG's versions, newest first (number, hash, when first parsed, whether current, the author's
    label, how many tasks and how many runs are pinned to it), and how many there are."""
    dag = session.get(Dag, dag_id)
    if dag is None:
        raise NotFoundError(f"no DAG with id {dag_id!r}")
    total = session.scalar(select(func.count()).select_from(DagVersion).where(DagVersion.dag_id == dag_id)) or 0
    rows = session.scalars(
        select(DagVersion).where(DagVersion.dag_id == dag_id).order_by(DagVersion.version_number.desc()).limit(limit).offset(offset)
    ).all()
    runs = dict(
        session.execute(
            select(DagRun.version_hash, func.count())
            .where(DagRun.dag_id == dag_id, DagRun.version_hash.in_([r.version_hash for r in rows]))
            .group_by(DagRun.version_hash)
        ).all()
    )
    return [version_summary(r, dag.version_hash, runs.get(r.version_hash, 0)) for r in rows], total


def version_summary(row: DagVersion, current_hash: str, runs: int) -> dict[str, Any]:
    return {
        "number": row.version_number, "version_hash": row.version_hash, "created_at": row.created_at,
        "current": row.version_hash == current_hash, "version_label": row.spec.get("version_label"),
        "tasks": len(row.spec.get("tasks") or ()), "runs": runs,
    }


def get_version(session: Session, dag_id: str, number: int) -> DagVersion:
    """Version `number` of the DAG; NotFoundError naming the versions there are."""
    row = session.scalar(select(DagVersion).where(DagVersion.dag_id == dag_id, DagVersion.version_number == number))
    if row is None:
        newest = session.scalar(select(func.max(DagVersion.version_number)).where(DagVersion.dag_id == dag_id))
        there = f"it has versions 1 to {newest}" if newest else "it has no versions"
        raise NotFoundError(f"DAG {dag_id!r} has no version {number}: {there}")
    return row


def runs_of_version(session: Session, dag_id: str, version_hash: str) -> int:
    return session.scalar(select(func.count()).select_from(DagRun).where(DagRun.dag_id == dag_id, DagRun.version_hash == version_hash)) or 0


def versions_to_compare(session: Session, dag_id: str, older: int | None, newer: int | None) -> tuple[DagVersion, DagVersion]:
    """Versions `older` and `newer` of the DAG; by default the current one and the one before it."""
    if newer is not None:
        new = get_version(session, dag_id, newer)
    else:
        dag = session.get(Dag, dag_id)
        if dag is None:
            raise NotFoundError(f"no DAG with id {dag_id!r}")
        found = session.get(DagVersion, (dag_id, dag.version_hash))
        if found is None:
            raise NotFoundError(f"the current version of DAG {dag_id!r} is not stored")
        new = found
    return get_version(session, dag_id, older if older is not None else max(new.version_number - 1, 1)), new
