"""/api/v1/connections: roles, secrets never returned, changes audited, the UI page."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import select

from orchestrator.store.models import AuditLog

from .conftest import Api

PASSWORD = "pw-7f3a9c1e"
TOKEN = "tok-42ab42ab"
BODY = {
    "conn_id": "warehouse", "conn_type": "postgresql", "host": "db.internal", "port": 5432, "login": "etl",
    "password": PASSWORD, "schema": "sales", "extra": {"sslmode": "require", "api_token": TOKEN},
}


@pytest.fixture
def with_conn(api: Api) -> Api:
    created = api.post("/connections", json=BODY)
    assert created.status_code == 201, created.get_json()
    return api


def _no_secret(text: str) -> bool:
    return PASSWORD not in text and TOKEN not in text


def test_creating_answers_the_connection_without_its_secrets(api: Api) -> None:
    created = api.post("/connections", json=BODY)
    assert created.status_code == 201
    body = created.get_json()
    assert body == {
        "conn_id": "warehouse", "conn_type": "postgresql", "host": "db.internal", "port": 5432, "login": "etl",
        "schema": "sales", "has_password": True, "extra": {"sslmode": "require", "api_token": "***"},
        "source": "database", "read_only": False,
    }


def test_a_connection_can_be_created_from_a_uri(api: Api) -> None:
    created = api.post("/connections", json={"conn_id": "web", "uri": "https://user:secret-1@api.example:8443/v1?region=eu"})
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["host"] == "api.example" and "secret-1" not in created.get_data(as_text=True)


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_every_role_reads_connections_and_none_sees_a_secret(with_conn: Api, role: str) -> None:
    listed = with_conn.get("/connections", role=role)
    one = with_conn.get("/connections/warehouse", role=role)
    assert listed.status_code == one.status_code == 200
    assert [c["conn_id"] for c in listed.get_json()["items"]] == ["warehouse"]
    assert _no_secret(listed.get_data(as_text=True)) and _no_secret(one.get_data(as_text=True))


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_only_admins_create_update_and_delete(with_conn: Api, role: str) -> None:
    assert with_conn.post("/connections", json={**BODY, "conn_id": "other"}, role=role).status_code == 403
    assert with_conn.patch("/connections/warehouse", json={"host": "h"}, role=role).status_code == 403
    assert with_conn.call("DELETE", "/connections/warehouse", role=role).status_code == 403


def test_anonymous_callers_are_refused(with_conn: Api) -> None:
    assert with_conn.get("/connections", role=None).status_code == 401


def test_testing_needs_the_operator_role(with_conn: Api) -> None:
    assert with_conn.post("/connections/warehouse/test", role="viewer").status_code == 403
    assert with_conn.post("/connections/warehouse/test", role="operator").status_code == 200


def test_a_test_reports_whether_the_system_answered(api: Api, tmp_path: Path) -> None:
    db = tmp_path / "data.db"
    sqlite3.connect(db).close()
    api.post("/connections", json={"conn_id": "lite", "conn_type": "sqlite", "schema": str(db)})
    result = api.post("/connections/lite/test", role="operator").get_json()
    assert result["ok"] is True and "SELECT 1" in result["message"]


def test_a_patch_changes_only_the_given_fields_and_keeps_the_password(with_conn: Api) -> None:
    patched = with_conn.patch("/connections/warehouse", json={"host": "db2.internal"})
    assert patched.status_code == 200
    assert patched.get_json()["host"] == "db2.internal" and patched.get_json()["has_password"] is True
    cleared = with_conn.patch("/connections/warehouse", json={"password": None}).get_json()
    assert cleared["has_password"] is False


def test_creating_an_existing_id_conflicts(with_conn: Api) -> None:
    assert with_conn.post("/connections", json=BODY).status_code == 409


def test_deleting_removes_it(with_conn: Api) -> None:
    assert with_conn.call("DELETE", "/connections/warehouse").status_code == 200
    assert with_conn.get("/connections/warehouse").status_code == 404


@pytest.mark.parametrize(
    "body",
    [{**BODY, "conn_id": "has space"}, {"conn_id": "x"}, {"conn_id": "x", "uri": "http://h", "host": "h"}, {"conn_id": "x", "uri": "nonsense"}],
    ids=["bad-id", "no-type", "uri-and-fields", "bad-uri"],
)
def test_invalid_connections_are_refused_with_422(api: Api, body: dict) -> None:
    assert api.post("/connections", json=body).status_code == 422


def test_changes_and_tests_are_audited_without_secrets(with_conn: Api) -> None:
    with_conn.patch("/connections/warehouse", json={"password": "new-pw-123456"})
    with_conn.post("/connections/warehouse/test", role="operator")
    with_conn.call("DELETE", "/connections/warehouse")
    with with_conn.sessions() as s:
        entries = s.scalars(select(AuditLog).where(AuditLog.target == "connection:warehouse").order_by(AuditLog.id)).all()
    assert [(e.actor, e.action) for e in entries] == [
        ("admin", "connection.create"), ("admin", "connection.update"), ("operator", "connection.test"), ("admin", "connection.delete"),
    ]
    assert all(_no_secret(str(e.details)) and "new-pw-123456" not in str(e.details) for e in entries)


def test_the_connections_page_lists_them_without_secrets(with_conn: Api) -> None:
    page = with_conn.client.get("/connections", headers={"Authorization": f"Bearer {with_conn.seed.tokens['viewer']}"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "warehouse" in html and "db.internal" in html and _no_secret(html)


ENV_URI = "http://user:env-pw-123456@env.example:8080/v1?api_token=env-tok-654321"


def test_the_list_adds_environment_connections_as_read_only(with_conn: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_CONN_FROM_ENV", ENV_URI)
    listed = with_conn.get("/connections", role="viewer")
    body = listed.get_json()
    assert body["total"] == 2
    by_id = {c["conn_id"]: c for c in body["items"]}
    assert (by_id["warehouse"]["source"], by_id["warehouse"]["read_only"]) == ("database", False)
    env = by_id["from_env"]
    assert (env["source"], env["read_only"], env["host"], env["has_password"]) == ("env", True, "env.example", True)
    assert env["extra"] == {"api_token": "***"}
    text = listed.get_data(as_text=True)
    assert "env-pw-123456" not in text and "env-tok-654321" not in text


def test_a_bad_environment_variable_is_left_out_of_the_list(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_CONN_GOOD", "http://h:1")
    monkeypatch.setenv("ORCH_CONN_BAD", "not a uri")
    assert [c["conn_id"] for c in api.get("/connections").get_json()["items"]] == ["good"]


def test_the_connections_page_marks_environment_connections_read_only(with_conn: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_CONN_FROM_ENV", ENV_URI)
    page = with_conn.client.get("/connections", headers={"Authorization": f"Bearer {with_conn.seed.tokens['viewer']}"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'data-source="env"' in html and "from_env" in html and "read-only" in html
    assert "env-pw-123456" not in html and "env-tok-654321" not in html


def test_a_port_that_is_not_an_integer_is_refused_even_a_boolean(api: Api) -> None:
    response = api.post("/connections", json={"conn_id": "web", "conn_type": "http", "port": False})
    assert response.status_code == 422


def test_an_update_without_a_body_is_refused(api: Api) -> None:
    api.post("/connections", json={"conn_id": "web", "conn_type": "http", "host": "example.org"})
    assert api.patch("/connections/web").status_code == 422
