"""The connections page: the database's and the environment's connections, never their secrets."""

from __future__ import annotations

from typing import Any

from flask import render_template

from orchestrator.store.users import Role
from webui.api.connections import listed_connections
from webui.auth import requires
from webui.ui import ui_blueprint


@ui_blueprint.get("/connections")
@requires(Role.VIEWER)
def connections() -> Any:
    # the API's view of them: masked, the password itself never reaches the template
    rows = [c.model_dump() for c in listed_connections()]
    return render_template("connections.html", connections=rows)
