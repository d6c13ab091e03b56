"""API rate limits: per bearer token, per client address and for failed authentication, each
answered with 429 and Retry-After; every refused credential is audited with its source address."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from orchestrator.core.config import Config
from orchestrator.store.db import make_engine, make_sessionmaker
from orchestrator.store.models import AuditLog
from webui import create_app

from ..harness import make_config
from .conftest import Seed, copy_store

Client = Callable[..., FlaskClient]


@pytest.fixture
def limited(seed: Seed, tmp_path: Path) -> Iterator[Callable[..., tuple[FlaskClient, Any]]]:
    """An app on a copy of the seeded store with the given limit settings; returns (client, sessions)."""
    engines = []

    def make(**limits: str) -> tuple[FlaskClient, Any]:
        home = tmp_path / f"app{len(engines)}"
        home.mkdir()
        config: Config = make_config(home, f"sqlite:///{copy_store(seed, home)}", secret_key="test", dags_folder=seed.dags_folder, **limits)
        sessions = make_sessionmaker(make_engine(config.resolved_database_url))
        engines.append(sessions.kw["bind"])
        return create_app(config, sessions=sessions).test_client(), sessions

    yield make
    for engine in engines:
        engine.dispose()


def _get(client: FlaskClient, token: str | None, address: str = "10.0.0.1", url: str = "/api/v1/dags") -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get(url, headers=headers, environ_base={"REMOTE_ADDR": address})


def _assert_limited(response: Any) -> None:
    assert response.status_code == 429
    assert response.get_json()["error"]["code"] == "too_many_requests"
    assert 0 < int(response.headers["Retry-After"]) <= 60


def test_a_token_over_its_limit_gets_429_with_retry_after_and_other_tokens_go_on(limited: Any, seed: Seed) -> None:
    client, _ = limited(api_rate_limit_per_token="3/minute", api_rate_limit_per_ip="")
    assert [_get(client, seed.tokens["viewer"]).status_code for _ in range(3)] == [200, 200, 200]
    _assert_limited(_get(client, seed.tokens["viewer"]))
    assert _get(client, seed.tokens["operator"]).status_code == 200


def test_an_address_over_its_limit_gets_429_whatever_token_it_sends(limited: Any, seed: Seed) -> None:
    client, _ = limited(api_rate_limit_per_token="", api_rate_limit_per_ip="4/minute")
    for role in ("viewer", "operator", "admin", "viewer"):
        assert _get(client, seed.tokens[role]).status_code == 200
    _assert_limited(_get(client, seed.tokens["admin"]))
    assert _get(client, seed.tokens["admin"], address="10.0.0.2").status_code == 200


def test_repeated_bad_tokens_from_one_address_get_429_even_with_a_good_token_after(limited: Any, seed: Seed) -> None:
    client, _ = limited(api_auth_failure_limit="5/minute")
    assert [_get(client, f"orch_wrong{i}").status_code for i in range(5)] == [401] * 5
    _assert_limited(_get(client, "orch_wrong5"))
    _assert_limited(_get(client, seed.tokens["admin"]))
    assert _get(client, seed.tokens["admin"], address="10.0.0.9").status_code == 200


def test_every_refused_token_is_audited_with_its_source_address(limited: Any) -> None:
    client, sessions = limited()
    for i in range(3):
        assert _get(client, f"orch_wrong{i}", address="192.0.2.7").status_code == 401
    bad_scheme = client.get("/api/v1/dags", headers={"Authorization": "Basic eDp5"}, environ_base={"REMOTE_ADDR": "192.0.2.8"})
    assert bad_scheme.status_code == 401
    with sessions() as s:
        rows = s.scalars(select(AuditLog).where(AuditLog.action == "api.auth_failed").order_by(AuditLog.id)).all()
    assert [(r.actor, r.source_ip) for r in rows] == [("anonymous", "192.0.2.7")] * 3 + [("anonymous", "192.0.2.8")]
    assert rows[0].details == {"reason": "the bearer token is unknown or revoked", "token_prefix": "orch_wro"}


def test_the_default_limits_let_a_burst_of_ui_and_script_calls_through(limited: Any, seed: Seed) -> None:
    client, _ = limited()
    assert {_get(client, seed.tokens["viewer"]).status_code for _ in range(40)} == {200}


def test_pages_of_the_ui_are_not_rate_limited(limited: Any) -> None:
    client, _ = limited(api_rate_limit_per_ip="2/minute")
    assert {client.get("/login", environ_base={"REMOTE_ADDR": "10.0.0.3"}).status_code for _ in range(5)} == {200}


def test_limits_in_the_configuration_are_checked_when_it_is_loaded(tmp_path: Path) -> None:
    from orchestrator.core.errors import ConfigError

    with pytest.raises(ConfigError, match="api_rate_limit_per_token"):
        make_config(tmp_path, "sqlite://", api_rate_limit_per_token="lots per minute")
