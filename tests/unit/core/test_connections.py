"""Connections: URIs, secrets, masking, the resolver's order and cache, get_connection in a task."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from orchestrator.core.connections import (
    MASK,
    Connection,
    ConnectionLookupError,
    ConnectionNotFoundError,
    ConnectionResolver,
    Masker,
    env_var_name,
    get_connection,
    masker_for,
    reset_connections,
    set_connections,
)

ROUND_TRIPS = [
    Connection(conn_id="pg", conn_type="postgresql", host="db.example", port=5432, login="etl", password="s3cret", schema="warehouse"),
    Connection(conn_id="odd", conn_type="postgresql", host="h", login="us@er:x", password="p@ss:/w?rd#%&=", schema="db name"),
    Connection(conn_id="lite", conn_type="sqlite", schema="/var/data/app.db"),
    Connection(conn_id="api", conn_type="https", host="api.example", extra={"timeout": "5", "verify": "true"}),
    Connection(conn_id="nested", conn_type="http", host="h", extra={"retries": 3, "headers": {"X-Key": "k"}, "on": True}),
    Connection(conn_id="empty_pw", conn_type="smtp", host="mail", port=25, login="me", password=""),
    Connection(conn_id="some_type", conn_type="google_cloud", host="h"),
]


@pytest.mark.parametrize("conn", ROUND_TRIPS, ids=[c.conn_id for c in ROUND_TRIPS])
def test_a_connection_survives_a_round_trip_through_its_uri(conn: Connection) -> None:
    assert Connection.from_uri(conn.conn_id, conn.to_uri()) == conn


def test_a_uri_is_read_as_airflow_reads_it() -> None:
    conn = Connection.from_uri("pg", "postgresql://user:pa%24%24@db.example:5433/sales?sslmode=require&application_name=orch")
    assert (conn.conn_type, conn.login, conn.password, conn.host, conn.port, conn.schema) == (
        "postgresql", "user", "pa$$", "db.example", 5433, "sales",
    )
    assert conn.extra == {"sslmode": "require", "application_name": "orch"}


def test_a_sqlite_uri_keeps_the_absolute_path_in_the_schema() -> None:
    assert Connection.from_uri("lite", "sqlite:////tmp/app.db").schema == "/tmp/app.db"


def test_extras_that_are_not_strings_travel_as_json_in_the_uri() -> None:
    uri = Connection(conn_id="x", conn_type="http", host="h", extra={"retries": 3}).to_uri()
    assert "__extra__=" in uri
    assert Connection.from_uri("x", uri).extra == {"retries": 3}


@pytest.mark.parametrize("uri", ["not a uri", "postgresql:/missing-slashes", "postgresql://h:99999/db", "http://h/?__extra__=[1]"])
def test_a_bad_uri_is_refused_with_the_connection_named(uri: str) -> None:
    with pytest.raises(ValueError, match="'broken'"):
        Connection.from_uri("broken", uri)


def test_an_error_about_a_bad_uri_does_not_show_its_password() -> None:
    with pytest.raises(ValueError) as info:
        Connection.from_uri("broken", "postgresql://user:hunter2@h:notaport/db")
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize("conn_id", ["", "has space", "slash/id", "x" * 251])
def test_a_conn_id_must_be_a_simple_name(conn_id: str) -> None:
    with pytest.raises(ValidationError):
        Connection(conn_id=conn_id, conn_type="http")


def test_the_secrets_of_a_connection_are_its_password_and_sensitive_extras() -> None:
    conn = Connection(
        conn_id="c", conn_type="http", password="pw1",
        extra={"api_key": "k-123", "client_secret": "cs", "region": "eu", "auth": {"token": "t-9"}},
    )
    assert sorted(conn.secret_values()) == ["cs", "k-123", "pw1", "t-9"]


def test_masked_shows_no_secret_but_keeps_what_is_not_secret() -> None:
    conn = Connection(conn_id="c", conn_type="http", host="h", password="pw1", extra={"api_key": "k-123", "region": "eu"})
    shown = conn.masked()
    assert shown["password"] == MASK
    assert shown["extra"] == {"api_key": MASK, "region": "eu"}
    assert "pw1" not in repr(shown) and "k-123" not in repr(shown)


def test_the_masker_replaces_every_secret_with_stars() -> None:
    masker = Masker(["hunter2", "tok-abc"])
    assert masker.mask("login with hunter2 and tok-abc, again hunter2") == f"login with {MASK} and {MASK}, again {MASK}"


def test_the_masker_hides_a_longer_secret_whole_when_a_shorter_one_is_inside_it() -> None:
    assert Masker(["abc", "xxabcxx"]).mask("[xxabcxx]") == f"[{MASK}]"


def test_the_masker_hides_a_secret_percent_encoded_in_a_uri() -> None:
    masker = Masker(["p@ss word"])
    assert masker.mask("postgresql://u:p%40ss%20word@h/db") == f"postgresql://u:{MASK}@h/db"


def test_the_masker_hides_each_line_of_a_multi_line_secret() -> None:
    key = "-----BEGIN KEY-----\nAAAABBBBCCCC\nDDDDEEEE\n-----END KEY-----"
    printed = f"key is:\n{key}\ndone"
    masked = Masker([key]).mask(printed)
    assert "AAAABBBBCCCC" not in masked and "DDDDEEEE" not in masked
    assert masked.startswith("key is:") and masked.endswith("done")


def test_a_masker_without_secrets_leaves_text_alone() -> None:
    masker = masker_for({"c": Connection(conn_id="c", conn_type="http", host="h").model_dump()})
    assert not masker
    assert masker.mask("host h") == "host h"


def test_get_connection_returns_the_connection_given_to_the_task() -> None:
    conn = Connection(conn_id="pg", conn_type="postgresql", host="h", password="pw")
    token = set_connections({"pg": conn.model_dump()})
    try:
        assert get_connection("pg") == conn
    finally:
        reset_connections(token)


def test_get_connection_names_a_connection_the_task_was_not_given() -> None:
    token = set_connections({"pg": Connection(conn_id="pg", conn_type="postgresql").model_dump()})
    try:
        with pytest.raises(ConnectionNotFoundError, match=r"'warehouse' was not given to this task \(it has: pg\)"):
            get_connection("warehouse")
    finally:
        reset_connections(token)


def test_get_connection_outside_a_task_says_so() -> None:
    with pytest.raises(ConnectionNotFoundError, match="outside a running task"):
        get_connection("pg")


def test_the_environment_variable_of_a_connection_is_its_upper_cased_id() -> None:
    assert env_var_name("my_db") == "ORCH_CONN_MY_DB"
    assert env_var_name("team.api-v2") == "ORCH_CONN_TEAM_API_V2"


class _Backend:
    name = "vault"

    def __init__(self, known: dict[str, Connection]) -> None:
        self.known = known
        self.calls = 0

    def get_connection(self, conn_id: str) -> Connection | None:
        self.calls += 1
        return self.known.get(conn_id)


def _db(known: dict[str, Connection]):  # noqa: ANN202
    calls = []

    def lookup(conn_id: str) -> Connection | None:
        calls.append(conn_id)
        return known.get(conn_id)

    return lookup, calls


def test_the_resolver_asks_the_environment_then_backends_then_the_database() -> None:
    db_conn = Connection(conn_id="a", conn_type="http", host="from-db")
    vault_conn = Connection(conn_id="a", conn_type="http", host="from-vault")
    lookup, _ = _db({"a": db_conn, "b": db_conn.model_copy(update={"conn_id": "b"})})
    resolver = ConnectionResolver(backends=[_Backend({"a": vault_conn})], database=lookup, environ={"ORCH_CONN_C": "http://from-env"})
    assert resolver.lookup("a") == (vault_conn, "backend:vault")
    assert resolver.lookup("b")[1] == "database"  # type: ignore[index]
    assert resolver.lookup("c")[0].host == "from-env"  # type: ignore[index]
    assert resolver.lookup("d") is None


def test_the_environment_wins_over_every_other_source() -> None:
    lookup, calls = _db({"a": Connection(conn_id="a", conn_type="http", host="from-db")})
    resolver = ConnectionResolver(database=lookup, environ={"ORCH_CONN_A": "http://from-env"})
    assert resolver.get("a").host == "from-env"
    assert calls == []


def test_the_resolver_answers_from_its_cache_until_the_ttl_passes() -> None:
    now = [100.0]
    lookup, calls = _db({"a": Connection(conn_id="a", conn_type="http", host="h")})
    resolver = ConnectionResolver(database=lookup, ttl_s=10, environ={}, clock=lambda: now[0])
    for _ in range(1000):
        assert resolver("a") is not None
        assert resolver("missing") is None
    assert calls == ["a", "missing"]
    now[0] += 10
    resolver("a")
    assert calls == ["a", "missing", "a"]


def test_a_failing_secrets_backend_fails_the_lookup_instead_of_falling_through() -> None:
    class Broken:
        name = "broken"

        def get_connection(self, conn_id: str) -> Connection | None:
            raise RuntimeError("vault sealed")

    lookup, calls = _db({"a": Connection(conn_id="a", conn_type="http")})
    with pytest.raises(ConnectionLookupError, match="secrets backend broken .* vault sealed"):
        ConnectionResolver(backends=[Broken()], database=lookup, environ={}).lookup("a")
    assert calls == []


def test_an_unknown_connection_is_named_with_every_place_looked() -> None:
    with pytest.raises(ConnectionNotFoundError, match=r"'nope' is not defined: not in \$ORCH_CONN_NOPE"):
        ConnectionResolver(environ={}).get("nope")


def test_a_bad_uri_in_the_environment_names_the_variable() -> None:
    with pytest.raises(ConnectionLookupError, match="ORCH_CONN_A"):
        ConnectionResolver(environ={"ORCH_CONN_A": "nonsense"}).lookup("a")


def test_masked_hides_sensitive_keys_nested_in_the_extras() -> None:
    conn = Connection(conn_id="c", conn_type="http", extra={"auth": {"token": "t-9", "kind": "bearer"}})
    assert conn.masked()["extra"] == {"auth": {"token": MASK, "kind": "bearer"}}
