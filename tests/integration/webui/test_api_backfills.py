"""POST /dags/{dag_id}/backfills: past intervals queued oldest first, audited; roles and bad ranges."""

from __future__ import annotations

from sqlalchemy import select

from orchestrator.store.models import AuditLog, DagRun, Event

from .conftest import Api

RANGE = {"start": "2024-01-02T00:00:00Z", "end": "2024-01-04T00:00:00Z"}


def test_a_backfill_queues_one_run_per_day_oldest_first_and_is_audited(api: Api) -> None:
    response = api.post("/dags/etl/backfills", role="operator", json=RANGE)
    assert response.status_code == 201
    body = response.get_json()
    assert [i["start"][:10] for i in body["created"]] == ["2024-01-02", "2024-01-03", "2024-01-04"]
    with api.sessions() as s:
        runs = s.scalars(select(DagRun).where(DagRun.run_type == "backfill").order_by(DagRun.logical_date)).all()
        audited = s.scalars(select(AuditLog).where(AuditLog.action == "dag.backfill")).all()
    assert [r.run_id for r in runs] == body["run_ids"]
    assert len(audited) == 1


def test_a_backfill_of_thousands_of_days_queues_each_run_with_its_queued_event(api: Api) -> None:
    """Up to the range limit in one request (the runs go in one executemany, not one insert each)."""
    response = api.post("/dags/etl/backfills", role="operator", json={"start": "2000-01-01T00:00:00Z", "end": "2023-12-31T00:00:00Z"})
    assert response.status_code == 201
    run_ids = response.get_json()["run_ids"]
    assert len(run_ids) == 8766  # 24 years of days, six of them leap years
    with api.sessions() as s:
        stored = s.scalars(select(DagRun.run_id).where(DagRun.run_type == "backfill", DagRun.state == "queued")).all()
        queued = s.scalars(select(Event.run_id).where(Event.kind == "run.queued", Event.run_id.like("backfill__%"))).all()
    assert sorted(stored) == sorted(run_ids) and sorted(queued) == sorted(run_ids)


def test_a_dry_run_queues_nothing(api: Api) -> None:
    body = api.post("/dags/etl/backfills", role="operator", json={**RANGE, "dry_run": True}).get_json()
    assert len(body["created"]) == 3 and body["run_ids"] == []
    with api.sessions() as s:
        assert s.scalars(select(DagRun).where(DagRun.run_type == "backfill")).all() == []


def test_a_viewer_cannot_backfill(api: Api) -> None:
    assert api.post("/dags/etl/backfills", role="viewer", json=RANGE).status_code == 403


def test_a_reversed_range_is_a_bad_request_naming_it(api: Api) -> None:
    response = api.post("/dags/etl/backfills", role="operator", json={"start": RANGE["end"], "end": RANGE["start"]})
    assert response.status_code == 400
    assert "after it ends" in response.get_json()["error"]["message"]


def test_a_backfill_without_dates_is_a_validation_error(api: Api) -> None:
    assert api.post("/dags/etl/backfills", role="operator", json={}).status_code == 422


def test_backfilling_a_dag_without_a_schedule_is_a_conflict_naming_it(api: Api) -> None:
    response = api.post("/dags/quiet/backfills", role="operator", json=RANGE)
    assert response.status_code == 409
    assert "has no schedule" in response.get_json()["error"]["message"]
