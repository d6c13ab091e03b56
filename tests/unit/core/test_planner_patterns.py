"""The pure planner's decisions for branches (`follow`), wait strategies and mapped tasks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orchestrator.core.mapping import MAX_MAP_LENGTH
from orchestrator.core.planner import Expand, FinishRun, Gather, Settle, Submit, TaskView, plan_run
from orchestrator.core.spec import DagSpec, MapSource, TaskSpec
from orchestrator.core.states import RunState, TaskState, TriggerRule

T = TaskState
NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def dag(*tasks: TaskSpec) -> DagSpec:
    return DagSpec(dag_id="d", fileloc="d.py", tasks=tasks)


def t(task_id: str, *upstream: str, **fields: object) -> TaskSpec:
    return TaskSpec(task_id=task_id, upstream=upstream, **fields)  # type: ignore[arg-type]


# -- branches: `follow` ----------------------------------------------------------------------------
BRANCH = dag(
    t("decide", branch=True),
    t("left", "decide"),
    t("right", "decide"),
    t("after_right", "right"),
    t("join", "left", "after_right", trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS),
)


def branch_views(follow: tuple[str, ...] | None) -> dict[str, TaskView]:
    views = {tid: TaskView() for tid in BRANCH.task_map}
    views["decide"] = TaskView(state=T.SUCCESS, follow=follow)
    return views


def test_the_followed_task_runs_and_the_other_and_what_only_it_leads_to_are_skipped() -> None:
    commands = plan_run(BRANCH, branch_views(("left",)), NOW, chains=False)
    assert [c for c in commands if isinstance(c, Submit)] == [Submit("left")]
    assert [(c.task_id, c.state) for c in commands if isinstance(c, Settle)] == [("right", T.SKIPPED), ("after_right", T.SKIPPED)]


def test_a_skip_by_a_branch_names_the_branch() -> None:
    settle = next(c for c in plan_run(BRANCH, branch_views(("left",)), NOW, chains=False) if isinstance(c, Settle))
    assert "decide did not follow it" in settle.reason


def test_the_join_after_a_branch_runs_once_the_path_taken_succeeded() -> None:
    views = branch_views(("left",))
    views.update(left=TaskView(state=T.SUCCESS), right=TaskView(state=T.SKIPPED), after_right=TaskView(state=T.SKIPPED))
    assert plan_run(BRANCH, views, NOW, chains=False) == [Submit("join")]


def test_following_nothing_skips_every_path_and_the_join() -> None:
    skipped = {c.task_id for c in plan_run(BRANCH, branch_views(()), NOW, chains=False) if isinstance(c, Settle)}
    assert skipped == {"left", "right", "after_right", "join"}


def test_a_success_without_follow_follows_every_downstream() -> None:
    assert [c for c in plan_run(BRANCH, branch_views(None), NOW, chains=False) if isinstance(c, Submit)] == [Submit("left"), Submit("right")]


def test_nothing_is_chained_to_a_task_that_decides_its_downstream() -> None:
    views = {tid: TaskView() for tid in BRANCH.task_map}
    views["decide"] = TaskView(state=T.RUNNING)
    assert plan_run(BRANCH, views, NOW, chains=True) == []


def test_declarative_conditions_also_prevent_chaining() -> None:
    spec = dag(t("a", next_conditions={"b": "data.x > 1"}), t("b", "a"))
    assert plan_run(spec, {"a": TaskView(state=T.RUNNING), "b": TaskView()}, NOW, chains=True) == []


# -- wait strategies ---------------------------------------------------------------------------------
VOTE = dag(t("a"), t("b"), t("c"), t("vote", "a", "b", "c", min_success="majority"))


def test_a_majority_runs_the_task_before_the_last_upstream_ends() -> None:
    views = {"a": TaskView(state=T.SUCCESS), "b": TaskView(state=T.SUCCESS), "c": TaskView(state=T.RUNNING), "vote": TaskView()}
    assert plan_run(VOTE, views, NOW, chains=False) == [Submit("vote")]


def test_a_majority_that_can_no_longer_be_reached_is_upstream_failed() -> None:
    views = {"a": TaskView(state=T.SUCCESS), "b": TaskView(state=T.FAILED), "c": TaskView(state=T.FAILED), "vote": TaskView()}
    (settle, finish) = plan_run(VOTE, views, NOW, chains=False)
    assert (settle.task_id, settle.state) == ("vote", T.UPSTREAM_FAILED)  # type: ignore[union-attr]
    assert "fewer than 2 of its 3 upstreams can succeed" in settle.reason  # type: ignore[union-attr]
    assert finish == FinishRun(RunState.FAILED)


def test_a_wait_strategy_is_never_chained_to_running_upstreams() -> None:
    views = {"a": TaskView(state=T.SUCCESS), "b": TaskView(state=T.RUNNING), "c": TaskView(state=T.RUNNING), "vote": TaskView()}
    assert plan_run(VOTE, views, NOW, chains=True) == []


# -- mapped tasks ------------------------------------------------------------------------------------
MAPPED = dag(t("items"), t("each", "items", mapped=(MapSource(arg="x", task_id="items"),), retries=1), t("sum", "each"))


def mapped_views(items: object, instances: list[TaskState] | None = None, **more: TaskView) -> dict[str, TaskView]:
    each = TaskView(state=T.RUNNING if instances is not None else T.PENDING)
    each.instances = [TaskView(state=s) for s in instances or []]
    return {"items": TaskView(state=T.SUCCESS, result=items), "each": each, "sum": TaskView(), **more}


def test_a_mapped_task_expands_into_one_instance_per_item_once_its_input_is_known() -> None:
    assert plan_run(MAPPED, mapped_views([10, 20, 30]), NOW, chains=False) == [
        Expand("each", 3), Submit("each", map_index=0), Submit("each", map_index=1), Submit("each", map_index=2),
    ]


def test_a_mapped_task_waits_for_its_input_even_with_chains() -> None:
    views = mapped_views(None)
    views["items"] = TaskView(state=T.RUNNING)
    assert plan_run(MAPPED, views, NOW, chains=True) == []


def test_an_empty_input_skips_the_mapped_task_and_its_downstream() -> None:
    commands = plan_run(MAPPED, mapped_views([]), NOW, chains=False)
    assert [(c.task_id, c.state) for c in commands if isinstance(c, Settle)] == [("each", T.SKIPPED), ("sum", T.SKIPPED)]


def test_an_input_that_is_not_a_list_fails_the_mapped_task() -> None:
    settle = plan_run(MAPPED, mapped_views({"a": 1}), NOW, chains=False)[0]
    assert (settle.task_id, settle.state) == ("each", T.FAILED)  # type: ignore[union-attr]
    assert "it is dict, not a list" in settle.reason  # type: ignore[union-attr]


def test_an_input_over_the_limit_fails_the_mapped_task() -> None:
    settle = plan_run(MAPPED, mapped_views(list(range(MAX_MAP_LENGTH + 1))), NOW, chains=False)[0]
    assert settle.state is T.FAILED and f"over the limit of {MAX_MAP_LENGTH}" in settle.reason  # type: ignore[union-attr]


def test_only_the_instances_named_are_looked_at() -> None:
    views = mapped_views([1, 2, 3], [T.PENDING, T.PENDING, T.PENDING])
    assert plan_run(MAPPED, views, NOW, chains=False, candidates={"each"}, instances={"each": {1}}) == [Submit("each", map_index=1)]


def test_an_instance_is_retried_on_its_own_when_its_retry_is_due() -> None:
    views = mapped_views([1, 2], [T.SUCCESS, T.UP_FOR_RETRY])
    views["each"].instances[1].next_retry_at = NOW - timedelta(seconds=1)
    views["each"].instances[1].try_number = 1
    views["each"].instances[1].max_tries = 2
    assert plan_run(MAPPED, views, NOW, chains=False) == [Submit("each", reason="retry 2 of 2", map_index=1)]


def test_a_mapped_task_waits_while_an_instance_runs() -> None:
    assert plan_run(MAPPED, mapped_views([1, 2], [T.SUCCESS, T.RUNNING]), NOW, chains=False) == []


def test_once_every_instance_succeeded_the_task_is_gathered_and_its_downstream_runs() -> None:
    assert plan_run(MAPPED, mapped_views([1, 2], [T.SUCCESS, T.SUCCESS]), NOW, chains=False) == [
        Gather("each", T.SUCCESS, "all 2 mapped instances succeeded"), Submit("sum"),
    ]


def test_a_failed_instance_fails_the_task_once_the_others_ended() -> None:
    commands = plan_run(MAPPED, mapped_views([1, 2, 3], [T.SUCCESS, T.FAILED, T.SUCCESS]), NOW, chains=False)
    assert commands[0] == Gather("each", T.FAILED, "1 of 3 mapped instances did not succeed")
    assert (commands[1].task_id, commands[1].state) == ("sum", T.UPSTREAM_FAILED)  # type: ignore[union-attr]
