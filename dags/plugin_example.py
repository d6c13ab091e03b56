"""Step types from plugins: "greet" comes from plugins/example_plugin.py, "shell" is built in."""

from __future__ import annotations

from datetime import datetime

from orchestrator import DAG, ShellTask, get_step_type

GreetTask = get_step_type("greet")

with DAG(
    "plugin_example",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    tags=["demo", "plugins"],
    description="A step type from the plugins folder, then a shell command",
) as dag:
    greet = GreetTask(task_id="greet", name="plugins")
    echo = ShellTask(task_id="echo", command='echo "{\\"greeted\\": true}"')
    greet >> echo
