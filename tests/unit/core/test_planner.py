"""The pure planner: what to submit or settle in a run, how a try's end settles, when to wake up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orchestrator.core.planner import FinishRun, Settle, Submit, TaskView, plan_run
from orchestrator.core.settlement import Settlement, settle_outcome
from orchestrator.core.spec import DagSpec, TaskSpec
from orchestrator.core.states import RunState, TaskState, TriggerRule

T = TaskState
NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def dag(*tasks: TaskSpec) -> DagSpec:
    """A DagSpec of `tasks`, given in topological order as DAG.to_spec produces them."""
    return DagSpec(dag_id="d", fileloc="d.py", tasks=tasks)


def t(task_id: str, *upstream: str, rule: TriggerRule = TriggerRule.ALL_SUCCESS, **policy: object) -> TaskSpec:
    return TaskSpec(task_id=task_id, upstream=upstream, trigger_rule=rule, **policy)


def views(**states: TaskState) -> dict[str, TaskView]:
    return {tid: TaskView(state=s) for tid, s in states.items()}


LINE = dag(t("a"), t("b", "a"), t("c", "b"))  # a >> b >> c


# -- plan_run: submitting ready work ---------------------------------------------------------


def test_tasks_without_upstreams_are_submitted() -> None:
    spec = dag(t("a"), t("b"), t("c", "a", "b"))
    assert plan_run(spec, views(a=T.PENDING, b=T.PENDING, c=T.PENDING), NOW, chains=False) == [Submit("a"), Submit("b")]


def test_task_whose_upstreams_all_succeeded_is_submitted() -> None:
    assert plan_run(LINE, views(a=T.SUCCESS, b=T.PENDING, c=T.PENDING), NOW, chains=False) == [Submit("b")]


def test_scheduled_task_is_submitted_like_a_pending_one() -> None:
    assert plan_run(LINE, views(a=T.SCHEDULED, b=T.PENDING, c=T.PENDING), NOW, chains=False) == [Submit("a")]


def test_without_chains_downstream_waits_for_its_upstream_to_finish() -> None:
    assert plan_run(LINE, views(a=T.RUNNING, b=T.PENDING, c=T.PENDING), NOW, chains=False) == []


def test_with_chains_a_whole_ready_line_is_submitted_each_after_its_upstream() -> None:
    assert plan_run(LINE, views(a=T.PENDING, b=T.PENDING, c=T.PENDING), NOW, chains=True) == [
        Submit("a"),
        Submit("b", after=("a",)),
        Submit("c", after=("b",)),
    ]


def test_with_chains_nothing_is_chained_to_an_upstream_already_in_flight() -> None:
    # its try runs elsewhere already: the downstream goes out once it ended
    assert plan_run(LINE, views(a=T.RUNNING, b=T.PENDING, c=T.PENDING), NOW, chains=True) == []


def test_join_is_chained_to_its_one_upstream_submitted_now_when_the_others_succeeded() -> None:
    spec = dag(t("a"), t("b"), t("c", "a", "b"))
    commands = plan_run(spec, views(a=T.SUCCESS, b=T.PENDING, c=T.PENDING), NOW, chains=True)
    assert commands == [Submit("b"), Submit("c", after=("b",))]


def test_a_join_of_two_upstreams_submitted_together_is_not_chained() -> None:
    # they run in different places: the join waits for both to end
    spec = dag(t("a"), t("b"), t("c", "a", "b"))
    assert plan_run(spec, views(a=T.PENDING, b=T.PENDING, c=T.PENDING), NOW, chains=True) == [Submit("a"), Submit("b")]


def test_a_fan_out_is_not_chained_so_its_tasks_run_in_parallel() -> None:
    spec = dag(t("start"), t("x", "start"), t("y", "start"))
    assert plan_run(spec, views(start=T.PENDING, x=T.PENDING, y=T.PENDING), NOW, chains=True) == [Submit("start")]


def test_join_is_not_chained_while_an_upstream_is_neither_in_flight_nor_successful() -> None:
    spec = dag(t("a"), t("b"), t("c", "a", "b"))
    views_ = views(a=T.RUNNING, b=T.UP_FOR_RETRY, c=T.PENDING)
    views_["b"].next_retry_at = NOW + timedelta(minutes=5)
    assert plan_run(spec, views_, NOW, chains=True) == []


def test_only_all_success_tasks_are_chained() -> None:
    spec = dag(t("a"), t("b", "a", rule=TriggerRule.ALL_DONE), t("c", "a", rule=TriggerRule.NONE_FAILED))
    assert plan_run(spec, views(a=T.RUNNING, b=T.PENDING, c=T.PENDING), NOW, chains=True) == []


def test_in_flight_and_finished_tasks_get_no_command() -> None:
    spec = dag(t("a"), t("b"), t("c"))
    assert plan_run(spec, views(a=T.QUEUED, b=T.RUNNING, c=T.SUCCESS), NOW, chains=True) == []


# -- plan_run: settling what will not run ----------------------------------------------------


def test_failed_upstream_cascades_upstream_failed_down_the_line_in_one_call() -> None:
    commands = plan_run(LINE, views(a=T.FAILED, b=T.PENDING, c=T.PENDING), NOW, chains=False)
    assert [(c.task_id, c.state) for c in commands if isinstance(c, Settle)] == [
        ("b", T.UPSTREAM_FAILED),
        ("c", T.UPSTREAM_FAILED),
    ]


def test_skipped_upstream_cascades_skipped_down_the_line_in_one_call() -> None:
    commands = plan_run(LINE, views(a=T.SKIPPED, b=T.PENDING, c=T.PENDING), NOW, chains=False)
    assert [(c.task_id, c.state) for c in commands if isinstance(c, Settle)] == [("b", T.SKIPPED), ("c", T.SKIPPED)]


def test_settle_reason_names_the_trigger_rule() -> None:
    commands = plan_run(LINE, views(a=T.FAILED, b=T.PENDING, c=T.PENDING), NOW, chains=False)
    assert isinstance(commands[0], Settle) and "all_success" in commands[0].reason


def test_cleanup_task_runs_after_its_upstream_was_settled_upstream_failed_in_the_same_call() -> None:
    spec = dag(t("a"), t("b", "a"), t("cleanup", "b", rule=TriggerRule.ALL_DONE))
    commands = plan_run(spec, views(a=T.FAILED, b=T.PENDING, cleanup=T.PENDING), NOW, chains=False)
    assert [(type(c).__name__, c.task_id) for c in commands] == [("Settle", "b"), ("Submit", "cleanup")]


# -- plan_run: retries -----------------------------------------------------------------------


def _retrying(next_retry_at: datetime) -> dict[str, TaskView]:
    v = views(a=T.UP_FOR_RETRY, b=T.PENDING, c=T.PENDING)
    v["a"].try_number, v["a"].max_tries, v["a"].next_retry_at = 1, 3, next_retry_at
    return v


def test_due_retry_is_submitted_as_the_next_try() -> None:
    assert plan_run(LINE, _retrying(NOW - timedelta(seconds=1)), NOW, chains=False) == [
        Submit("a", reason="retry 2 of 3")
    ]


def test_retry_due_exactly_now_is_submitted() -> None:
    assert plan_run(LINE, _retrying(NOW), NOW, chains=False) == [Submit("a", reason="retry 2 of 3")]


def test_retry_not_yet_due_waits() -> None:
    assert plan_run(LINE, _retrying(NOW + timedelta(seconds=1)), NOW, chains=True) == []


def test_with_chains_downstream_is_chained_to_a_resubmitted_retry() -> None:
    commands = plan_run(LINE, _retrying(NOW), NOW, chains=True)
    assert commands[1:] == [Submit("b", after=("a",)), Submit("c", after=("b",))]


# -- plan_run: finishing the run -------------------------------------------------------------


def test_run_finishes_success_when_every_leaf_succeeded() -> None:
    assert plan_run(LINE, views(a=T.SUCCESS, b=T.SUCCESS, c=T.SUCCESS), NOW, chains=True) == [
        FinishRun(RunState.SUCCESS)
    ]


def test_run_finishes_failed_when_a_leaf_failed() -> None:
    spec = dag(t("a"), t("b"))
    assert plan_run(spec, views(a=T.SUCCESS, b=T.FAILED), NOW, chains=True) == [FinishRun(RunState.FAILED)]


def test_run_succeeds_when_a_failure_is_absorbed_before_the_leaves() -> None:
    spec = dag(t("a"), t("cleanup", "a", rule=TriggerRule.ALL_DONE))
    assert plan_run(spec, views(a=T.FAILED, cleanup=T.SUCCESS), NOW, chains=True) == [FinishRun(RunState.SUCCESS)]


def test_run_finishes_in_the_same_call_that_settles_its_last_tasks() -> None:
    commands = plan_run(LINE, views(a=T.FAILED, b=T.PENDING, c=T.PENDING), NOW, chains=True)
    assert commands[-1] == FinishRun(RunState.FAILED)


def test_run_does_not_finish_while_a_task_is_not_terminal() -> None:
    spec = dag(t("a"), t("b"))
    commands = plan_run(spec, views(a=T.SUCCESS, b=T.RUNNING), NOW, chains=True)
    assert not any(isinstance(c, FinishRun) for c in commands)


def test_run_does_not_finish_while_a_retry_is_pending() -> None:
    assert plan_run(LINE, _retrying(NOW + timedelta(hours=1)), NOW, chains=True) == []


# -- plan_run: candidates --------------------------------------------------------------------


def test_candidates_limit_the_look_to_those_tasks() -> None:
    spec = dag(t("a"), t("b"), t("c"))
    assert plan_run(spec, views(a=T.PENDING, b=T.PENDING, c=T.PENDING), NOW, chains=False, candidates=["b"]) == [
        Submit("b")
    ]


def test_candidates_still_cascade_to_their_downstream() -> None:
    commands = plan_run(LINE, views(a=T.FAILED, b=T.PENDING, c=T.PENDING), NOW, chains=False, candidates=["b"])
    assert [c.task_id for c in commands if isinstance(c, Settle)] == ["b", "c"]


def test_empty_candidates_submit_nothing_but_still_finish_a_done_run() -> None:
    commands = plan_run(LINE, views(a=T.SUCCESS, b=T.SUCCESS, c=T.SKIPPED), NOW, chains=True, candidates=[])
    assert commands == [FinishRun(RunState.SUCCESS)]


# -- settle_outcome ----------------------------------------------------------------------------

RETRYING = t("x", retries=2, retry_delay_s=30.0)


def test_successful_try_settles_success() -> None:
    assert settle_outcome(RETRYING, TaskView(try_number=1, max_tries=3), "success", NOW, None) == Settlement(
        T.SUCCESS
    )


def test_failed_try_with_tries_left_is_up_for_retry_after_the_delay() -> None:
    settled = settle_outcome(RETRYING, TaskView(try_number=1, max_tries=3), "failed", NOW, "ValueError: boom")
    assert (settled.state, settled.next_retry_at) == (T.UP_FOR_RETRY, NOW + timedelta(seconds=30))
    assert "ValueError: boom" in (settled.reason or "")


def test_exponential_retry_waits_longer_after_each_try() -> None:
    task = t("x", retries=3, retry_delay_s=10.0, retry_backoff="exponential")
    settled = settle_outcome(task, TaskView(try_number=3, max_tries=4), "failed", NOW, "boom")
    assert settled.next_retry_at == NOW + timedelta(seconds=40)


def test_failed_last_try_settles_failed_with_the_error() -> None:
    settled = settle_outcome(RETRYING, TaskView(try_number=3, max_tries=3), "failed", NOW, "ValueError: boom")
    assert settled == Settlement(T.FAILED, reason="ValueError: boom")


def test_not_run_goes_back_to_pending() -> None:
    settled = settle_outcome(RETRYING, TaskView(try_number=1, max_tries=3), "not_run", NOW, None)
    assert (settled.state, settled.next_retry_at) == (T.PENDING, None)
