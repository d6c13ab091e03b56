"""The schedules page: named schedules beside the DAGs' own, with create, edit, pause, resume and delete.

Every button acts through the REST API (operators only; each change is audited there); the page
itself only reads.
"""

from __future__ import annotations

from typing import Any

from flask import render_template
from sqlalchemy import select

from orchestrator.store import schedules as schedule_store
from orchestrator.store.models import Dag
from orchestrator.store.users import Role
from webui.auth import requires
from webui.state import web_state
from webui.ui import ui_blueprint


@ui_blueprint.get("/schedules")
@requires(Role.VIEWER)
def schedules() -> Any:
    with web_state().read_sessions() as s:
        rows = schedule_store.list_all(s)
        dag_ids = list(s.scalars(select(Dag.dag_id).where(Dag.is_active.is_(True)).order_by(Dag.dag_id)))
    return render_template("schedules.html", schedules=rows, dag_ids=dag_ids)
