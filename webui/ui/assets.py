"""The assets page: every known asset with its last update, producers and consumers, and recent updates."""

from __future__ import annotations

from typing import Any

from flask import render_template, request

from orchestrator.store import assets as asset_store
from orchestrator.store.users import Role
from webui.auth import requires
from webui.state import web_state
from webui.ui import ui_blueprint

UPDATES_SHOWN = 50  # newest first; the API pages through the rest


@ui_blueprint.get("/assets")
@requires(Role.VIEWER)
def assets() -> Any:
    uri = request.args.get("uri", "").strip() or None
    with web_state().read_sessions() as s:
        rows = asset_store.summaries(s)
        updates, total = asset_store.list_events(s, uri=uri, limit=UPDATES_SHOWN, offset=0)
    return render_template("assets.html", assets=rows, updates=updates, updates_total=total, uri=uri)
