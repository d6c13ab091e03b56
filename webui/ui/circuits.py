"""The circuits page: every circuit breaker with a reset button, and the dead-lettered tasks with a retry button.

Both buttons act through the REST API (operators only); the page itself only reads.
"""

from __future__ import annotations

from typing import Any

from flask import render_template

from orchestrator.store import circuits as circuit_store
from orchestrator.store import deadletters
from orchestrator.store.users import Role
from webui.auth import requires
from webui.state import web_state
from webui.ui import ui_blueprint

DEAD_LETTERS_SHOWN = 200  # newest first; the API pages through the rest


@ui_blueprint.get("/circuits")
@requires(Role.VIEWER)
def circuits() -> Any:
    with web_state().read_sessions() as s:
        breakers = circuit_store.list_rows(s)
        letters, total = deadletters.list_dead_letters(s, limit=DEAD_LETTERS_SHOWN)
    return render_template("circuits.html", breakers=breakers, dead_letters=letters, dead_letters_total=total)
