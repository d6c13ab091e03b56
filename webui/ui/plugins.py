"""The plugins page: each plugin, where it came from, its hooks, and the ones that failed to load."""

from __future__ import annotations

from typing import Any

from flask import render_template

from orchestrator.store.users import Role
from webui.api.plugins import app_plugins
from webui.auth import requires
from webui.ui import ui_blueprint


@ui_blueprint.get("/plugins")
@requires(Role.VIEWER)
def plugins() -> Any:
    summary = app_plugins().summary()
    failed = [p for p in summary["plugins"] if p["error"]]
    return render_template("plugins.html", summary=summary, failed=failed)
