"""Run controls through the API: mark a task or a run success or failed, pause and resume one run,
and the Late list. Every action is audited; marks need edit permission on the DAG, pausing trigger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from orchestrator.store import events
from orchestrator.store.models import DagRun, TaskInstance
from orchestrator.store.permissions import DagPermission, Grant
from orchestrator.store.users import Role

from .conftest import Api
from .test_api_dag_access import _as, _restricted_user


def _states(api: Api, dag_id: str, run_id: str) -> dict[str, str]:
    with api.sessions() as s:
        rows = s.scalars(select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id))
        return {ti.task_id: ti.state for ti in rows}


def test_marking_a_failed_task_success_queues_its_finished_run_and_lets_its_downstream_wait_again(api: Api) -> None:
    run_id = api.seed.finished["failing"]
    response = api.post(f"/dags/failing/runs/{run_id}/tasks/boom/mark", json={"state": "success"}, role="operator")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["marked"] == [
        {"task_id": "boom", "map_index": -1, "state": "success"}, {"task_id": "after", "map_index": -1, "state": "pending"},
    ]
    assert _states(api, "failing", run_id) == {"boom": "success", "after": "pending"}
    assert api.get(f"/dags/failing/runs/{run_id}").get_json()["state"] == "queued"


def test_marking_a_task_is_audited_with_the_user(api: Api) -> None:
    run_id = api.seed.finished["etl"]
    api.post(f"/dags/etl/runs/{run_id}/tasks/load/mark", json={"state": "failed"}, role="operator")
    entry = api.get("/audit").get_json()["items"][0]
    assert (entry["actor"], entry["action"], entry["target"]) == ("operator", "task.mark_failed", f"task:etl/{run_id}/load")


def test_marking_a_task_with_its_own_state_is_409_and_not_audited(api: Api) -> None:
    response = api.post(f"/dags/etl/runs/{api.seed.finished['etl']}/tasks/load/mark", json={"state": "success"})
    assert response.status_code == 409
    assert api.get("/audit").get_json()["total"] == 0


def test_marking_with_another_state_is_422(api: Api) -> None:
    response = api.post(f"/dags/etl/runs/{api.seed.finished['etl']}/tasks/load/mark", json={"state": "skipped"})
    assert response.status_code == 422


def test_marking_a_task_of_a_run_not_started_is_409(api: Api) -> None:
    assert api.post("/dags/etl/runs/jan/tasks/load/mark", json={"state": "success"}).status_code == 409


def test_marking_an_unknown_task_is_404(api: Api) -> None:
    assert api.post(f"/dags/etl/runs/{api.seed.finished['etl']}/tasks/nope/mark", json={"state": "success"}).status_code == 404


def test_marking_a_queued_run_failed_ends_it_and_is_audited(api: Api) -> None:
    response = api.post("/dags/etl/runs/jan/mark", json={"state": "failed"}, role="operator")
    assert response.status_code == 200
    assert response.get_json()["state"] == "failed" and response.get_json()["end_date"] is not None
    entry = api.get("/audit").get_json()["items"][0]
    assert (entry["action"], entry["target"]) == ("run.mark_failed", "run:etl/jan")


def test_marking_a_running_run_success_marks_its_unfinished_tasks_success(api: Api) -> None:
    run_id = api.seed.finished["failing"]
    api.post(f"/dags/failing/runs/{run_id}/tasks/boom/clear", json={"downstream": True})
    with api.sessions.begin() as s:
        s.get(DagRun, ("failing", run_id)).state = "running"  # as a scheduler would have started it
    assert api.post(f"/dags/failing/runs/{run_id}/mark", json={"state": "success"}).status_code == 200
    assert _states(api, "failing", run_id) == {"boom": "success", "after": "success"}


def test_marking_a_run_failed_skips_the_tasks_that_had_not_started(api: Api) -> None:
    run_id = api.seed.finished["failing"]
    api.post(f"/dags/failing/runs/{run_id}/tasks/boom/clear", json={"downstream": True})
    with api.sessions.begin() as s:
        s.get(DagRun, ("failing", run_id)).state = "running"
        s.get(TaskInstance, ("failing", run_id, "boom", -1)).state = "running"
    assert api.post(f"/dags/failing/runs/{run_id}/mark", json={"state": "failed"}).status_code == 200
    assert _states(api, "failing", run_id) == {"boom": "failed", "after": "skipped"}


def test_pausing_and_resuming_a_run_shows_on_the_run_and_is_audited(api: Api) -> None:
    assert api.post("/dags/etl/runs/feb/pause", role="operator").get_json()["paused"] is True
    assert api.post("/dags/etl/runs/feb/pause").status_code == 409
    assert api.post("/dags/etl/runs/feb/resume", role="operator").get_json()["paused"] is False
    actions = [(e["action"], e["target"]) for e in api.get("/audit").get_json()["items"]]
    assert actions == [("run.resume", "run:etl/feb"), ("run.pause", "run:etl/feb")]


def test_pausing_a_finished_run_is_409(api: Api) -> None:
    assert api.post(f"/dags/etl/runs/{api.seed.finished['etl']}/pause").status_code == 409


def test_a_viewer_may_not_mark_or_pause(api: Api) -> None:
    assert api.post("/dags/etl/runs/jan/mark", json={"state": "failed"}, role="viewer").status_code == 403
    assert api.post("/dags/etl/runs/jan/pause", role="viewer").status_code == 403


def test_marking_needs_edit_on_the_dag_and_pausing_trigger(api: Api) -> None:
    token = _restricted_user(api, Role.OPERATOR, Grant(DagPermission.TRIGGER, dag_id="etl"))
    assert _as(api, token, "POST", "/dags/etl/runs/jan/mark", {"state": "failed"}).status_code == 403
    assert _as(api, token, "POST", "/dags/etl/runs/jan/pause").status_code == 200


def test_the_late_list_shows_misses_newest_first_with_the_run_state_now(api: Api) -> None:
    now = datetime.now(UTC)
    run_id = api.seed.finished["etl"]
    with api.sessions.begin() as s:
        events.append(s, [
            events.deadline_missed("etl", run_id, now - timedelta(minutes=2), deadline=now - timedelta(minutes=3)),
            events.deadline_missed("etl", run_id, now - timedelta(minutes=1), task_id="load", deadline=now - timedelta(minutes=2)),
        ])
    body = api.get("/late", role="viewer").get_json()
    assert body["total"] == 2
    assert [(i["task_id"], i["run_state"], i["task_state"]) for i in body["items"]] == [("load", "success", "success"), (None, "success", None)]


def test_the_late_list_hides_dags_the_user_may_not_read(api: Api) -> None:
    now = datetime.now(UTC)
    with api.sessions.begin() as s:
        events.append(s, [events.deadline_missed("etl", "jan", now), events.deadline_missed("failing", "x", now)])
    token = _restricted_user(api, Role.VIEWER, Grant(DagPermission.READ, tag="ops"))
    assert [i["dag_id"] for i in _as(api, token, "GET", "/late").get_json()["items"]] == ["failing"]
