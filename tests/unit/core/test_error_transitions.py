"""Error transitions (`on_failure=`): continue, stop and routing to handlers, decided by the pure planner."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from orchestrator import DAG, PythonTask
from orchestrator.core.error_routing import code_of, error_names, route_for, routed_error
from orchestrator.core.errors import DagDefinitionError
from orchestrator.core.planner import FinishRun, Settle, Submit, TaskView, plan_run
from orchestrator.core.settlement import settle_outcome
from orchestrator.core.spec import DagSpec, TaskSpec
from orchestrator.core.states import RunState, TaskState, TriggerRule

T = TaskState
NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
ROUTES = {"TimeoutError": "notify_ops", "*": "cleanup"}


def dag(*tasks: TaskSpec) -> DagSpec:
    return DagSpec(dag_id="d", fileloc="d.py", tasks=tasks)


def t(task_id: str, *upstream: str, **fields: Any) -> TaskSpec:
    return TaskSpec(task_id=task_id, upstream=upstream, **fields)


def views(**states: TaskState | TaskView) -> dict[str, TaskView]:
    return {tid: s if isinstance(s, TaskView) else TaskView(state=s) for tid, s in states.items()}


def failed_with(result: dict[str, Any] | None) -> TaskView:
    return TaskView(state=T.FAILED, try_number=1, result=result)


def noop() -> None:
    return None


# -- which handler an error goes to -------------------------------------------------------------------
CHARGE = t("charge", on_failure=ROUTES)


def test_an_error_goes_to_the_handler_named_for_its_class() -> None:
    assert route_for(CHARGE, ("TimeoutError", "OSError", "Exception")) == "notify_ops"


def test_an_error_goes_to_the_handler_named_for_one_of_its_base_classes() -> None:
    # the runtime's execution_timeout raises TaskTimeoutError, a TimeoutError
    assert route_for(CHARGE, ("TaskTimeoutError", "OrchestratorError", "TimeoutError", "OSError")) == "notify_ops"


def test_an_error_no_type_names_goes_to_the_catch_all_handler() -> None:
    assert route_for(CHARGE, ("ValueError", "Exception")) == "cleanup"


def test_without_a_catch_all_an_unmatched_error_is_not_routed() -> None:
    assert route_for(t("charge", on_failure={"KeyError": "h"}), ("ValueError", "Exception")) is None


def test_a_task_that_only_continues_routes_nothing() -> None:
    assert route_for(t("charge", on_failure="continue"), ("ValueError",)) is None


# -- error codes (seed 002's errorCode) ----------------------------------------------------------------------
class CardDeclined(Exception):
    error_code = "E42"


def test_an_error_s_code_is_its_error_code_or_code_attribute() -> None:
    assert code_of(CardDeclined()) == "E42"
    assert code_of(OSError(2, "missing")) is None  # errno, not code
    http = Exception("gone")
    http.code = 410  # type: ignore[attr-defined]
    assert code_of(http) == "410"
    assert error_names("CardDeclined", ("Exception",), "E42") == ("CardDeclined", "Exception", "code:E42")


def test_a_code_route_wins_over_the_error_s_type() -> None:
    task = t("charge", on_failure={"code:E42": "retry_card", "CardDeclined": "notify", "*": "cleanup"})
    assert route_for(task, ("CardDeclined", "Exception", "code:E42")) == "retry_card"
    assert route_for(task, ("CardDeclined", "Exception", "code:E7")) == "notify"


def test_a_routed_failure_keeps_its_error_code_for_the_handler() -> None:
    task = t("charge", on_failure={"code:E42": "h"})
    settled = settle_outcome(task, TaskView(state=T.RUNNING, try_number=1), "failed", NOW, "declined",
                             error_types=("CardDeclined", "Exception", "code:E42"))
    assert settled.result == {"error": "declined", "error_type": "CardDeclined", "error_code": "E42", "routed_to": "h"}


def test_a_python_dag_routes_by_code_with_a_code_key() -> None:
    with DAG("coded") as d:
        h = PythonTask(task_id="h", python_callable=noop)
        PythonTask(task_id="charge", python_callable=noop, on_failure={"code:HTTP.404": h})
    assert d.to_spec().task_map["charge"].on_failure == {"code:HTTP.404": "h"}


# -- how a final failure settles --------------------------------------------------------------------
def test_a_routed_final_failure_keeps_its_error_and_handler_as_its_result() -> None:
    settled = settle_outcome(CHARGE, TaskView(state=T.RUNNING, try_number=1), "failed", NOW, "ValueError: bad card", error_types=("ValueError", "Exception"))
    assert (settled.state, settled.result) == (T.FAILED, {"error": "ValueError: bad card", "error_type": "ValueError", "routed_to": "cleanup"})


def test_a_failure_that_continues_keeps_its_error_as_its_result() -> None:
    task = t("charge", on_failure="continue")
    settled = settle_outcome(task, TaskView(state=T.RUNNING, try_number=1), "failed", NOW, "ValueError: x", error_types=("ValueError",))
    assert (settled.state, settled.result) == (T.FAILED, {"error": "ValueError: x", "error_type": "ValueError", "on_failure": "continue"})


def test_a_failure_that_is_retried_routes_nothing_yet() -> None:
    task = t("charge", on_failure=ROUTES, retries=2)
    settled = settle_outcome(task, TaskView(state=T.RUNNING, try_number=1, max_tries=3), "failed", NOW, "ValueError: x", error_types=("ValueError",))
    assert (settled.state, settled.result) == (T.UP_FOR_RETRY, None)


def test_a_plain_failure_has_no_result() -> None:
    settled = settle_outcome(t("charge"), TaskView(state=T.RUNNING, try_number=1), "failed", NOW, "ValueError: x", error_types=("ValueError",))
    assert (settled.state, settled.result) == (T.FAILED, None)


# -- continue -----------------------------------------------------------------------------------------
CONTINUING = dag(t("a", on_failure="continue"), t("b", "a"))


def test_the_downstream_of_a_failed_task_that_continues_runs() -> None:
    assert plan_run(CONTINUING, views(a=T.FAILED, b=T.PENDING), NOW, chains=False) == [Submit("b")]


def test_a_run_whose_failed_leaf_continues_succeeds() -> None:
    spec = dag(t("a"), t("b", "a", on_failure="continue"))
    assert plan_run(spec, views(a=T.SUCCESS, b=T.FAILED), NOW, chains=False) == [FinishRun(RunState.SUCCESS)]


def test_the_downstream_of_a_failed_task_that_fails_is_upstream_failed() -> None:
    spec = dag(t("a"), t("b", "a"))
    [settle, finish] = plan_run(spec, views(a=T.FAILED, b=T.PENDING), NOW, chains=False)
    assert (settle.state, finish) == (T.UPSTREAM_FAILED, FinishRun(RunState.FAILED))


# -- stop -----------------------------------------------------------------------------------------------
STOPPING = dag(t("a"), t("b", on_failure="stop"), t("c", "a"), t("d", "b"))


def test_a_task_that_stops_the_run_cancels_every_unfinished_task_and_fails_it() -> None:
    commands = plan_run(STOPPING, views(a=T.RUNNING, b=T.FAILED, c=T.PENDING, d=T.PENDING), NOW, chains=False, candidates={"b"})
    assert commands == [
        Settle("a", T.CANCELLED, "the run stopped: b failed (on_failure=stop)"),
        Settle("c", T.CANCELLED, "the run stopped: b failed (on_failure=stop)"),
        Settle("d", T.CANCELLED, "the run stopped: b failed (on_failure=stop)"),
        FinishRun(RunState.FAILED),
    ]


def test_a_task_that_stops_the_run_only_does_so_once_its_last_try_failed() -> None:
    running = views(a=T.RUNNING, b=T.UP_FOR_RETRY, c=T.PENDING, d=T.PENDING)
    assert plan_run(STOPPING, running, NOW, chains=False, candidates={"b"}) == []


# -- routing to handlers ------------------------------------------------------------------------------
ROUTED = dag(
    t("charge", on_failure=ROUTES),
    t("ship", "charge"),
    t("notify_ops", "charge"),
    t("cleanup", "charge"),
    t("done", "ship", "cleanup", trigger_rule=TriggerRule.ONE_SUCCESS),
)
TO_CLEANUP = {"error": "ValueError: bad", "error_type": "ValueError", "routed_to": "cleanup"}


def test_the_handler_an_error_is_routed_to_runs_and_the_others_are_skipped() -> None:
    commands = plan_run(ROUTED, views(charge=failed_with(TO_CLEANUP), ship=T.PENDING, notify_ops=T.PENDING, cleanup=T.PENDING, done=T.PENDING), NOW, chains=False)
    assert commands == [
        Settle("ship", T.UPSTREAM_FAILED, "an upstream did not succeed (trigger rule all_success)"),
        Settle("notify_ops", T.SKIPPED, "skipped: no error was routed to it (by charge)"),
        Submit("cleanup"),
    ]


def test_handlers_are_skipped_when_their_task_succeeds() -> None:
    commands = plan_run(ROUTED, views(charge=T.SUCCESS, ship=T.PENDING, notify_ops=T.PENDING, cleanup=T.PENDING, done=T.PENDING), NOW, chains=False)
    assert [c for c in commands if isinstance(c, Settle)] == [
        Settle("notify_ops", T.SKIPPED, "skipped: no error was routed to it (by charge)"),
        Settle("cleanup", T.SKIPPED, "skipped: no error was routed to it (by charge)"),
    ]


def test_a_handler_waits_while_its_task_may_still_fail() -> None:
    assert plan_run(ROUTED, views(charge=T.RUNNING, ship=T.PENDING, notify_ops=T.PENDING, cleanup=T.PENDING, done=T.PENDING), NOW, chains=True) == []


def test_a_path_joined_after_the_handler_lets_the_run_succeed() -> None:
    finished = views(charge=failed_with(TO_CLEANUP), ship=T.UPSTREAM_FAILED, notify_ops=T.SKIPPED, cleanup=T.SUCCESS, done=T.SUCCESS)
    assert plan_run(ROUTED, finished, NOW, chains=False) == [FinishRun(RunState.SUCCESS)]


def test_the_handler_is_given_the_error_it_handles() -> None:
    tasks = views(charge=failed_with(TO_CLEANUP), ship=T.UPSTREAM_FAILED, notify_ops=T.SKIPPED, cleanup=T.PENDING, done=T.PENDING)
    assert routed_error(ROUTED, "cleanup", tasks) == {"task_id": "charge", "error": "ValueError: bad", "error_type": "ValueError"}


# -- authoring ------------------------------------------------------------------------------------------
def test_on_failure_routes_become_the_handlers_upstream_in_the_spec() -> None:
    with DAG("routes") as d:
        charge = PythonTask(task_id="charge", python_callable=noop, on_failure={TimeoutError: "notify", "*": "cleanup"})
        PythonTask(task_id="notify", python_callable=noop)
        cleanup = PythonTask(task_id="cleanup", python_callable=noop)
    spec = d.to_spec()
    assert spec.task_map["charge"].on_failure == {"TimeoutError": "notify", "*": "cleanup"}
    assert (spec.task_map["notify"].upstream, spec.error_handlers) == (("charge",), {"notify": ("charge",), "cleanup": ("charge",)})
    assert charge in [d.tasks[u] for u in cleanup.upstream_ids]


def test_a_handler_may_be_given_as_a_task() -> None:
    with DAG("routes_by_task") as d:
        cleanup = PythonTask(task_id="cleanup", python_callable=noop)
        PythonTask(task_id="charge", python_callable=noop, on_failure={"*": cleanup})
    assert d.to_spec().task_map["charge"].on_failure == {"*": "cleanup"}


def test_fail_is_the_default_mode() -> None:
    with DAG("fail_mode") as d:
        PythonTask(task_id="a", python_callable=noop, on_failure="fail")
    assert d.to_spec().task_map["a"].on_failure is None


def test_default_args_may_set_the_mode_for_every_task() -> None:
    with DAG("default_mode", default_args={"on_failure": "continue"}) as d:
        PythonTask(task_id="a", python_callable=noop)
        PythonTask(task_id="b", python_callable=noop, on_failure="stop")
    spec = d.to_spec()
    assert (spec.task_map["a"].on_failure, spec.task_map["b"].on_failure) == ("continue", "stop")


def test_a_callable_on_failure_stays_the_failure_callback() -> None:
    with DAG("callback_kept") as d:
        task = PythonTask(task_id="a", python_callable=noop, on_failure=noop)
    assert (task.callback("on_failure"), d.to_spec().task_map["a"].on_failure) == (noop, None)


def test_an_unknown_mode_is_a_definition_error() -> None:
    with DAG("bad_mode"), pytest.raises(DagDefinitionError, match="on_failure must be one of fail, continue, stop"):
        PythonTask(task_id="a", python_callable=noop, on_failure="retry")


def test_routing_to_a_task_the_dag_lacks_is_a_definition_error() -> None:
    with DAG("no_handler") as d:
        PythonTask(task_id="a", python_callable=noop, on_failure={"*": "ghost"})
    with pytest.raises(DagDefinitionError, match="on_failure routes to 'ghost', which is not another task of the DAG"):
        d.to_spec()


def test_a_handler_cannot_wait_for_other_tasks() -> None:
    with DAG("handler_waits") as d:
        other = PythonTask(task_id="other", python_callable=noop)
        PythonTask(task_id="a", python_callable=noop, on_failure={"*": "h"})
        other >> PythonTask(task_id="h", python_callable=noop)
    with pytest.raises(DagDefinitionError, match="error handler 'h' runs only when an error is routed to it: it cannot also wait for 'other'"):
        d.to_spec()
