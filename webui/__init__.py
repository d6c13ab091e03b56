"""The web UI and REST API: a Flask app factory. Reads the store; never imports DAG code.

Imports `core`, `store`, `plugins` and `operations`; never `authoring`, `execution`, `declarative` or the scheduler.
"""

from __future__ import annotations

import atexit
import os
import secrets
import time
from pathlib import Path

from flask import Flask, Response, g
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.core.config import Config, load_config
from orchestrator.store.db import make_engine, make_sessionmaker
from webui.access import init_access
from webui.auth import init_auth
from webui.errors import init_errors
from webui.limits import init_limits
from webui.state import WebState


def _secret_key(config: Config) -> str:
    """A key that survives restarts (sessions stay valid): kept in $ORCH_HOME, mode 600."""
    if config.secret_key:
        return config.secret_key
    path = Path(config.home) / "webui_secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def _init_server_timing(app: Flask) -> None:
    """Every answer says how long the server worked on it (`Server-Timing: app;dur=<ms>`)."""

    @app.before_request
    def _start_clock() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _stop_clock(response: Response) -> Response:
        started = g.get("started")
        if started is not None:
            response.headers["Server-Timing"] = f"app;dur={1000 * (time.perf_counter() - started):.2f}"
        return response


def _init_plugins(app: Flask, config: Config) -> None:
    """Load the plugins once (the plugins page and API show them) and mount their blueprints.

    Clashing registrations stop the start-up, as they stop the scheduler's.
    """
    from orchestrator.plugins.manager import load_plugins
    from orchestrator.plugins.listeners import ListenerThread
    from webui.api.plugins import EXTENSION
    from webui.state import LISTENERS

    plugins = load_plugins(config)
    plugins.check()
    app.extensions[EXTENSION] = plugins
    # users' actions (cancel, clear, pause) reach the listeners as the scheduler's changes do
    listeners = app.extensions[LISTENERS] = ListenerThread(plugins)
    atexit.register(listeners.close)
    for blueprint in plugins.web_blueprints():
        app.register_blueprint(blueprint)


def create_app(config: Config | None = None, *, sessions: sessionmaker[Session] | None = None) -> Flask:
    """The Flask app: /api/v1 (JSON, bearer tokens or the UI's session) and the UI pages."""
    from webui.api import api_blueprint
    from webui.api.metrics import metrics_blueprint
    from webui.ui import ui_blueprint

    config = config or load_config()
    if sessions is None:
        sessions = make_sessionmaker(make_engine(config.resolved_database_url))
    app = Flask(__name__, static_folder=None)
    app.config.update(
        SECRET_KEY=_secret_key(config),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        JSON_SORT_KEYS=False,
    )
    app.extensions["orchestrator"] = WebState(
        config=config,
        sessions=sessions,
        read_sessions=make_sessionmaker(sessions.kw["bind"], readonly=True),
    )
    init_errors(app)
    _init_server_timing(app)
    # limits first: a client over its limit is refused before its credentials are even looked at
    init_limits(app, config)
    init_auth(app)
    app.register_blueprint(api_blueprint, url_prefix="/api/v1")
    app.register_blueprint(ui_blueprint)
    init_access(app, ui_blueprint.name)
    app.register_blueprint(metrics_blueprint)
    _init_plugins(app, config)
    return app
