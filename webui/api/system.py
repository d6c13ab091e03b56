"""/health, /import-errors and /audit: the state of the installation rather than of one DAG."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Response
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from orchestrator.store import queries
from orchestrator.store.models import SchedulerJob
from orchestrator.store.users import Role
from webui.api.endpoint import endpoint
from webui.api.schemas import (
    AuditEntry,
    AuditQuery,
    DatabaseHealth,
    Health,
    ImportErrorOut,
    Page,
    PageQuery,
    SchedulerHealth,
    SchedulerStats,
)
from webui.state import web_state


def newest_scheduler(s: Session) -> SchedulerJob | None:
    """The running scheduler with the latest heartbeat, else the last one seen at all."""
    jobs = queries.recent_scheduler_jobs(s, limit=20)
    running = [j for j in jobs if j.state == "running"]
    return (running or jobs or [None])[0]


def scheduler_stats(job: SchedulerJob | None) -> SchedulerStats:
    """What the scheduler reported with its heartbeat; empty when it reported nothing usable."""
    if job is None or not job.stats:
        return SchedulerStats()
    try:
        return SchedulerStats.model_validate(job.stats)
    except ValidationError:
        return SchedulerStats()


def _scheduler_health(job: SchedulerJob | None, stats: SchedulerStats, now: datetime, threshold_s: float) -> SchedulerHealth:
    age = (now - job.last_heartbeat).total_seconds() if job is not None else None
    alive = job is not None and job.state == "running" and age is not None and age <= threshold_s
    return SchedulerHealth(
        status="healthy" if alive else "unhealthy", last_heartbeat=job.last_heartbeat if job else None, heartbeat_age_s=age,
        hostname=job.hostname if job else None, pid=job.pid if job else None, loop_ms=stats.loop_ms,
        queue_depth=stats.queue_depth, active_runs=stats.active_runs,
    )


def check_health() -> Health:
    """Healthy when the database answers and a scheduler heartbeated within the configured threshold."""
    state = web_state()
    now = datetime.now(UTC)
    try:
        with state.read_sessions() as s:
            s.execute(text("SELECT 1"))
            job = newest_scheduler(s)
    except SQLAlchemyError as exc:
        reason = " ".join(str(getattr(exc, "orig", None) or exc).split())
        return Health(
            status="unhealthy", database=DatabaseHealth(status="unhealthy", message=f"the database is unreachable: {reason}"),
            scheduler=_scheduler_health(None, SchedulerStats(), now, state.config.scheduler_health_threshold_s), dask_workers=[],
        )
    stats = scheduler_stats(job)
    scheduler = _scheduler_health(job, stats, now, state.config.scheduler_health_threshold_s)
    return Health(
        status=scheduler.status, database=DatabaseHealth(status="healthy", message=None), scheduler=scheduler,
        dask_workers=stats.dask_workers if scheduler.status == "healthy" else [],
    )


@endpoint("GET", "/health", summary="Health", tag="system", role=None, response=Health, other_responses={503: Health})
def health() -> Response:
    """Scheduler heartbeat age, database and Dask workers; 503 when unhealthy. Needs no authentication."""
    result = check_health()
    return Response(result.model_dump_json(), status=200 if result.status == "healthy" else 503, mimetype="application/json")


@endpoint(
    "GET", "/import-errors", summary="List import errors", tag="system", role=Role.VIEWER, query=PageQuery,
    response=Page[ImportErrorOut],
)
def import_errors(query: PageQuery) -> Page[ImportErrorOut]:
    """DAG files that could not be loaded, by file name, with the error and its traceback."""
    with web_state().read_sessions() as s:
        rows, total = queries.import_error_page(s, limit=query.limit, offset=query.offset)
        return Page[ImportErrorOut](items=[ImportErrorOut.model_validate(r) for r in rows], total=total)


@endpoint("GET", "/audit", summary="Read the audit log", tag="system", role=Role.ADMIN, query=AuditQuery, response=Page[AuditEntry])
def audit_log(query: AuditQuery) -> Page[AuditEntry]:
    """Every mutating action (API, UI, CLI), newest first; `action` matches a prefix such as `run.`."""
    with web_state().read_sessions() as s:
        rows, total = queries.audit_page(s, actor=query.actor, action=query.action, limit=query.limit, offset=query.offset)
        return Page[AuditEntry](items=[AuditEntry.model_validate(r) for r in rows], total=total)
