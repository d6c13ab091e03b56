"""`orchestrator plugins list`: each plugin, where it came from, its hooks, and the ones that failed."""

from __future__ import annotations

import json

import click

from orchestrator.cli.common import EXIT_FAILURE, CliState, dags_option, handle_errors, pass_state
from orchestrator.plugins.manager import load_plugins


@click.group("plugins")
def plugins() -> None:
    """Inspect the installed plugins."""


@plugins.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object (plugins, step_types, trigger_types, error).")
@dags_option
@pass_state
@handle_errors
def plugins_list(state: CliState, as_json: bool) -> None:
    """List each plugin, where it came from (builtin, entry point, plugins folder) and its hooks.

    Exits 1 when a plugin failed to load or two plugins clash.
    """
    config = state.config
    info = load_plugins(config).summary()
    rows = info["plugins"]
    failed = [r for r in rows if r["error"]]
    if as_json:
        click.echo(json.dumps(info, indent=2))
    else:
        click.echo(f"plugins folder: {config.resolved_plugins_folder}")
        for r in rows:
            status = "FAILED" if r["error"] else "ok"
            click.echo(f"{r['name']:<30} {r['source']:<15} {status:<7} {r['location']}")
            if r["error"]:
                click.echo(f"    error: {r['error']}")
            elif r["hooks"]:
                click.echo(f"    hooks: {', '.join(r['hooks'])}")
        if info["step_types"]:
            click.echo("step types: " + ", ".join(sorted(info["step_types"])))
        if info["trigger_types"]:
            click.echo("trigger types: " + ", ".join(sorted(info["trigger_types"])))
        if info["error"]:
            click.echo(f"Error: {info['error']}", err=True)
    if failed or info["error"]:
        raise SystemExit(EXIT_FAILURE)
