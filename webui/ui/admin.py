"""The audit log (admins), import errors and health (scheduler, database, Dask workers)."""

from __future__ import annotations

import time
from typing import Any

from flask import jsonify, render_template, request
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from orchestrator.store import queries
from orchestrator.store.users import Role
from webui.auth import requires
from webui.state import web_state
from webui.ui import ui_blueprint
from webui.ui.present import iso, now

AUDIT_PAGE = 100


@ui_blueprint.get("/audit")
@requires(Role.ADMIN)
def audit_log() -> Any:
    actor = request.args.get("actor", "").strip()
    action = request.args.get("action", "").strip()
    before = request.args.get("before", type=int)
    with web_state().read_sessions() as s:
        entries = queries.audit_entries(s, actor=actor or None, action=action or None, before_id=before, limit=AUDIT_PAGE + 1)
    more = len(entries) > AUDIT_PAGE
    entries = entries[:AUDIT_PAGE]
    return render_template(
        "audit.html", entries=entries, actor=actor, action=action, older=entries[-1].id if more else None
    )


@ui_blueprint.get("/import-errors")
@requires(Role.VIEWER)
def import_errors() -> Any:
    with web_state().read_sessions() as s:
        errors = queries.list_import_errors(s)
    return render_template("import_errors.html", errors=errors)


def health_data() -> dict[str, Any]:
    """Scheduler heartbeats, a database round trip and the Dask workers the freshest scheduler reports."""
    state = web_state()
    at = now()
    threshold = state.config.scheduler_health_threshold_s
    engine = state.read_sessions.kw["bind"]
    database: dict[str, Any] = {"dialect": engine.dialect.name, "url": engine.url.render_as_string(hide_password=True)}
    jobs: list[Any] = []
    with state.read_sessions() as s:
        started = time.perf_counter()
        try:
            s.execute(text("SELECT 1"))
            database.update(ok=True, latency_ms=round((time.perf_counter() - started) * 1000, 2))
            jobs = queries.recent_scheduler_jobs(s, limit=5)
        except SQLAlchemyError as exc:
            database.update(ok=False, error=str(exc.__cause__ or exc).splitlines()[0])
    schedulers = [
        {
            "id": j.id, "hostname": j.hostname, "pid": j.pid, "state": j.state, "started_at": iso(j.started_at),
            "last_heartbeat": iso(j.last_heartbeat), "heartbeat_age_s": round((at - j.last_heartbeat).total_seconds(), 1),
        }
        for j in jobs
    ]
    for job in schedulers:
        job["healthy"] = job["state"] == "running" and job["heartbeat_age_s"] <= threshold
    live = next((j for j, d in zip(jobs, schedulers) if d["healthy"]), None)
    stats = (live.stats if live is not None else None) or {}
    return {
        "now": iso(at),
        "healthy": bool(database.get("ok")) and live is not None,
        "threshold_s": threshold,
        "database": database,
        "schedulers": schedulers,
        "stats_reported": bool(stats),
        "dask_workers": stats.get("dask_workers") or [],
        "loop_ms": stats.get("loop_ms"),
        "queue_depth": stats.get("queue_depth"),
        "active_runs": stats.get("active_runs"),
    }


@ui_blueprint.get("/health")
@requires(Role.VIEWER)
def health() -> Any:
    return render_template("health.html", data=health_data())


@ui_blueprint.get("/data/health")
@requires(Role.VIEWER)
def health_json() -> Any:
    return jsonify(health_data())
