"""The Late page: runs and tasks that missed their deadline, newest first, with their state now."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import render_template, request

from orchestrator.store import late as late_store
from orchestrator.store.users import Role
from webui.access import readable_dag_ids
from webui.auth import requires
from webui.state import web_state
from webui.ui import ui_blueprint

LATE_SHOWN = 200  # newest first; GET /api/v1/late pages through the rest


@ui_blueprint.get("/late")
@requires(Role.VIEWER)
def late() -> Any:
    dag_id = request.args.get("dag", "").strip() or None
    with web_state().read_sessions() as s:
        rows, total = late_store.late_page(s, dag_id=dag_id, among=readable_dag_ids(s), limit=LATE_SHOWN)
    deadlines = {r.id: _deadline(r.payload) for r in rows}
    return render_template("late.html", rows=rows, total=total, dag=dag_id, deadlines=deadlines)


def _deadline(payload: dict[str, Any] | None) -> datetime | None:
    """The time the run or task should have finished by (the event keeps it as ISO text)."""
    text = (payload or {}).get("deadline")
    return datetime.fromisoformat(text) if text else None
