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


def run_dict(row: Any) -> dict[str, Any]:
    """A run row (full or narrow) as the scripts read it."""
    return {
        "run_id": row.run_id,
        "state": row.state,
        "run_type": row.run_type,
        "logical_date": iso(row.logical_date),
        "queued_at": iso(row.queued_at),
        "start_date": iso(row.start_date),
        "end_date": iso(row.end_date),
        "duration_s": seconds_between(row.start_date, row.end_date),
    }


def _role() -> Role | None:
    ident = g.get("identity")
    return None if ident is None else ident.role


def init_present(app: Flask) -> None:
    """Filters and template globals: time formats, and what the current user may do."""
    app.add_template_filter(fmt_time, "time")
    app.add_template_filter(page_data, "page_data")

    @app.context_processor
    def _roles() -> dict[str, Any]:
        role = _role()
        return {
            "ident": g.get("identity"),
            "can_operate": role is not None and role.allows(Role.OPERATOR),
            "is_admin": role is not None and role.allows(Role.ADMIN),
        }
