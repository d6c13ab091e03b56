"""Hook specifications: every hook a plugin can implement, with when it is called.

Plugins are found through the entry-point group `orchestrator.plugins`. Built-in parts of
the project (the scheduler's CLI commands) register through the same hooks.
"""

from __future__ import annotations

from typing import Any

import pluggy

PROJECT = "orchestrator"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def orchestrator_cli_commands(cli: Any) -> None:
    """Called once when the `orchestrator` command starts, with its root click group.

    Add commands or subcommands to it (`cli.add_command(...)`, or to an existing group such as
    `cli.commands["dags"]`). Returns nothing.
    """


@hookspec
def orchestrator_services(config: Any, sessions: Any, options: dict[str, Any]) -> list[Any]:
    """Called by `orchestrator standalone` to collect the long-running parts to start together.

    `options` carries the command's options (e.g. `host`, `port`). Return a list of objects with
    a blocking `run()` and a thread-safe `stop()`; `standalone` runs each in its own thread and
    stops them all on SIGTERM or Ctrl-C.
    """
