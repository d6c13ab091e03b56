"""Error transitions: what a task's final failure does (`on_failure=`), decided without I/O.

- "fail" (the default): the task failed; its downstream tasks see a failed upstream.
- "continue": the task ends failed (its error kept as its result) but its downstream tasks and
  the run's outcome see it as succeeded.
- "stop": the run fails at once: every task that has not finished is cancelled (compensation
  tasks still run, see orchestrator.core.compensation).
- {error type: handler task}: the error goes to the handler of the most specific matching type
  (the exception's class name, then its base classes' names, then "*"). The handler is a task of
  the DAG that runs only when an error is routed to it (else it is skipped), with the error in
  its context (`TaskContext.routed_error`); the failed task's own downstream is upstream_failed,
  so a path that should go on after the handler joins it with a trigger rule such as
  `one_success`. An error no key matches fails the task as "fail" does.
  A key "code:<code>" matches the error's code (the exception's `error_code` or `code` attribute,
  seed 002's errorCode) and wins over the type names.

A try that will be retried is not a final failure: `on_failure` applies after the last try.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from orchestrator.core.errors import DagDefinitionError
from orchestrator.core.spec import DagSpec, TaskSpec
from orchestrator.core.states import TASK_TERMINAL, TaskState, Verdict

if TYPE_CHECKING:
    from orchestrator.authoring.dag import DAG
    from orchestrator.core.planner import TaskView

ANY_ERROR = "*"
CODE_PREFIX = "code:"
MODES = ("fail", "continue", "stop")
MAX_CODE = 200


def code_of(exc: BaseException) -> str | None:
    """The error's code: its `error_code` attribute, else `code` (a string or an integer, as
    HTTP and OS errors carry), else None."""
    for name in ("error_code", "code"):
        value = getattr(exc, name, None)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value):
            return str(value)[:MAX_CODE]
    return None


def error_names(error_type: str | None, bases: Sequence[str], code: str | None) -> tuple[str, ...]:
    """What a failure is matched by (routes, retry_on): its class, its bases, then "code:<code>"."""
    if error_type is None:
        return ()
    return (error_type, *bases, *((CODE_PREFIX + code,) if code is not None else ()))


# -- authoring ---------------------------------------------------------------------------------------
def is_error_mode(value: object) -> bool:
    """Whether an `on_failure=` value is an error transition (a mode or a routing dict), not a callback."""
    return isinstance(value, (str, dict))


def on_failure_spec(task_id: str, value: object) -> str | dict[str, str] | None:
    """The TaskSpec form of `on_failure=`: None for "fail", the mode, or {error type: handler id}.

    Handlers may be given as tasks (or their results) or as full task ids.
    """
    if isinstance(value, str):
        if value not in MODES:
            raise DagDefinitionError(
                f"task {task_id!r}: on_failure must be one of {', '.join(MODES)}, a dict {{error type: handler task}} "
                f"or a callback, not {value!r}"
            )
        return None if value == "fail" else value
    if not isinstance(value, dict) or not value:
        raise DagDefinitionError(f"task {task_id!r}: on_failure routes must be a non-empty dict {{error type: handler task}}, not {value!r}")
    routes: dict[str, str] = {}
    for error_type, handler in value.items():
        name = error_type.__name__ if isinstance(error_type, type) and issubclass(error_type, BaseException) else error_type
        if not isinstance(name, str) or not name or name == CODE_PREFIX:
            raise DagDefinitionError(
                f"task {task_id!r}: on_failure keys are exception types, their names, 'code:<error code>' or '*', not {error_type!r}"
            )
        routes[name if name.startswith(CODE_PREFIX) else name.rsplit(".", 1)[-1]] = _task_id_of(task_id, handler)
    return routes


def _task_id_of(owner: str, ref: object) -> str:
    """A task's id from the task, its result (XComArg) or the id itself."""
    ref = getattr(ref, "task", ref)  # an XComArg stands for its task
    tid = getattr(ref, "task_id", ref)
    if not isinstance(tid, str) or not tid:
        raise DagDefinitionError(f"task {owner!r}: on_failure handlers are tasks or task ids, not {ref!r}")
    return tid


