"""The connections page: the database's connections, never their secrets."""

from __future__ import annotations

from typing import Any

from flask import render_template

from orchestrator.store import connections as connection_store
from orchestrator.store.users import Role
from webui.auth import requires
from webui.state import web_state
from webui.ui import ui_blueprint


@ui_blueprint.get("/connections")
@requires(Role.VIEWER)
def connections() -> Any:
    state = web_state()
    with state.read_sessions() as s:
        conns = connection_store.list_all(s, connection_store.crypter(state.config))
    # only what is safe to show goes to the template: the password itself never does
    rows = [
        {**{k: v for k, v in c.masked().items() if k != "password"}, "has_password": c.password is not None}
        for c in conns
    ]
    return render_template("connections.html", connections=rows)
