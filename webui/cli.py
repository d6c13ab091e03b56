"""The web UI's commands and its part in `orchestrator standalone`, added through the plugin hooks."""

from __future__ import annotations

import logging
from typing import Any

import click

from orchestrator.cli.common import CliState, handle_errors, pass_state
from orchestrator.plugins.hookspecs import hookimpl


@click.command("webui")
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1, ORCH_WEBUI_HOST).")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port (default 8080, ORCH_WEBUI_PORT).")
@pass_state
@handle_errors
def webui_command(state: CliState, host: str | None, port: int | None) -> None:
    """Serve the web UI and REST API alone (the scheduler runs elsewhere)."""
    from webui.server import WebServer

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = state.config
    server = WebServer(config, state.sessions(), host or config.webui_host, config.webui_port if port is None else port)
    click.echo(f"web UI on http://{server.host}:{server.port}", err=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass


@hookimpl
def orchestrator_cli_commands(cli: click.Group) -> None:
    cli.add_command(webui_command)


@hookimpl
def orchestrator_services(config: Any, sessions: Any, options: dict[str, Any]) -> list[Any]:
    from webui.server import WebServer

    host = options.get("host") or config.webui_host
    port = config.webui_port if options.get("port") is None else options["port"]
    return [WebServer(config, sessions, host, port)]
