"""Serving the app: a threaded WSGI server that can be stopped from another thread."""

from __future__ import annotations

import logging

from werkzeug.serving import BaseWSGIServer, make_server

from orchestrator.core.config import Config
from webui import create_app

log = logging.getLogger(__name__)


class WebServer:
    """The web UI and API as a service: `run()` blocks, `stop()` ends it."""

    name = "webui"

    def __init__(self, config: Config, sessions: object, host: str, port: int) -> None:
        app = create_app(config, sessions=sessions)  # type: ignore[arg-type]
        self._server: BaseWSGIServer = make_server(host, port, app, threaded=True)
        self.port = self._server.server_port
        self.host = host

    def run(self) -> None:
        log.info("web UI and API on http://%s:%d", self.host, self.port)
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
