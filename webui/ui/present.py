"""Turning store rows into what templates and the pages' scripts show: times, durations, JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from flask import Flask, g
from markupsafe import Markup

from orchestrator.store.users import Role

RESULT_PREVIEW_CHARS = 20_000


def now() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def fmt_time(value: datetime | None) -> str:
    """UTC, to the second: the one time format of the UI (the scripts print the same)."""
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 3)


def preview(value: Any, limit: int = RESULT_PREVIEW_CHARS) -> str:
    """Pretty JSON of a task result, cut at `limit` characters."""
    text = json.dumps(value, indent=2, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + f"\n… ({len(text) - limit} more characters)"


def page_data(value: Any) -> Markup:
    """JSON for a <script type="application/json"> block; '<' escaped so no tag can close it early."""
    text = json.dumps(value, default=str, separators=(",", ":"))
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def run_dict(row: Any, *, with_failures: bool = False) -> dict[str, Any]:
    """A run row (full or narrow) as the scripts read it; `with_failures`: some task failed (the
    run is badged "success with failures" when it succeeded all the same)."""
    return {
        "run_id": row.run_id,
        "state": row.state,
        "run_type": row.run_type,
        "logical_date": iso(row.logical_date),
        "queued_at": iso(row.queued_at),
        "start_date": iso(row.start_date),
        "end_date": iso(row.end_date),
        "duration_s": seconds_between(row.start_date, row.end_date),
        "with_failures": with_failures,
        "paused": bool(getattr(row, "paused", False)),
        "correlation_id": getattr(row, "correlation_id", None),
        # a state machine's current state: the graph marks it
        "machine_state": (getattr(row, "machine", None) or {}).get("state"),
    }


def schedule_label(schedule: str | None, asset_schedule: dict[str, Any] | None = None, triggers: Any = ()) -> str:
    """What starts a DAG's runs, in words: its cron, its assets, outside events, or only a trigger
    by hand (a DAG without a schedule is "manual only", never Python's None)."""
    if schedule:
        return schedule
    if asset_schedule:
        uris = asset_schedule.get("uris") or []
        return f"on {'any of ' if asset_schedule.get('mode') == 'any' else ''}{len(uris)} asset{'s' if len(uris) != 1 else ''}"
    if triggers:
        return f"on event{'s' if len(triggers) != 1 else ''}"
    return "manual only"


STEP_LABELS = {
    "python": "Python function",
    "shell": "Shell command (ShellTask)",
    "http": "HTTP request (HttpTask)",
    "sql": "SQL statement (SqlTask)",
    "notify": "Notification (NotifyTask)",
    "approval": "Human approval (ApprovalTask)",
    "wait_for_event": "Wait for an event (WaitForEvent)",
    "trigger_dag_run": "Trigger another DAG (TriggerDagRunTask)",
    "sub_dag": "Sub-workflow (SubDagTask)",
}
DAG_FILE_MODULE_PREFIX = "orch_dag_"
"""The loader imports a DAG file under a made-up module name (orchestrator.execution.loader); users know the file."""


def step_label(step_type: str) -> str:
    """The step type as its users know it; a plugin's own step type shows by its registered name."""
    return STEP_LABELS.get(step_type, step_type)


def callable_label(ref: str | None, fileloc: str | None) -> str | None:
    """`module:qualname` of a task's function, with the loader's internal module name of a DAG
    file replaced by the file's name."""
    if not ref:
        return None
    module, _, name = ref.partition(":")
    if module.startswith(DAG_FILE_MODULE_PREFIX):
        where = fileloc.rsplit("/", 1)[-1] if fileloc else "the DAG file"
        return f"{name} (in {where})"
    return f"{name} (from {module})" if name else ref


def _role() -> Role | None:
    ident = g.get("identity")
    return None if ident is None else ident.role


def init_present(app: Flask) -> None:
    """Filters and template globals: time formats, and what the current user may do."""
    app.add_template_filter(fmt_time, "time")
    app.add_template_filter(page_data, "page_data")
    app.add_template_global(schedule_label, "schedule_label")
    app.add_template_filter(step_label, "step_label")
    app.add_template_global(callable_label, "callable_label")

    @app.context_processor
    def _roles() -> dict[str, Any]:
        role = _role()
        return {
            "ident": g.get("identity"),
            "can_operate": role is not None and role.allows(Role.OPERATOR),
            "is_admin": role is not None and role.allows(Role.ADMIN),
        }
