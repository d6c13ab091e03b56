"""The variables page: the database's Variables (sensitive values masked), set and delete through the API."""

from __future__ import annotations

import json
from typing import Any

from flask import render_template

from orchestrator.core.variables import env_variables, shown
from orchestrator.store.users import Role
from webui.api.schemas import PageQuery
from webui.api.variables import list_variables
from webui.auth import requires
from webui.ui import ui_blueprint


@ui_blueprint.get("/variables")
@requires(Role.VIEWER)
def variables() -> Any:
    # the API's view: a sensitive value never reaches the template
    rows = [v.model_dump() for v in list_variables(PageQuery(limit=1000)).items]
    for row in rows:
        row["shown"] = row["value"] if isinstance(row["value"], str) else json.dumps(row["value"])
    env = [{"key": k, "shown": shown(k, v)} for k, v in sorted(env_variables().items())]
    return render_template("variables.html", variables=rows, env_variables=env)
