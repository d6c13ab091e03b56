"""/schedules: operators manage named schedules, viewers read them; bad fields are named; every change audited."""

from __future__ import annotations

from sqlalchemy import select

from orchestrator.store.models import AuditLog

from .conftest import Api

NEW = {"name": "nightly", "dag_id": "quiet", "cron": "0 6 * * *", "timezone": "Europe/Berlin", "conf": {"a": 1}}


def _actions(api: Api) -> list[str]:
    with api.sessions() as s:
        return [a.action for a in s.scalars(select(AuditLog).where(AuditLog.action.like("schedule.%")).order_by(AuditLog.id))]


def test_an_operator_creates_edits_pauses_resumes_and_deletes_a_schedule_audited(api: Api) -> None:
    created = api.post("/schedules", role="operator", json=NEW)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["next_run_at"] is not None
    assert api.patch("/schedules/nightly", role="operator", json={"cron": "@hourly"}).get_json()["cron"] == "@hourly"
    paused = api.post("/schedules/nightly/pause", role="operator").get_json()
    assert (paused["enabled"], paused["next_run_at"]) == (False, None)
    assert api.post("/schedules/nightly/resume", role="operator").get_json()["enabled"] is True
    assert api.call("DELETE", "/schedules/nightly", role="operator").status_code == 200
    assert api.get("/schedules/nightly", role="viewer").status_code == 404
    assert _actions(api) == ["schedule.create", "schedule.update", "schedule.pause", "schedule.resume", "schedule.delete"]


def test_a_viewer_lists_schedules_but_cannot_create_one(api: Api) -> None:
    api.post("/schedules", role="operator", json=NEW)
    assert api.post("/schedules", role="viewer", json={**NEW, "name": "other"}).status_code == 403
    body = api.get("/schedules", role="viewer").get_json()
    assert (body["total"], body["items"][0]["conf"]) == (1, {"a": 1})


def test_a_bad_cron_is_a_bad_request_naming_the_field(api: Api) -> None:
    response = api.post("/schedules", role="operator", json={**NEW, "cron": "61 * * * *"})
    assert response.status_code == 400
    assert response.get_json()["error"]["message"].startswith("cron: ")
    assert _actions(api) == []


def test_an_unknown_dag_is_not_found(api: Api) -> None:
    assert api.post("/schedules", role="operator", json={**NEW, "dag_id": "nope"}).status_code == 404


def test_a_duplicate_name_is_a_conflict(api: Api) -> None:
    api.post("/schedules", role="operator", json=NEW)
    assert api.post("/schedules", role="operator", json=NEW).status_code == 409
