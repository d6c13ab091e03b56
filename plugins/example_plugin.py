"""An example drop-in plugin: a step type and a listener.

Files in the plugins folder (`ORCH_PLUGINS_FOLDER`, default `plugins/` beside the DAG folder)
are imported at start-up and registered like installed plugins. This one adds:

- the step type "greet" (`GreetTask`): returns a greeting; DAG files get the class with
  `get_step_type("greet")` (dags/plugin_example.py uses it);
- a listener that appends every committed task and run state change, one JSON object a
  line, to `$ORCH_HOME/example_plugin_events.jsonl`.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from orchestrator import BaseTask
from orchestrator.core.config import load_config
from orchestrator.plugins.hookspecs import hookimpl

_write_lock = threading.Lock()


class GreetTask(BaseTask):
    """Returns "Hello, <name>!" (and prints it to the try's log)."""

    step_type = "greet"

    def __init__(self, *, task_id: str, name: str, **kwargs: Any) -> None:
        super().__init__(task_id=task_id, **kwargs)
        self.name = name

    def args_repr(self) -> str:
        return repr(self.name)

    def execute(self, context: Any, upstream_results: dict[str, Any]) -> str:
        greeting = f"Hello, {self.name}!"
        print(greeting)
        return greeting


def events_file() -> Path:
    return load_config().home / "example_plugin_events.jsonl"


def _record(event: Any) -> None:
    line = json.dumps({"kind": event.kind, "dag_id": event.dag_id, "run_id": event.run_id, "task_id": event.task_id, "to_state": event.to_state})
    path = events_file()
    with _write_lock:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as fh:
            fh.write(line + "\n")


@hookimpl
def orchestrator_step_types() -> list[type[BaseTask]]:
    return [GreetTask]


@hookimpl
def orchestrator_on_task_state(event: Any) -> None:
    _record(event)


@hookimpl
def orchestrator_on_run_state(event: Any) -> None:
    _record(event)
