"""The UI blueprint: server-rendered pages, assets served locally."""

from __future__ import annotations

from flask import Blueprint

ui_blueprint = Blueprint("ui", __name__, template_folder="templates", static_folder="static", static_url_path="/static")
