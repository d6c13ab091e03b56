"""/connections: the database's named connections. Secrets are write-only.

Roles: viewers may list and read (a password never leaves the server: `has_password` says
whether one is set, sensitive extras read '***'); operators may also test one (it touches the
outside system, changes nothing); admins create, update and delete. Every change and test is
audited, without secrets.
"""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from annotated_types import Interval
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, model_validator
from pydantic.json_schema import SkipJsonSchema

from orchestrator.core.connections import CONN_ID_PATTERN, Connection, env_connections
from orchestrator.plugins.connectors import check_connection
from orchestrator.store import connections as connection_store
from orchestrator.store.users import Role
from webui.api.endpoint import endpoint
from webui.api.schemas import Conf, Input, Page, PageQuery
from webui.auth import audit
from webui.errors import ApiError
from webui.state import web_state

ConnId = Annotated[str, StringConstraints(pattern=CONN_ID_PATTERN)]
# no NUL: PostgreSQL refuses it in text
Field500 = Annotated[str, StringConstraints(max_length=500, pattern=r"^[^\x00]*$")]
ConnType = Annotated[str, StringConstraints(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9_+.\-]+$")]
Secret = Annotated[str, StringConstraints(max_length=5000)]


def _not_a_boolean(value: Any) -> Any:
    # JSON Schema's integer takes 8080.0 but not false; pydantic alone would read false as port 0
    if isinstance(value, bool):
        raise ValueError("must be an integer, not a boolean")
    return value


Port = Annotated[int, Interval(ge=0, le=65535), BeforeValidator(_not_a_boolean)]
SEPARATE_FIELDS = ("conn_type", "host", "port", "login", "password", "schema", "extra")


class ConnPath(Input):
    conn_id: ConnId


with warnings.catch_warnings():
    # `schema` is the field's name everywhere connections exist (BaseModel.schema is deprecated)
    warnings.filterwarnings("ignore", message='Field name "schema"', category=UserWarning)

    class ConnectionCreate(Input):
        """A new connection: either `uri`, or `conn_type` and the separate fields."""

        # the document states the either-or rule too, so that it refuses what the validator refuses
        model_config = ConfigDict(json_schema_extra={"oneOf": [
            {"required": ["uri"], "not": {"anyOf": [{"required": [f]} for f in SEPARATE_FIELDS]}},
            {"required": ["conn_type"], "not": {"required": ["uri"]}},
        ]})

        conn_id: ConnId
        uri: Annotated[str, StringConstraints(max_length=10_000, pattern=r"^[A-Za-z][A-Za-z0-9+.\-]*://[^\x00]*$")] | SkipJsonSchema[None] = Field(
            default=None, description="type://login:password@host:port/schema?extra=value"
        )
        conn_type: ConnType | SkipJsonSchema[None] = None
        host: Field500 | None = None
        port: Port | None = None
        login: Field500 | None = None
        password: Secret | None = Field(default=None, description="write-only: never returned")
        schema: Field500 | None = None
        extra: Conf = Field(default_factory=dict)

        @model_validator(mode="after")
        def _uri_or_fields(self) -> ConnectionCreate:
            fields = self.model_fields_set & set(SEPARATE_FIELDS)
            if "uri" in self.model_fields_set and fields:
                raise ValueError(f"give either uri or separate fields, not both (got uri and {sorted(fields)[0]})")
            if self.uri is None and self.conn_type is None:
                raise ValueError("give uri (a string), or conn_type (a string) with the other fields")
            return self

    class ConnectionPatch(Input):
        """Fields to change; those left out keep their value (a null password removes it)."""

        conn_type: ConnType | SkipJsonSchema[None] = Field(default=None, description="cannot be removed: not null")
        host: Field500 | None = None
        port: Port | None = None
        login: Field500 | None = None
        password: Secret | None = Field(default=None, description="write-only: never returned")
        schema: Field500 | None = None
        extra: Conf | None = None

    class ConnectionOut(BaseModel):
        conn_id: str
        conn_type: str
        host: str | None
        port: int | None
        login: str | None
        schema: str | None
        has_password: bool
        extra: dict[str, Any] = Field(description="sensitive values (passwords, tokens, keys) read '***'")
        source: Literal["database", "env"] = Field(
            default="database", description="env: an ORCH_CONN_<ID> variable of the web server, read-only here"
        )
        read_only: bool = Field(default=False, description="true when the API cannot change or delete it")


class ConnectionTestResult(BaseModel):
    ok: bool
    message: str


class ConnectionDeleted(BaseModel):
    conn_id: str
    deleted: bool


def _out(conn: Connection, source: Literal["database", "env"] = "database") -> ConnectionOut:
    return ConnectionOut(
        conn_id=conn.conn_id, conn_type=conn.conn_type, host=conn.host, port=conn.port, login=conn.login,
        schema=conn.schema, has_password=conn.password is not None, extra=conn.masked()["extra"],
        source=source, read_only=source != "database",
    )


def listed_connections() -> list[ConnectionOut]:
    """The database's connections, then the ORCH_CONN_<ID> ones of this process (bad variables are left out)."""
    with web_state().read_sessions() as s:
        stored = [_out(c) for c in connection_store.list_all(s, _crypter())]
    return stored + [_out(c, "env") for c in env_connections()[0]]


def _now() -> datetime:
    return datetime.now(UTC)


def _crypter() -> Any:
    return connection_store.crypter(web_state().config)


@endpoint("GET", "/connections", summary="List connections", tag="connections", role=Role.VIEWER, query=PageQuery, response=Page[ConnectionOut])
def list_connections(query: PageQuery) -> Page[ConnectionOut]:
    """The database's connections by id, then those of ORCH_CONN_<ID> variables (read-only), without secrets.

    Secrets-backend connections are not listed: backends answer lookups by id only."""
    conns = listed_connections()
    return Page[ConnectionOut](items=conns[query.offset : query.offset + query.limit], total=len(conns))


@endpoint("GET", "/connections/{conn_id}", summary="Get a connection", tag="connections", role=Role.VIEWER, path_model=ConnPath, response=ConnectionOut)
def get_connection(path: ConnPath) -> ConnectionOut:
    """One connection, without secrets."""
    with web_state().read_sessions() as s:
        return _out(connection_store.get(s, path.conn_id, _crypter()))


@endpoint(
    "POST", "/connections", summary="Create a connection", tag="connections", role=Role.ADMIN,
    body=ConnectionCreate, body_required=True, response=ConnectionOut, status=201, conflicts=True,
)
def create_connection(body: ConnectionCreate) -> ConnectionOut:
    """Store a new connection; its password and extras are encrypted at rest. 409 if the id exists."""
    if body.uri is not None:
        try:
            conn = Connection.from_uri(body.conn_id, body.uri)
        except ValueError as exc:
            raise ApiError(422, "validation_error", str(exc), [{"loc": ["body", "uri"], "msg": str(exc), "type": "value_error"}]) from None
    else:
        conn = Connection.model_validate(body.model_dump(exclude={"uri"}))
    with web_state().sessions.begin() as s:
        connection_store.create(s, conn, _crypter(), _now())
        audit(s, "connection.create", f"connection:{conn.conn_id}", {"conn_type": conn.conn_type})
    return _out(conn)


@endpoint(
    "PATCH", "/connections/{conn_id}", summary="Update a connection", tag="connections", role=Role.ADMIN,
    path_model=ConnPath, body=ConnectionPatch, body_required=True, response=ConnectionOut,
)
def update_connection(path: ConnPath, body: ConnectionPatch) -> ConnectionOut:
    """Change the given fields; the others (the password too) stay as they are."""
    changes = {k: getattr(body, k) for k in body.model_fields_set}
    if changes.get("conn_type", "") is None:
        raise ApiError(422, "validation_error", "conn_type cannot be removed", [{"loc": ["body", "conn_type"], "msg": "may not be null", "type": "value_error"}])
    if "extra" in changes and changes["extra"] is None:
        changes["extra"] = {}
    f = _crypter()
    with web_state().sessions.begin() as s:
        current = connection_store.get(s, path.conn_id, f)
        conn = Connection.model_validate({**current.model_dump(), **changes})
        connection_store.replace(s, conn, f, _now())
        audit(s, "connection.update", f"connection:{conn.conn_id}", {"fields": sorted(changes)})
    return _out(conn)


@endpoint("DELETE", "/connections/{conn_id}", summary="Delete a connection", tag="connections", role=Role.ADMIN, path_model=ConnPath, response=ConnectionDeleted)
def delete_connection(path: ConnPath) -> ConnectionDeleted:
    """Remove the connection from the database."""
    with web_state().sessions.begin() as s:
        connection_store.delete(s, path.conn_id)
        audit(s, "connection.delete", f"connection:{path.conn_id}")
    return ConnectionDeleted(conn_id=path.conn_id, deleted=True)


@endpoint(
    "POST", "/connections/{conn_id}/test", summary="Test a connection", tag="connections", role=Role.OPERATOR,
    path_model=ConnPath, response=ConnectionTestResult,
)
def try_connection(path: ConnPath) -> ConnectionTestResult:
    """Try to reach the system through the connector type of the connection (e.g. SELECT 1, an HTTP GET)."""
    from orchestrator.plugins.manager import load_plugins

    with web_state().read_sessions() as s:
        conn = connection_store.get(s, path.conn_id, _crypter())
    ok, message = check_connection(conn, load_plugins(web_state().config).connector_types)
    with web_state().sessions.begin() as s:
        audit(s, "connection.test", f"connection:{path.conn_id}", {"ok": ok})
    return ConnectionTestResult(ok=ok, message=message)
