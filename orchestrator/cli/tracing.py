"""`orchestrator tracing`: send traces of runs and tasks to the configured OTLP endpoint (orchestrator.plugins.tracing)."""

from __future__ import annotations

import logging

import click

from orchestrator.cli.common import CliState, handle_errors, pass_state
from orchestrator.core.errors import ConfigError
from orchestrator.plugins.hookspecs import hookimpl
from orchestrator.plugins.tracing import exporter_for


@click.command("tracing")
@pass_state
@handle_errors
def tracing_command(state: CliState) -> None:
    """Send traces of runs and tasks to tracing_otlp_endpoint until SIGTERM / Ctrl-C (run one per deployment)."""
    from orchestrator.cli.admin import run_services

    if not state.config.tracing_otlp_endpoint:
        raise ConfigError("tracing is off: set ORCH_TRACING_OTLP_ENDPOINT (e.g. http://127.0.0.1:4318) or tracing_otlp_endpoint in the config file")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    exporter = exporter_for(state.config, state.sessions())
    assert exporter is not None
    click.echo(f"tracing: runs and tasks to {state.config.tracing_otlp_endpoint}", err=True)
    run_services([exporter])


@hookimpl
def orchestrator_cli_commands(cli: click.Group) -> None:
    cli.add_command(tracing_command)
