"""Stored connections: secrets encrypted at rest, the Fernet key, and where the scheduler finds them."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from orchestrator.core.connections import Connection
from orchestrator.core.errors import ConfigError, ConflictError
from orchestrator.plugins.hookspecs import hookimpl
from orchestrator.plugins.manager import load_plugins
from orchestrator.store import connections as connection_store
from scheduler.connections import connection_resolver

from .harness import make_config, upgraded_sessions

PASSWORD = "correct-horse-battery-staple"
CONN = Connection(
    conn_id="warehouse", conn_type="postgresql", host="db.internal", port=5432, login="etl", password=PASSWORD,
    schema="sales", extra={"api_token": "tok-123456", "sslmode": "require"},
)


def _now() -> datetime:
    return datetime.now(UTC)


def test_secrets_are_encrypted_at_rest_and_read_back(database_url: str, tmp_path: Path) -> None:
    config = make_config(tmp_path, database_url)
    sessions = upgraded_sessions(database_url)
    f = connection_store.crypter(config)
    with sessions.begin() as s:
        connection_store.create(s, CONN, f, _now())
    with sessions() as s:
        raw = s.execute(text("SELECT host, password_enc, extra_enc FROM connection WHERE conn_id = 'warehouse'")).one()
        assert raw.host == "db.internal"  # not a secret: stays readable for lists
        assert PASSWORD not in raw.password_enc and "tok-123456" not in raw.extra_enc and "sslmode" not in raw.extra_enc
        assert connection_store.get(s, "warehouse", f) == CONN
    sessions.kw["bind"].dispose()


def test_a_generated_key_is_kept_in_orch_home_readable_by_its_owner_only(tmp_path: Path) -> None:
    config = make_config(tmp_path, f"sqlite:///{tmp_path / 'o.db'}")
    first = connection_store.fernet_key(config)
    key_file = tmp_path / "fernet_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert connection_store.fernet_key(config) == first == key_file.read_text()


def test_the_configured_key_is_used_instead_of_a_file(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    config = make_config(tmp_path, f"sqlite:///{tmp_path / 'o.db'}", fernet_key=key)
    token = connection_store.crypter(config).encrypt(b"x")
    assert Fernet(key.encode()).decrypt(token) == b"x"
    assert not (tmp_path / "fernet_key").exists()


def test_a_rotated_key_list_still_reads_secrets_written_with_the_old_key(tmp_path: Path) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    url = f"sqlite:///{tmp_path / 'o.db'}"
    sessions = upgraded_sessions(url)
    with sessions.begin() as s:
        connection_store.create(s, CONN, connection_store.crypter(make_config(tmp_path, url, fernet_key=old)), _now())
    with sessions() as s:
        assert connection_store.get(s, "warehouse", connection_store.crypter(make_config(tmp_path, url, fernet_key=f"{new},{old}"))) == CONN


def test_the_wrong_key_is_reported_not_turned_into_garbage(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'o.db'}"
    sessions = upgraded_sessions(url)
    with sessions.begin() as s:
        connection_store.create(s, CONN, connection_store.crypter(make_config(tmp_path, url, fernet_key=Fernet.generate_key().decode())), _now())
    other = connection_store.crypter(make_config(tmp_path, url, fernet_key=Fernet.generate_key().decode()))
    with sessions() as s, pytest.raises(connection_store.DecryptionError, match="'warehouse'"):
        connection_store.get(s, "warehouse", other)


def test_an_invalid_configured_key_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ORCH_FERNET_KEY"):
        connection_store.crypter(make_config(tmp_path, f"sqlite:///{tmp_path / 'o.db'}", fernet_key="too-short"))


def test_adding_a_connection_twice_is_a_conflict(tmp_path: Path) -> None:
    config = make_config(tmp_path, f"sqlite:///{tmp_path / 'o.db'}")
    sessions = upgraded_sessions(config.resolved_database_url)
    f = connection_store.crypter(config)
    with sessions.begin() as s:
        connection_store.create(s, CONN, f, _now())
    with sessions.begin() as s, pytest.raises(ConflictError, match="'warehouse' already exists"):
        connection_store.create(s, CONN, f, _now())


class VaultPlugin:
    """A secrets-backend plugin, registered like any other."""

    class Backend:
        name = "vault"

        def get_connection(self, conn_id: str) -> Connection | None:
            return CONN.model_copy(update={"conn_id": conn_id, "host": "from-vault"}) if conn_id in ("warehouse", "vaulted") else None

    @hookimpl
    def orchestrator_secrets_backends(self) -> list[object]:
        return [self.Backend()]


@pytest.fixture
def stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """A database holding `warehouse` and `db_only`, and a resolver with the vault plugin loaded."""
    config = make_config(tmp_path, f"sqlite:///{tmp_path / 'o.db'}")
    sessions = upgraded_sessions(config.resolved_database_url)
    f = connection_store.crypter(config)
    with sessions.begin() as s:
        connection_store.create(s, CONN, f, _now())
        connection_store.create(s, CONN.model_copy(update={"conn_id": "db_only", "host": "from-db"}), f, _now())
    backends = load_plugins(config, load_entry_points=False, extra=[("vault", VaultPlugin())]).secrets_backends()
    yield connection_store.resolver(config, sessions, backends)
    sessions.kw["bind"].dispose()


def test_a_secrets_backend_plugin_wins_over_the_database(stored) -> None:  # noqa: ANN001
    assert stored("warehouse")["host"] == "from-vault"
    assert stored.lookup("warehouse")[1] == "backend:vault"


def test_the_database_answers_what_no_backend_knows(stored) -> None:  # noqa: ANN001
    assert stored("db_only")["host"] == "from-db"


def test_an_environment_connection_wins_over_backends_and_the_database(stored, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("ORCH_CONN_WAREHOUSE", "postgresql://env_user:env_pw@from-env:5439/envdb")
    found = stored("warehouse")
    assert (found["host"], found["login"], found["password"], found["port"]) == ("from-env", "env_user", "env_pw", 5439)


def test_the_schedulers_resolver_reads_the_database_of_its_config(tmp_path: Path) -> None:
    config = make_config(tmp_path, f"sqlite:///{tmp_path / 'o.db'}")
    sessions = upgraded_sessions(config.resolved_database_url)
    with sessions.begin() as s:
        connection_store.create(s, CONN, connection_store.crypter(config), _now())
    resolve = connection_resolver(config, sessions)
    assert resolve("warehouse") == CONN.model_dump()
    assert resolve("missing") is None
