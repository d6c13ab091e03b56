"""The REST API blueprint, /api/v1."""

from __future__ import annotations

from flask import Blueprint

api_blueprint = Blueprint("api", __name__)
