"""The events page: recent events from outside systems, and the runs each started."""

from __future__ import annotations

from typing import Any

from flask import render_template, request

from orchestrator.store import external_events as event_store
from orchestrator.store.users import Role
from webui.auth import requires
from webui.state import web_state
from webui.ui import ui_blueprint

EVENTS_SHOWN = 100  # newest first; the API pages through the rest


@ui_blueprint.get("/events")
@requires(Role.VIEWER)
def events() -> Any:
    kind = request.args.get("type", "").strip() or None
    with web_state().read_sessions() as s:
        rows, total = event_store.page(s, type=kind, limit=EVENTS_SHOWN, offset=0)
        runs, failures = event_store.outcomes(s, [r.id for r in rows])
    return render_template("events.html", events=rows, total=total, runs=runs, failures=failures, type=kind)
