"""/variables: named JSON values for DAGs and templates, every change audited.

Viewers list and read them, with the values of sensitive keys (password, secret, token, api_key,
...) masked as '***'; operators create, replace and delete them. Variables set in the scheduler's
environment (ORCH_VAR_<KEY>) are not listed here: they are not in the database.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints

from orchestrator.core.variables import is_sensitive, shown
from orchestrator.store import variables as variable_store
from orchestrator.store.connections import crypter
from orchestrator.store.users import Role
from webui.api.endpoint import endpoint
from webui.api.schemas import Input, Page, PageQuery
from webui.auth import audit
from webui.state import web_state

VariableKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-]{1,250}$")]


class VariablePath(Input):
    key: VariableKey


class VariablePut(Input):
    value: Any = Field(description="any JSON value")
    description: Annotated[str, StringConstraints(max_length=2000, pattern=r"^[^\x00]*$")] | None = None


class VariableOut(BaseModel):
    key: str
    value: Any = Field(description="the JSON value; '***' for a sensitive key")
    description: str | None
    sensitive: bool
    updated_at: datetime


class VariableDeleted(BaseModel):
    key: str
    deleted: bool


def _out(v: variable_store.StoredVariable) -> VariableOut:
    return VariableOut(key=v.key, value=shown(v.key, v.value), description=v.description, sensitive=is_sensitive(v.key), updated_at=v.updated_at)


def _now() -> datetime:
    return datetime.now(UTC)


@endpoint("GET", "/variables", summary="List variables", tag="variables", role=Role.VIEWER, query=PageQuery, response=Page[VariableOut])
def list_variables(query: PageQuery) -> Page[VariableOut]:
    """The database's variables by key, sensitive values masked."""
    with web_state().read_sessions() as s:
        rows = [_out(v) for v in variable_store.list_all(s, crypter(web_state().config))]
    return Page[VariableOut](items=rows[query.offset : query.offset + query.limit], total=len(rows))


@endpoint("GET", "/variables/{key}", summary="Get a variable", tag="variables", role=Role.VIEWER, path_model=VariablePath, response=VariableOut)
def get_variable(path: VariablePath) -> VariableOut:
    """One variable (404 when unknown), its value masked if the key is sensitive."""
    with web_state().read_sessions() as s:
        return _out(variable_store.get(s, path.key, crypter(web_state().config)))


@endpoint(
    "PUT", "/variables/{key}", summary="Create or replace a variable", tag="variables", role=Role.OPERATOR,
    path_model=VariablePath, body=VariablePut, body_required=True, response=VariableOut,
)
def put_variable(path: VariablePath, body: VariablePut) -> VariableOut:
    """Store the value under the key (a missing description keeps the current one)."""
    f = crypter(web_state().config)
    with web_state().sessions.begin() as s:
        new = variable_store.put(s, path.key, body.value, f, _now(), body.description)
        audit(s, "variable.create" if new else "variable.update", f"variable:{path.key}", {"sensitive": is_sensitive(path.key)})
        s.flush()
        return _out(variable_store.get(s, path.key, f))


@endpoint("DELETE", "/variables/{key}", summary="Delete a variable", tag="variables", role=Role.OPERATOR, path_model=VariablePath, response=VariableDeleted)
def delete_variable(path: VariablePath) -> VariableDeleted:
    """Remove the variable (404 when unknown)."""
    with web_state().sessions.begin() as s:
        variable_store.delete(s, path.key)
        audit(s, "variable.delete", f"variable:{path.key}")
    return VariableDeleted(key=path.key, deleted=True)
