"""The UI blueprint: server-rendered pages, assets served locally.

Pages render their first view on the server and embed it as JSON; their scripts (static/) keep
running pages live: a server-sent event stream (live.py) says when what a page shows changed, and
the page fetches its small JSON route under /data/ again. They act through the REST API with
the session cookie and the X-CSRFToken header.
"""

from __future__ import annotations

from flask import Blueprint
from flask.blueprints import BlueprintSetupState

ui_blueprint = Blueprint("ui", __name__, template_folder="templates", static_folder="static", static_url_path="/static")


@ui_blueprint.record_once
def _setup(state: BlueprintSetupState) -> None:
    from webui.ui.present import init_present

    init_present(state.app)


# the views register themselves on the blueprint
from webui.ui import admin, dags, login, runs  # noqa: E402,F401
from webui.ui import plugins  # noqa: E402,F401
from webui.ui import connections  # noqa: E402,F401
from webui.ui import variables  # noqa: E402,F401
from webui.ui import markdown  # noqa: E402,F401
from webui.ui import trigger_form  # noqa: E402,F401
from webui.ui import circuits  # noqa: E402,F401
from webui.ui import schedules  # noqa: E402,F401
from webui.ui import assets, events  # noqa: E402,F401
from webui.ui import approvals  # noqa: E402,F401
from webui.ui import live  # noqa: E402,F401
from webui.ui import late  # noqa: E402,F401
