"""The REST API blueprint, /api/v1: each module declares its operations with `@endpoint`."""

from __future__ import annotations

from flask import Blueprint

api_blueprint = Blueprint("api", __name__)

# the modules register their routes on api_blueprint when imported
from webui.api import dags, openapi, runs, system, tasks  # noqa: E402,F401
from webui.api import plugins  # noqa: E402,F401
from webui.api import connections  # noqa: E402,F401
from webui.api import circuits  # noqa: E402,F401
from webui.api import backfills  # noqa: E402,F401
from webui.api import schedules  # noqa: E402,F401
from webui.api import assets, events  # noqa: E402,F401
from webui.api import versions  # noqa: E402,F401
from webui.api import approvals  # noqa: E402,F401
from webui.api import variables  # noqa: E402,F401
from webui.api import simulation  # noqa: E402,F401
from webui.api import run_controls  # noqa: E402,F401
from webui.api import definitions  # noqa: E402,F401
from webui.api import machines  # noqa: E402,F401