# -- deciding ----------------------------------------------------------------------------------------
def route_for(task: TaskSpec, error_types: Sequence[str]) -> str | None:
    """The handler a final failure with these exception type names (class first, then its bases)
    goes to; None when the task routes nothing or nothing matches."""
    routes = task.on_failure
    if not isinstance(routes, dict):
        return None
    codes = [n for n in error_types if n.startswith(CODE_PREFIX)]
    for name in [*codes, *(n for n in error_types if not n.startswith(CODE_PREFIX))]:
        if name in routes:
            return routes[name]
    return routes.get(ANY_ERROR)


def failure_record(task: TaskSpec, error: str | None, error_types: Sequence[str]) -> dict[str, Any] | None:
    """What a final failure leaves as the task's result: its error, for a task that continues or
    routes it (its downstream or handler reads it), else nothing."""
    handler = route_for(task, error_types)
    if task.on_failure != "continue" and handler is None:
        return None
    record: dict[str, Any] = {"error": error, "error_type": error_types[0] if error_types else None}
    code = next((n[len(CODE_PREFIX):] for n in error_types if n.startswith(CODE_PREFIX)), None)
    if code is not None:
        record["error_code"] = code
    if handler is not None:
        record["routed_to"] = handler
    else:
        record["on_failure"] = "continue"
    return record


def seen_as(spec: DagSpec, task_id: str, state: TaskState) -> TaskState:
    """The state downstream tasks (and the run's outcome) see: a failed task that continues counts as succeeded."""
    if state is TaskState.FAILED and spec.task_map[task_id].on_failure == "continue":
        return TaskState.SUCCESS
    return state


def routed_here(handler: str, view: TaskView) -> bool:
    return view.state is TaskState.FAILED and isinstance(view.result, dict) and view.result.get("routed_to") == handler


def handler_verdict(
    spec: DagSpec, handler: str, tasks: Mapping[str, TaskView], state_of: Callable[[str], TaskState]
) -> tuple[Verdict, str]:
    """A handler runs as soon as an error is routed to it, and is skipped once every task that
    could route to it ended without doing so."""
    sources = spec.error_handlers[handler]
    for source in sources:
        if state_of(source) is TaskState.FAILED and routed_here(handler, tasks[source]):
            return Verdict.RUN, f"{source} failed and routed its error here"
    if all(state_of(s) in TASK_TERMINAL for s in sources):
        return Verdict.SKIP, f"no error was routed to it (by {', '.join(sources)})"
    return Verdict.WAIT, ""


def routed_error(spec: DagSpec, handler: str, tasks: Mapping[str, TaskView]) -> dict[str, Any] | None:
    """The error a handler about to run handles: {"task_id", "error", "error_type"} of the first task
    (in DAG order) that routed to it."""
    for source in spec.error_handlers.get(handler, ()):
        view = tasks[source]
        if routed_here(handler, view):
            routed = {"task_id": source, "error": view.result.get("error"), "error_type": view.result.get("error_type")}
            if view.result.get("error_code") is not None:
                routed["error_code"] = view.result["error_code"]
            return routed
    return None


def stop_cause(spec: DagSpec, looked_at: Sequence[str], state_of: Callable[[str], TaskState]) -> str | None:
    """The first task among `looked_at` whose final failure stops the run (on_failure="stop")."""
    for tid in looked_at:
        if spec.task_map[tid].on_failure == "stop" and state_of(tid) is TaskState.FAILED:
            return tid
    return None


def wire_error_handlers(dag: DAG) -> None:
    """Make each error handler downstream of the tasks that route to it (before the DAG is
    ordered), so it is judged after them; a handler that is not a task is reported by the spec."""
    for t in list(dag.tasks.values()):
        routes = t.error_transition()
        for handler in dict.fromkeys(routes.values()) if isinstance(routes, dict) else ():
            if handler in dag.tasks and handler != t.task_id:
                dag.tasks[handler].set_upstream(t)
