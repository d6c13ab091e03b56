"""What the UI shows for schedules, step types and task functions; what a live page hears."""

from __future__ import annotations

from types import SimpleNamespace

from webui.ui.live import changes
from webui.ui.present import callable_label, schedule_label, step_label


def test_a_dag_without_a_schedule_is_manual_only_never_none() -> None:
    assert schedule_label(None) == "manual only"
    assert "None" not in schedule_label(None, None, ())


def test_a_cron_schedule_shows_as_written() -> None:
    assert schedule_label("0 7 * * 1-5") == "0 7 * * 1-5"


def test_asset_and_event_schedules_are_said_in_words() -> None:
    assert schedule_label(None, {"mode": "all", "uris": ["s3://a", "s3://b"]}) == "on 2 assets"
    assert schedule_label(None, {"mode": "any", "uris": ["s3://a"]}) == "on any of 1 asset"
    assert schedule_label(None, None, [{"type": "order.created"}]) == "on event"


def test_a_function_of_a_dag_file_is_named_with_the_file_not_the_loaders_module() -> None:
    label = callable_label("orch_dag_etl_orders_c8cb7aa30f8e:extract", "/srv/dags/etl_orders.py")
    assert label == "extract (in etl_orders.py)"
    assert "orch_dag_" not in label


def test_a_function_of_an_importable_module_keeps_its_module() -> None:
    assert callable_label("order_steps:validate_order", "/srv/dags/order_approval.yaml") == "validate_order (from order_steps)"


def test_step_types_are_named_as_users_write_them() -> None:
    assert step_label("python") == "Python function"
    assert step_label("http") == "HTTP request (HttpTask)"
    assert step_label("my_plugin_step") == "my_plugin_step"


def _row(kind: str, dag_id: str | None, run_id: str | None) -> SimpleNamespace:
    return SimpleNamespace(kind=kind, dag_id=dag_id, run_id=run_id)


def test_a_live_page_hears_one_entry_per_run_with_the_kinds_in_order() -> None:
    rows = [_row("task.running", "a", "r1"), _row("task.success", "a", "r1"), _row("run.success", "a", "r1"), _row("task.running", "a", "r1")]
    assert changes(rows, set(), set()) == [{"dag_id": "a", "run_id": "r1", "kinds": ["task.running", "task.success", "run.success"]}]


def test_a_live_page_hears_only_its_dags_and_runs_and_never_events_without_a_dag() -> None:
    rows = [_row("run.queued", "a", "r1"), _row("run.queued", "b", "r2"), _row("pool.set", None, None), _row("run.queued", "a", "r3")]
    assert [c["run_id"] for c in changes(rows, {"a"}, set())] == ["r1", "r3"]
    assert [c["run_id"] for c in changes(rows, {"a"}, {"r3"})] == ["r3"]
    assert [c["dag_id"] for c in changes(rows, set(), set())] == ["a", "b", "a"]
