"""The login form through Flask's test client (fast): CSRF, rate limit, audit, safe redirects."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from orchestrator.core.config import load_config
from orchestrator.store import users as user_store
from orchestrator.store.db import make_engine, make_sessionmaker, upgrade
from orchestrator.store.models import AuditLog
from webui import create_app
from webui.auth import throttle

PASSWORD = "correct horse"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[object]:
    url = f"sqlite:///{tmp_path / 'orchestrator.db'}"
    engine = make_engine(url)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    with sessions.begin() as s:
        user_store.create_user(s, "ada", user_store.Role.OPERATOR, PASSWORD, datetime.now(UTC))
    yield create_app(load_config(home=tmp_path, database_url=url, secret_key="test"), sessions=sessions)
    engine.dispose()


def _client(app: object, address: str) -> FlaskClient:
    # the rate limit is per client address: each test comes from its own
    throttle.succeeded(address)
    client: FlaskClient = app.test_client()  # type: ignore[attr-defined]
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _token(client: FlaskClient) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True))
    assert found, "the login form has no CSRF token"
    return found.group(1)


def _log_in(client: FlaskClient, password: str, next_url: str = "") -> object:
    return client.post("/login", data={"csrf_token": _token(client), "username": "ada", "password": password, "next": next_url})


def test_a_login_without_the_csrf_token_is_refused(app: object) -> None:
    client = _client(app, "10.0.0.1")
    response = client.post("/login", data={"username": "ada", "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/dags").status_code == 302


def test_a_good_login_opens_the_session(app: object) -> None:
    client = _client(app, "10.0.0.2")
    response = _log_in(client, PASSWORD)
    assert response.status_code == 302 and response.headers["Location"] == "/dags"
    assert client.get("/dags").status_code == 200


def test_after_five_failed_logins_the_address_must_wait(app: object) -> None:
    client = _client(app, "10.0.0.3")
    for _ in range(5):
        assert _log_in(client, "wrong").status_code == 401
    blocked = _log_in(client, PASSWORD)
    assert blocked.status_code == 429
    assert "Too many failed logins" in blocked.get_data(as_text=True)
    # another address is not affected
    assert _log_in(_client(app, "10.0.0.4"), PASSWORD).status_code == 302


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil.example"])
def test_a_login_redirects_only_within_the_site(app: object, target: str) -> None:
    response = _log_in(_client(app, "10.0.0.5"), PASSWORD, target)
    assert response.headers["Location"] == "/dags"


def test_a_login_goes_back_to_the_page_that_asked_for_it(app: object) -> None:
    response = _log_in(_client(app, "10.0.0.6"), PASSWORD, "/health?")
    assert response.headers["Location"] == "/health"


def test_logins_and_failed_logins_are_audited_with_the_address(app: object) -> None:
    client = _client(app, "10.0.0.7")
    _log_in(client, "wrong")
    _log_in(client, PASSWORD)
    with app.extensions["orchestrator"].read_sessions() as s:  # type: ignore[attr-defined]
        rows = s.scalars(select(AuditLog).where(AuditLog.source_ip == "10.0.0.7").order_by(AuditLog.id)).all()
    assert [(r.action, r.actor, r.target) for r in rows] == [("user.login_failed", "anonymous", "ada"), ("user.login", "ada", "ada")]
