"""Per-DAG permissions through the API and the UI: a user in a DAG role sees and acts on only the
DAGs its grants name (by dag_id or tag); users in no DAG role keep their global role on every DAG."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from werkzeug.test import TestResponse

from orchestrator.store import access as access_store
from orchestrator.store import users as user_store
from orchestrator.store.permissions import DagPermission, Grant
from orchestrator.store.users import Role

from .conftest import Api


def _restricted_user(api: Api, role: Role, *grants: Grant) -> str:
    """A user `alice` with `role`, in a DAG role `team` with `grants`; returns her bearer token."""
    now = datetime.now(UTC)
    with api.sessions.begin() as s:
        user = user_store.create_user(s, "alice", role, "alice-password", now)
        access_store.create_role(s, "team", None, now)
        for grant in grants:
            access_store.add_grant(s, "team", grant, now)
        access_store.add_member(s, "team", "alice")
        return user_store.create_token(s, user, now)[1]


def _as(api: Api, token: str, method: str, url: str, json: object = None) -> TestResponse:
    return api.client.open("/api/v1" + url, method=method, headers={"Authorization": f"Bearer {token}"}, json=json)


def test_the_dag_list_shows_only_the_dags_a_restricted_user_may_read(api: Api) -> None:
    token = _restricted_user(api, Role.VIEWER, Grant(DagPermission.READ, dag_id="quiet"), Grant(DagPermission.READ, tag="ops"))
    body = _as(api, token, "GET", "/dags").get_json()
    assert sorted(d["dag_id"] for d in body["items"]) == ["failing", "flaky", "quiet"]
    assert body["total"] == 3


def test_reading_a_dag_without_a_grant_is_forbidden_and_says_why(api: Api) -> None:
    token = _restricted_user(api, Role.OPERATOR, Grant(DagPermission.READ, tag="ops"))
    response = _as(api, token, "GET", "/dags/etl")
    assert response.status_code == 403
    assert "none of your DAG roles grants read" in response.get_json()["error"]["message"]
    assert _as(api, token, "GET", f"/dags/etl/runs/{api.seed.finished['etl']}/tasks").status_code == 403
    assert _as(api, token, "GET", "/dags/flaky").status_code == 200


def test_a_trigger_grant_by_tag_lets_even_a_viewer_trigger_and_nothing_more(api: Api) -> None:
    token = _restricted_user(api, Role.VIEWER, Grant(DagPermission.TRIGGER, tag="ops"))
    assert _as(api, token, "POST", "/dags/flaky/runs", {"conf": {}}).status_code == 201
    assert _as(api, token, "POST", "/dags/etl/runs", {"conf": {}}).status_code == 403
    assert _as(api, token, "PATCH", "/dags/flaky", {"is_paused": True}).status_code == 403


def test_read_alone_does_not_allow_cancelling_or_clearing(api: Api) -> None:
    token = _restricted_user(api, Role.OPERATOR, Grant(DagPermission.READ, dag_id="etl"), Grant(DagPermission.READ, dag_id="failing"))
    assert _as(api, token, "POST", "/dags/etl/runs/jan/cancel").status_code == 403
    clear = f"/dags/failing/runs/{api.seed.finished['failing']}/tasks/boom/clear"
    assert _as(api, token, "POST", clear, {"downstream": True}).status_code == 403


def test_an_edit_grant_allows_pausing_and_the_dags_named_schedules(api: Api) -> None:
    token = _restricted_user(api, Role.VIEWER, Grant(DagPermission.EDIT, dag_id="etl"))
    assert _as(api, token, "PATCH", "/dags/etl", {"is_paused": True}).get_json()["is_paused"] is True
    made = _as(api, token, "POST", "/schedules", {"name": "team_nightly", "dag_id": "etl", "cron": "@daily"})
    assert made.status_code == 201
    refused = _as(api, token, "POST", "/schedules", {"name": "elsewhere", "dag_id": "quiet", "cron": "@daily"})
    assert refused.status_code == 403


def test_schedules_of_unreadable_dags_are_not_listed(api: Api) -> None:
    api.post("/schedules", json={"name": "etl_nightly", "dag_id": "etl", "cron": "@daily"})
    api.post("/schedules", json={"name": "quiet_nightly", "dag_id": "quiet", "cron": "@daily"})
    token = _restricted_user(api, Role.OPERATOR, Grant(DagPermission.READ, dag_id="quiet"))
    listed = _as(api, token, "GET", "/schedules").get_json()
    assert [s["name"] for s in listed["items"]] == ["quiet_nightly"]
    assert _as(api, token, "GET", "/schedules/etl_nightly").status_code == 403


def test_users_in_no_dag_role_keep_their_global_role_on_every_dag(api: Api) -> None:
    assert api.get("/dags", role="viewer").get_json()["total"] == 4
    assert api.post("/dags/etl/runs", role="viewer", json={"conf": {}}).status_code == 403
    assert api.post("/dags/etl/runs", role="operator", json={"conf": {}}).status_code == 201


def test_leaving_the_last_dag_role_gives_back_the_global_role(api: Api) -> None:
    token = _restricted_user(api, Role.OPERATOR, Grant(DagPermission.READ, dag_id="quiet"))
    assert _as(api, token, "GET", "/dags/etl").status_code == 403
    with api.sessions.begin() as s:
        access_store.remove_member(s, "team", "alice")
    assert _as(api, token, "GET", "/dags/etl").status_code == 200


@pytest.mark.parametrize("page", ["/dags/etl", "/data/dags/etl/grid", "/dags/etl/runs/jan"])
def test_ui_pages_of_a_dag_need_read_permission(api: Api, page: str) -> None:
    _restricted_user(api, Role.OPERATOR, Grant(DagPermission.READ, dag_id="quiet"))
    with api.sessions() as s:
        user_id = user_store.get_user(s, "alice").id
    with api.client.session_transaction() as session:
        session["user_id"] = user_id
    assert api.client.get(page).status_code == 403
    assert api.client.get("/dags/quiet").status_code == 200


def test_the_ui_dag_list_shows_only_the_dags_a_restricted_user_may_read(api: Api) -> None:
    _restricted_user(api, Role.OPERATOR, Grant(DagPermission.READ, dag_id="quiet"))
    with api.sessions() as s:
        user_id = user_store.get_user(s, "alice").id
    with api.client.session_transaction() as session:
        session["user_id"] = user_id
    page = api.client.get("/dags").get_data(as_text=True)
    assert "/dags/quiet" in page
    assert "/dags/etl" not in page
