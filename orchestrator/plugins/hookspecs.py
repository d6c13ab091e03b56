"""Hook specifications: every hook a plugin can implement, with when it is called.

Plugins are found through the entry-point group `orchestrator.plugins` and the plugins folder
(`ORCH_PLUGINS_FOLDER`); orchestrator/plugins/manager.py builds the manager. Built-in parts (the
scheduler's and the web UI's commands, the step types in orchestrator/plugins/steps/) register through
the same hooks as any outside plugin.

Layout: one section per area, each hook with a docstring saying when it is called and what it
returns. Registration hooks return lists and are collected from every plugin; `firstresult`
marks only the hooks where the first answer wins. Helpers append their hooks at the end, each
under its own section heading.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from flask import Blueprint

    from orchestrator.authoring.tasks import BaseTask
    from orchestrator.plugins.manager import StateEvent

PROJECT = "orchestrator"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# -- commands and services ----------------------------------------------------------------------
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


# -- registrations: collected from every plugin, checked for duplicate names at start-up --------
@hookspec
def orchestrator_step_types() -> list[type[BaseTask]]:
    """Called once when the plugins load (scheduler, CLI, web UI, and a process that looks a
    step type up by name).

    Return the BaseTask subclasses this plugin provides; each is known by its `step_type` class
    attribute, which must be unique across all plugins (a duplicate stops the start-up).
    """


@hookspec
def orchestrator_connector_types() -> list[Any]:
    """Called once when the plugins load, to learn the kinds of connection there are.

    Return connector types: objects (or classes) with a `conn_type` name, unique across all
    plugins; orchestrator/core/connections.py defines what else they offer (e.g. testing a connection).
    """


@hookspec
def orchestrator_notifiers() -> list[Any]:
    """Called once when the plugins load, to learn the notification channels.

    Return notifiers: objects with a unique `channel` name (e.g. "webhook", "email") and a
    `send(notification: orchestrator.plugins.steps.notify.Notification) -> None` method that raises on
    failure. NotifyTask and failure notifications send through them by channel name.
    """


@hookspec
def orchestrator_secrets_backends() -> list[Any]:
    """Called once when the plugins load, to learn where else connections and secrets can come from.

    Return secrets backends (orchestrator/core/connections.py defines their interface); they are
    asked, in registration order, for a connection that is neither in the environment nor in
    the database.
    """


@hookspec
def orchestrator_web_blueprints() -> list[Blueprint]:
    """Called once by the web UI's app factory, after its own blueprints are registered.

    Return Flask blueprints to mount (each with its own `url_prefix`); their names must not
    clash with each other or with the built-in ones ("api", "ui", "metrics").
    """


# -- listeners: told after the fact, never able to stop or slow the scheduler ------------------
@hookspec
def orchestrator_on_task_state(event: StateEvent) -> None:
    """Called after a task instance changed state and the change was committed.

    `event` describes the change (kind "task.<state>", dag_id, run_id, task_id, try_number,
    from_state, to_state, reason). Called on the scheduler's listener thread, in commit order;
    an exception is logged and the other listeners still hear the event. Returns nothing.
    """


@hookspec
def orchestrator_on_run_state(event: StateEvent) -> None:
    """Called after a DAG run changed state and the change was committed.

    `event` describes the change (kind "run.<state>", dag_id, run_id, from_state, to_state,
    reason); task_id is None. Same thread and isolation as `orchestrator_on_task_state`.
    Returns nothing.
    """


@hookspec
def orchestrator_on_dag_state(event: StateEvent) -> None:
    """Called after a user paused or unpaused a DAG and the change was committed.

    `event` has kind "dag.paused" or "dag.unpaused", the dag_id and the actor; run_id and
    task_id are None. Same isolation as `orchestrator_on_task_state`. Returns nothing.
    """


# -- resilience (helper R) ---------------------------------------------------------------------------
@hookspec(firstresult=True)
def orchestrator_retry_decision(task: Any, try_number: int, error_type: str | None, error: str | None) -> tuple[bool, float | None] | None:
    """Called by the scheduler when a try of a task that has tries left failed, before it decides.

    `task` is the TaskSpec, `try_number` the try that failed (1-based), `error_type` the
    exception's class name (None when the executor lost the try) and `error` its message.
    Return `(retry, delay_s)`: whether to retry, and the wait in seconds (None: the task's own
    policy); or None to leave the decision to the next plugin and then the task's policy. The
    first non-None answer wins. Called on the scheduler's loop: keep it quick, no I/O.
    """


# -- human approvals (issue 6) -------------------------------------------------------------------------
@hookspec
def orchestrator_on_approval(event: StateEvent) -> None:
    """Called after an approval request changed and the change was committed: kind
    "approval.requested" (the task began to wait; payload: request_id, approvers, min_approvals),
    "approval.<decision>" (a user decided; actor, comment and delegate_to in the payload),
    "approval.escalated" (an escalation step applied; payload: step, action, to, channel),
    "approval.decided" (the request's outcome, in to_state, and why, in reason) or
    "approval.closed" (its run ended before the request was settled; payload: run_state).

    Same thread and isolation as `orchestrator_on_task_state`: a plugin tells people here (an
    e-mail to the approvers, a chat message on escalation). Returns nothing.
    """


# -- deadlines (issue 13) -----------------------------------------------------------------------------
@hookspec
def orchestrator_on_deadline_missed(event: StateEvent, connection: Any) -> None:
    """Called after a run or task missed its deadline and the `deadline.missed` event was committed.

    `event` has the dag_id, run_id, task_id (None for the run), reason and a payload with
    `deadline` (ISO time) and `notify` (the deadline's targets: channel, to, conn_id, url, subject).
    `connection(conn_id)` resolves a named connection as the scheduler does for tasks (a dict, or
    None). The built-in notify plugin sends each target through its notifier (e-mail, webhook).
    Same thread and isolation as `orchestrator_on_task_state`. Returns nothing.
    """


# -- Airflow authoring (issue 12) -----------------------------------------------------------------------
@hookspec
def orchestrator_timetables() -> list[Any]:
    """Called when the plugins are loaded (the scheduler, the web UI, the CLI, a DAG file's parse).

    Returns orchestrator.core.timetables.Timetable instances, each under its unique `name`: schedules
    that cron cannot say (business days, a trading calendar), named by DAGs as
    `schedule=TheTimetable()` or `schedule="timetable:NAME"`.
    """


# -- log stores (issue 13, retention) --------------------------------------------------------------
@hookspec
def orchestrator_log_stores() -> list[Any]:
    """Called once when the plugins load, to learn where logs that outgrew their row can be kept.

    Return log store classes. Each has a unique `scheme` class attribute (e.g. "file", "s3") and is
    built with the Config; an instance offers `write(key: orchestrator.plugins.log_store.TryKey, text: str)
    -> str` (stores the whole log and returns its reference, which starts with "<scheme>:"),
    `read(ref: str) -> str` and `delete(refs: list[str]) -> None` (a missing log is no error).
    `ORCH_LOG_STORE` names the scheme new logs go to; a reference is always read back by the
    store of its own scheme.
    """


# -- sensors (issue 12) ---------------------------------------------------------------------------------
@hookspec
def orchestrator_trigger_types() -> list[Any]:
    """Called once when the plugins load (the scheduler, and a process that parses DAG files).

    Return orchestrator.execution.async_triggers.BaseTrigger subclasses, each under its unique `name`: what a
    deferrable sensor can wait for in the scheduler's own event loop (the built-in "time", "file"
    and "http"; a plugin adds e.g. a queue's length). A sensor names one in its
    `defer_trigger()`; the scheduler builds it with the sensor's JSON arguments and awaits `run()`.
    """
